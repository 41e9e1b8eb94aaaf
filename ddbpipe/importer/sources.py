"""Find and read the data of an export folder, whatever wrote it.

:func:`detect` looks at a folder once (one listing) and returns a :class:`Source`: its format, the
data files to read (only the manifest's when there is one) and the key schema when the folder
says it. Formats, told apart without a flag:

* ``ddbpipe`` / ``datapipeline`` -- a ``manifest`` (absolute URLs, version 3) and UUID-named files,
  plain or ``.gz``; lines in the Data Pipeline JSON (``nULL`` or ``nULLValue``) or Hive-era
  STX/ETX form; ``ddbpipe-export.json`` marks our own exports. A manifest whose URLs point at
  another bucket or prefix (the folder was copied) is resolved by file name inside this folder.
* ``native-json`` / ``native-ion`` -- DynamoDB's Export to S3: ``AWSDynamoDB/<id>/`` with
  ``manifest-summary.json``, ``manifest-files.json`` and ``data/*.gz``. An INCREMENTAL export
  (``exportType`` in the summary) keeps its data files in the ``AWSDynamoDB/data/`` folder its
  sibling exports share, and its lines are changes (:mod:`ddbpipe.formats.incremental`): the
  source then carries :class:`Incremental`.
* ``files`` -- a folder of data files with no manifest: every data file in it.

:func:`read_items` streams one data file (gzip told by its magic bytes) as items in DynamoDB's
wire form (what the writer sends as it is), naming the file and line of anything it cannot read.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal, Optional, TypeVar

from ddbpipe import formats, layout
from ddbpipe.aws import error_code
from ddbpipe.errors import ExportFormatError, IncompleteExport
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: What wrote a folder, as the report and the sidecar-less formats name it.
SourceFormat = Literal["ddbpipe", "datapipeline", "files", "native-json", "native-ion"]
#: How a data file's lines are read: Data Pipeline JSON/Hive (ddbpipe, datapipeline, files),
#: DynamoDB's native export in DYNAMODB_JSON or ION, or its incremental export's change records.
LineFormat = Literal["datapipeline", "native-json", "native-ion", "native-json-changes",
                     "native-ion-changes"]
CHANGE_FORMATS: tuple[LineFormat, ...] = ("native-json-changes", "native-ion-changes")
INCREMENTAL_EXPORT = "INCREMENTAL_EXPORT"

NATIVE_SUMMARY = "manifest-summary.json"
NATIVE_FILES = "manifest-files.json"
_NOT_DATA = {layout.MANIFEST, layout.SUCCESS, layout.SIDECAR, layout.IN_PROGRESS}


@dataclass(frozen=True)
class DataFile:
    url: str
    size: int
    items: Optional[int] = None  # when the folder's manifest says


@dataclass(frozen=True)
class Incremental:
    """What a native INCREMENTAL export's summary says of its window (times as it writes them)."""

    view: str  # NEW_IMAGE or NEW_AND_OLD_IMAGES (the summary's outputView)
    start: str  # exportFromTime, inclusive
    end: str  # exportToTime, exclusive

    def describe(self) -> str:
        return f"changes from {self.start} to {self.end} ({self.view})"


@dataclass
class Source:
    folder: S3Uri
    format: SourceFormat
    files: list[DataFile]
    sidecar: Optional[dict[str, Any]] = None
    key_schema: Optional[list[dict[str, str]]] = None
    attribute_definitions: Optional[list[dict[str, str]]] = None
    source_region: Optional[str] = None
    notes: list[str] = field(default_factory=list)
    #: Why the export is not finished, when it is imported anyway (--allow-incomplete).
    incomplete: Optional[str] = None
    #: A native INCREMENTAL export: its lines are puts and deletes, not items.
    incremental: Optional[Incremental] = None

    @property
    def line_format(self) -> LineFormat:
        """How lines are read: ``datapipeline`` (JSON/Hive), ``native-json`` or ``native-ion``,
        or, for an incremental export, ``native-json-changes`` or ``native-ion-changes``."""
        if self.incremental is not None:
            return "native-ion-changes" if self.format == "native-ion" else "native-json-changes"
        if self.format == "native-json" or self.format == "native-ion":
            return self.format
        return "datapipeline"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _list(s3: S3Client, folder: S3Uri) -> dict[str, int]:
    """key -> size of every object under ``folder``."""
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=folder.bucket,
                                                             Prefix=folder.prefix):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith("/"):  # folder markers (the S3 console makes them)
                out[obj["Key"]] = int(obj["Size"])
    return out


def _get(s3: S3Client, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _get_json(s3: S3Client, bucket: str, key: str) -> Any:
    """A JSON document of the folder; an unreadable one is named in the error."""
    try:
        return json.loads(_get(s3, bucket, key))
    except (ValueError, UnicodeDecodeError) as err:
        raise ExportFormatError(f"s3://{bucket}/{key} is not valid JSON ({err}).",
                                "Restore it from the original export; nothing was written."
                                ) from err


def _relocate(urls: list[str], folder: S3Uri, objects: dict[str, int],
              what: str) -> tuple[list[DataFile], list[str]]:
    """Map each listed URL to the object of the same name inside ``folder``."""
    files: list[DataFile] = []
    missing: list[str] = []
    moved = set()
    for url in urls:
        uri = S3Uri.parse(url, f"{what} entry")
        key = folder.join(uri.name).key
        if key not in objects:
            missing.append(uri.name)
            continue
        if (uri.bucket, uri.key) != (folder.bucket, key):
            moved.add(str(S3Uri(uri.bucket, uri.key.rsplit("/", 1)[0] if "/" in uri.key else "")))
        files.append(DataFile(f"s3://{folder.bucket}/{key}", objects[key]))
    if missing:
        raise ExportFormatError(
            f"The {what} of {folder}/ lists {len(missing)} file(s) that are not in the folder "
            f"(first: {missing[0]}).",
            "Copy the whole export folder (every file the manifest lists); nothing was written.",
        )
    notes = []
    if moved:
        notes.append(f"The {what} points at {sorted(moved)[0]}/; reading the same files from "
                     f"{folder}/ (the export was copied here).")
    return files, notes


def detect(s3: S3Client, folder: S3Uri, allow_incomplete: bool = False) -> Source:
    """Look at ``folder`` and say what it holds and which files to read.

    An export that did not finish is refused (:func:`_check_finished`) unless
    ``allow_incomplete``; then the source carries the reason in ``incomplete`` and its notes."""
    import botocore.exceptions

    try:
        objects = _list(s3, folder)
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        if code in ("NoSuchBucket", "404"):
            raise ExportFormatError(f"Bucket {folder.bucket!r} does not exist.",
                                    "Check --from.") from err
        raise
    if not objects:
        raise ExportFormatError(f"{folder}/ is empty or does not exist.",
                                "Give --from the run folder of an export (the one holding "
                                "manifest or AWSDynamoDB/).")
    native = sorted(k for k in objects if k.endswith("/" + NATIVE_SUMMARY) or k == NATIVE_SUMMARY)
    if native:
        if len(native) > 1:
            raise ExportFormatError(f"{folder}/ holds {len(native)} DynamoDB exports.",
                                    _in_order(s3, folder.bucket, native))
        source = _native(s3, folder, native[0], objects)
        _own_native(s3, folder, objects, source)
        return _finish_check(source, allow_incomplete)
    unfinished = _unfinished_native(folder, objects)
    if unfinished is not None:
        return _finish_check(unfinished, allow_incomplete)
    if folder.join(layout.MANIFEST).key in objects:
        source = _datapipeline(s3, folder, objects)
    else:
        data = [k for k in objects if _is_data_file(folder, k)]
        if not data:
            raise ExportFormatError(f"{folder}/ holds no export data files.",
                                    "Give --from the run folder of an export.")
        files = [DataFile(f"s3://{folder.bucket}/{k}", objects[k]) for k in sorted(data)]
        source = Source(folder, "files", files,
                        notes=[f"No manifest in {folder}/: reading all {len(files)} data files."])
    if folder.join(layout.IN_PROGRESS).key in objects:
        source.incomplete = _in_progress(folder)
    elif folder.join(layout.SUCCESS).key not in objects:
        if source.files and _is_hive(s3, source.files[0].url):
            source.notes.append(f"{folder}/ holds Hive output, which never carries a completion "
                                f"marker: importing its {len(source.files)} data files as found.")
        else:
            source.incomplete = (f"{folder}/ has no {layout.SUCCESS}: the export that wrote it "
                                 "did not finish, or the marker was removed")
    return _finish_check(source, allow_incomplete)


def _finish_check(source: Source, allow_incomplete: bool) -> Source:
    """Refuse an unfinished export, or say loudly that it is imported anyway."""
    if source.incomplete is None:
        return source
    if not allow_incomplete:
        raise IncompleteExport(
            f"{source.incomplete}.",
            "Re-run (or resume) the export, or pass --allow-incomplete to import the files that "
            "are there (the report says the import is incomplete). Nothing was written.")
    source.notes.append(f"WARNING: importing an unfinished export ({source.incomplete}); "
                        "items it never wrote are missing.")
    return source


def _unfinished_native(folder: S3Uri, objects: dict[str, int]) -> Optional[Source]:
    """A DynamoDB export that has data files but no manifest-summary.json yet."""
    marker = "AWSDynamoDB/"
    bases = sorted({k[:k.index("/data/", k.index(marker))] for k in objects
                    if marker in k and "/data/" in k[k.index(marker):]})
    if not bases:
        return None
    if len(bases) > 1:
        raise ExportFormatError(f"{folder}/ holds {len(bases)} DynamoDB exports.",
                                f"Point --from at one of them, e.g. s3://{folder.bucket}/{bases[0]}.")
    base = S3Uri(folder.bucket, bases[0])
    if base.key.endswith("AWSDynamoDB"):  # the data folder incremental exports share
        raise ExportFormatError(
            f"{folder}/ holds an incremental export's shared data folder ({base}/data/) but no "
            f"{NATIVE_SUMMARY}: the export has not finished, and without its "
            f"{NATIVE_FILES} its files cannot be told from other exports'.",
            "Wait for the export to finish (aws dynamodb describe-export), then import its "
            "AWSDynamoDB/<export id>/ folder; nothing was written.")
    data = base.join("data")
    keys = sorted(k for k in objects if k.startswith(data.prefix))
    files = [DataFile(f"s3://{folder.bucket}/{k}", objects[k]) for k in keys]
    kind: SourceFormat = "native-ion" if keys and keys[0].endswith(".ion.gz") else "native-json"
    return Source(base, kind, files, incomplete=(
        f"{base}/ has no {NATIVE_SUMMARY}: the DynamoDB export has not finished (or failed)"))


def _in_progress(folder: S3Uri) -> str:
    return (f"{folder}/ holds {layout.IN_PROGRESS}: the export that writes it is still running, "
            "or it was killed before it finished")


def _own_native(s3: S3Client, folder: S3Uri, objects: dict[str, int], source: Source) -> None:
    """A ddbpipe export in DynamoDB's layout (``--format dynamodb-json|ion``): its run folder
    holds the sidecar (the key schema, the table's definition) and, until it is committed, the
    in-progress marker."""
    sidecar_key = folder.join(layout.SIDECAR).key
    if sidecar_key in objects:
        sidecar = _get_json(s3, folder.bucket, sidecar_key)
        source.sidecar = sidecar
        source.key_schema = sidecar.get("keySchema")
        source.attribute_definitions = sidecar.get("attributeDefinitions")
        source.source_region = sidecar.get("region") or source.source_region
    if folder.join(layout.IN_PROGRESS).key in objects:
        source.incomplete = _in_progress(folder)


def _is_hive(s3: S3Client, url: str, peek: int = 64 * 1024) -> bool:
    """True when the file's first line is in the Hive-era form (STX/ETX, no braces)."""
    uri = S3Uri.parse(url)
    head = _read_range(s3, uri.bucket, uri.key, peek)
    if head[:2] == b"\x1f\x8b":
        head = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(head)
    first = next((line for line in head.split(b"\n") if line.strip()), b"")
    return not first.lstrip().startswith(b"{") and b"\x03" in first


def _read_range(s3: S3Client, bucket: str, key: str, size: int) -> bytes:
    body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{size - 1}")["Body"]
    return bytes(body.read())


def _is_data_file(folder: S3Uri, key: str) -> bool:
    rel = key[len(folder.prefix):]
    if "/" in rel or rel in _NOT_DATA or rel.startswith((".", "_")):
        return False
    return not rel.endswith((".json", ".crc", ".txt", ".md"))


def _datapipeline(s3: S3Client, folder: S3Uri, objects: dict[str, int]) -> Source:
    raw = _get(s3, folder.bucket, folder.join(layout.MANIFEST).key)
    try:
        urls = layout.parse_manifest(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ExportFormatError(f"{folder}/manifest is not a Data Pipeline manifest ({err}).",
                                "Restore the manifest from the original export.") from err
    files, notes = _relocate(urls, folder, objects, "manifest")
    source = Source(folder, "datapipeline", files, notes=notes)
    sidecar_key = folder.join(layout.SIDECAR).key
    if sidecar_key in objects:
        sidecar = _get_json(s3, folder.bucket, sidecar_key)
        source.format = "ddbpipe"
        source.sidecar = sidecar
        source.key_schema = sidecar.get("keySchema")
        source.attribute_definitions = sidecar.get("attributeDefinitions")
        source.source_region = sidecar.get("region")
        counts = {f["name"]: f.get("items") for f in sidecar.get("files", [])}
        source.files = [DataFile(f.url, f.size, counts.get(S3Uri.parse(f.url).name))
                        for f in files]
    listed = {S3Uri.parse(f.url).key for f in source.files}
    stray = [k for k in objects if _is_data_file(folder, k) and k not in listed]
    if stray:
        source.notes.append(f"Ignoring {len(stray)} file(s) the manifest does not list "
                            f"(first: {stray[0][len(folder.prefix):]}).")
    return source


def _in_order(s3: S3Client, bucket: str, summaries: list[str]) -> str:
    """How to import several native exports of one prefix: one at a time, the full export first,
    then the incremental ones by their window's start (the fix of the refusal)."""
    exports = []
    for key in summaries:
        summary = _get_json(s3, bucket, key)
        folder = f"s3://{bucket}/{key.rsplit('/', 1)[0]}"
        if summary.get("exportType") == INCREMENTAL_EXPORT:
            when = str(summary.get("exportFromTime") or "")
            exports.append((1, when, f"{folder} (incremental from {when})"))
        else:
            when = str(summary.get("exportTime") or "")
            exports.append((0, when, f"{folder} (full, at {when})"))
    exports.sort()
    return ("Point --from at one of them; to roll a table forward, import them one at a time in "
            "this order: " + ", ".join(text for _kind, _when, text in exports) + ".")


def _native(s3: S3Client, folder: S3Uri, summary_key: str, objects: dict[str, int]) -> Source:
    base = S3Uri(folder.bucket, summary_key.rsplit("/", 1)[0] if "/" in summary_key else "")
    summary = _get_json(s3, folder.bucket, summary_key)
    incremental = None
    if summary.get("exportType") == INCREMENTAL_EXPORT:
        incremental = Incremental(str(summary.get("outputView") or "NEW_AND_OLD_IMAGES"),
                                  str(summary.get("exportFromTime") or "?"),
                                  str(summary.get("exportToTime") or "?"))
    fmt = str(summary.get("outputFormat", "DYNAMODB_JSON")).upper()
    files_key = base.join(NATIVE_FILES).key
    if files_key not in objects:
        raise ExportFormatError(f"{base}/ has {NATIVE_SUMMARY} but no {NATIVE_FILES}.",
                                "Copy the whole AWSDynamoDB/<export id>/ folder.")
    try:
        entries = [json.loads(line) for line in _get(s3, folder.bucket, files_key).splitlines()
                   if line.strip()]
        keys = [str(e["dataFileS3Key"]) for e in entries]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as err:
        raise ExportFormatError(f"{base.join(NATIVE_FILES)} is not a DynamoDB export's file list "
                                f"({err!r}).", "Copy it again from the original export; nothing "
                                "was written.") from err
    data = base.join("data")
    if incremental is not None and "/" in base.key:
        # incremental exports share AWSDynamoDB/data/, beside their AWSDynamoDB/<id>/ folders
        data = S3Uri(base.bucket, base.key.rsplit("/", 1)[0]).join("data")
    if data.prefix.startswith(folder.prefix):
        data_objects = {k: v for k, v in objects.items() if k.startswith(data.prefix)}
    else:  # --from is the export's own folder: the shared data folder is outside it
        data_objects = _list(s3, data)
    urls = [f"s3://{summary.get('s3Bucket') or folder.bucket}/{key}" for key in keys]
    files, notes = _relocate(urls, data, data_objects, NATIVE_FILES)
    counts = {S3Uri.parse(u).name: e.get("itemCount") for u, e in zip(urls, entries)}
    listed = sum(int(c or 0) for c in counts.values())
    if summary.get("itemCount") is not None and int(summary["itemCount"]) != listed:
        raise ExportFormatError(
            f"{base.join(NATIVE_SUMMARY)} counts {summary['itemCount']} items but "
            f"{NATIVE_FILES} lists files holding {listed}.",
            "Copy the whole AWSDynamoDB/<export id>/ folder again; nothing was written.")
    files = [DataFile(f.url, f.size, counts.get(S3Uri.parse(f.url).name)) for f in files]
    region = None
    arn = str(summary.get("tableArn", ""))
    if arn.startswith("arn:"):
        region = arn.split(":")[3] or None
    kind: SourceFormat = "native-ion" if fmt == "ION" else "native-json"
    return Source(base, kind, files, source_region=region, notes=notes, incremental=incremental)


# --- reading one file -------------------------------------------------------------------------

def iter_lines(chunks: Iterator[bytes], url: str = "the file") -> Iterator[bytes]:
    """Lines (without their newline) of a byte stream, gunzipped when it starts gzip's magic.

    A gzip stream must reach its end-of-stream marker, and zlib checks every member's CRC and
    length trailer: a file cut short (even exactly at a line boundary) is an error, not fewer
    lines."""
    stream = iter(chunks)
    first = b""
    for first in stream:
        if first:
            break
    if not first:
        return
    gzipped = first[:2] == b"\x1f\x8b"

    def inflated() -> Iterator[bytes]:
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        fed = False  # has the current member had any bytes?
        for chunk in _chain(first, stream):
            while chunk:
                fed = True
                yield inflate.decompress(chunk)
                if not inflate.eof:
                    break
                # a multi-member gzip file: start the next member on the leftover bytes
                chunk = inflate.unused_data
                inflate, fed = zlib.decompressobj(zlib.MAX_WBITS | 32), False
        if fed and not inflate.eof:
            raise ExportFormatError(
                f"{url} is truncated: its gzip stream ends before the end-of-stream marker.",
                "The file was cut short (an interrupted copy or upload); restore it from the "
                "original export.")
        yield inflate.flush()

    def data() -> Iterator[bytes]:
        if not gzipped:
            yield first
            yield from stream
            return
        try:
            yield from inflated()
        except zlib.error as err:
            raise ExportFormatError(f"{url} is not a valid gzip file ({err}).",
                                    "The file is damaged; restore it from the original export."
                                    ) from err

    rest = b""
    for block in data():
        if not block:
            continue
        rest += block
        lines = rest.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


#: Per line format, its reader into DynamoDB's wire form (binary stays the line's base64 text,
#: what the import sends) and into items with binary as ``bytes`` (what the writers of other
#: formats take: ``ddbpipe convert``): one parse per line, the same checks either way.
_READERS: dict[str, tuple[Callable[[str], formats.Item], Callable[[str], formats.Item]]] = {
    "native-json": (formats.native_line_to_wire, formats.native_line_to_item),
    "native-ion": (formats.ion_line_to_wire, formats.ion_line_to_item),
}
_DATA_PIPELINE_READERS = (formats.line_to_wire, formats.line_to_item)


def line_parser(line_format: LineFormat, wire: bool = True) -> Callable[[str], formats.Item]:
    """The reader of one line of ``line_format``: into a wire item, or (``wire=False``) an item
    with binary as ``bytes``."""
    if line_format in CHANGE_FORMATS:
        raise ValueError(f"{line_format} lines are changes: read them with read_changes")
    to_wire, to_item = _READERS.get(line_format, _DATA_PIPELINE_READERS)
    return to_wire if wire else to_item


def read_items(chunks: Iterator[bytes], url: str, line_format: LineFormat,
               wire: bool = True) -> Iterator[tuple[int, formats.Item]]:
    """``(line number, item)`` of one data file, each line parsed once: in the wire form the
    import sends, or with binary as ``bytes`` (``wire=False``; :func:`line_parser`). Blank lines
    are skipped; a bad line raises an error naming ``url`` and the line number."""
    return ((n, item) for n, item, _ in _read(line_parser(line_format, wire), chunks, url,
                                              line_format))


#: The line formats whose lines are at least as long in bytes as their items' DynamoDB size
#: (:func:`~ddbpipe.formats.item_size`): every value is a typed JSON object (``{"s":...}``, 6
#: bytes or more around it), which outweighs the 1 byte DynamoDB adds per list or map element;
#: strings and names are their UTF-8 or longer escapes, numbers their digits in quotes (DynamoDB
#: counts about half), binary its base64 (4/3 of the bytes). So a line of at most 1,024 bytes
#: is an item of one write unit, without computing its size. (Not ION: ``[]`` is 2 bytes where
#: DynamoDB counts 3.)
SIZE_BOUNDED_BY_LINE: frozenset[LineFormat] = frozenset(
    {"datapipeline", "native-json", "native-json-changes"})


def _wire_change(change: formats.Change) -> formats.Change:
    """A change of an incremental export in the wire form the import sends."""
    if isinstance(change, formats.Deletion):
        return formats.Deletion(formats.item_to_wire(change.key))
    return formats.item_to_wire(change)


def read_changes(chunks: Iterator[bytes], url: str,
                 line_format: LineFormat) -> Iterator[tuple[int, formats.Change]]:
    """``(line number, change)`` of one data file: a wire item to put or, in an incremental
    export, a :class:`~ddbpipe.formats.Deletion` of a wire key; otherwise as
    :func:`read_items`."""
    return ((n, change) for n, change, _ in read_sized_changes(chunks, url, line_format))


def read_sized_changes(chunks: Iterator[bytes], url: str, line_format: LineFormat
                       ) -> Iterator[tuple[int, formats.Change, int]]:
    """:func:`read_changes` with each line's length in bytes (see :data:`SIZE_BOUNDED_BY_LINE`)."""
    if line_format == "native-json-changes":
        return _read(lambda text: _wire_change(formats.json_change(text)), chunks, url,
                     line_format)
    if line_format == "native-ion-changes":
        return _read(lambda text: _wire_change(formats.ion_change(text)), chunks, url,
                     line_format)
    return _read(line_parser(line_format), chunks, url, line_format)


_T = TypeVar("_T")


def _read(parse: Callable[[str], _T], chunks: Iterator[bytes], url: str,
          line_format: LineFormat) -> Iterator[tuple[int, _T, int]]:
    """``(line number, parsed line, the line's length in bytes)``."""
    ion = line_format in ("native-ion", "native-ion-changes")
    for number, raw in enumerate(iter_lines(chunks, url), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ExportFormatError(f"{url} line {number}: not UTF-8 ({err.reason}).",
                                    "The file is damaged; restore it from the original export."
                                    ) from err
        if not text.strip() or (ion and text.strip() == "$ion_1_0"):
            continue
        try:
            yield number, parse(text), len(raw)
        except ExportFormatError as err:
            raise formats.with_context(err, f"{url} line {number}") from err


def s3_chunks(s3: S3Client, url: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    uri = S3Uri.parse(url)
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()
