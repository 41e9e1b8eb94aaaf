"""Find and read the data of an export folder, whatever wrote it.

:func:`detect` looks at a folder once (one listing) and returns a :class:`Source`: its format, the
data files to read (only the manifest's when there is one) and the key schema when the folder
says it. Formats, told apart without a flag:

* ``ddbpipe`` / ``datapipeline`` -- a ``manifest`` (absolute URLs, version 3) and UUID-named files,
  plain or ``.gz``; lines in the Data Pipeline JSON (``nULL`` or ``nULLValue``) or Hive-era
  STX/ETX form; ``ddbpipe-export.json`` marks our own exports. A manifest whose URLs point at
  another bucket or prefix (the folder was copied) is resolved by file name inside this folder.
* ``native-json`` / ``native-ion`` -- DynamoDB's Export to S3: ``AWSDynamoDB/<id>/`` with
  ``manifest-summary.json``, ``manifest-files.json`` and ``data/*.gz``.
* ``files`` -- a folder of data files with no manifest: every data file in it.

:func:`read_items` streams one data file (gzip told by its magic bytes) as items, naming the file
and line of anything it cannot read.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from ddbpipe import formats as codec
from ddbpipe import layout
from ddbpipe.errors import ExportFormatError
from ddbpipe.s3uri import S3Uri

NATIVE_SUMMARY = "manifest-summary.json"
NATIVE_FILES = "manifest-files.json"
_NOT_DATA = {layout.MANIFEST, layout.SUCCESS, layout.SIDECAR, layout.IN_PROGRESS}


@dataclass(frozen=True)
class DataFile:
    url: str
    size: int
    items: Optional[int] = None  # when the folder's manifest says


@dataclass
class Source:
    folder: S3Uri
    format: str  # ddbpipe | datapipeline | files | native-json | native-ion
    files: list[DataFile]
    sidecar: Optional[dict[str, Any]] = None
    key_schema: Optional[list[dict[str, str]]] = None
    attribute_definitions: Optional[list[dict[str, str]]] = None
    source_region: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    @property
    def line_format(self) -> str:
        """How lines are read: ``datapipeline`` (JSON/Hive), ``native-json`` or ``native-ion``."""
        return self.format if self.format.startswith("native") else "datapipeline"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _list(s3: Any, folder: S3Uri) -> dict[str, int]:
    """key -> size of every object under ``folder``."""
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=folder.bucket,
                                                             Prefix=folder.prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = int(obj["Size"])
    return out


def _get(s3: Any, bucket: str, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


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


def detect(s3: Any, folder: S3Uri) -> Source:
    """Look at ``folder`` and say what it holds and which files to read."""
    import botocore.exceptions

    try:
        objects = _list(s3, folder)
    except botocore.exceptions.ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
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
            one = f"s3://{folder.bucket}/{native[0].rsplit('/', 1)[0]}"
            raise ExportFormatError(f"{folder}/ holds {len(native)} DynamoDB exports.",
                                    f"Point --from at one of them, e.g. {one}.")
        return _native(s3, folder, native[0], objects)
    if folder.join(layout.MANIFEST).key in objects:
        return _datapipeline(s3, folder, objects)
    data = [k for k in objects if _is_data_file(folder, k)]
    if not data:
        raise ExportFormatError(f"{folder}/ holds no export data files.",
                                "Give --from the run folder of an export.")
    files = [DataFile(f"s3://{folder.bucket}/{k}", objects[k]) for k in sorted(data)]
    return Source(folder, "files", files,
                  notes=[f"No manifest in {folder}/: reading all {len(files)} data files."])


def _is_data_file(folder: S3Uri, key: str) -> bool:
    rel = key[len(folder.prefix):]
    if "/" in rel or rel in _NOT_DATA or rel.startswith((".", "_")):
        return False
    return not rel.endswith((".json", ".crc", ".txt", ".md"))


def _datapipeline(s3: Any, folder: S3Uri, objects: dict[str, int]) -> Source:
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
        sidecar = json.loads(_get(s3, folder.bucket, sidecar_key))
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


def _native(s3: Any, folder: S3Uri, summary_key: str, objects: dict[str, int]) -> Source:
    base = S3Uri(folder.bucket, summary_key.rsplit("/", 1)[0] if "/" in summary_key else "")
    summary = json.loads(_get(s3, folder.bucket, summary_key))
    fmt = str(summary.get("outputFormat", "DYNAMODB_JSON")).upper()
    files_key = base.join(NATIVE_FILES).key
    if files_key not in objects:
        raise ExportFormatError(f"{base}/ has {NATIVE_SUMMARY} but no {NATIVE_FILES}.",
                                "Copy the whole AWSDynamoDB/<export id>/ folder.")
    entries = [json.loads(line) for line in _get(s3, folder.bucket, files_key).splitlines()
               if line.strip()]
    data = base.join("data")
    data_objects = {k: v for k, v in objects.items() if k.startswith(data.prefix)}
    urls = [f"s3://{summary.get('s3Bucket') or folder.bucket}/{e['dataFileS3Key']}"
            for e in entries]
    files, notes = _relocate(urls, data, data_objects, NATIVE_FILES)
    counts = {S3Uri.parse(u).name: e.get("itemCount") for u, e in zip(urls, entries)}
    files = [DataFile(f.url, f.size, counts.get(S3Uri.parse(f.url).name)) for f in files]
    region = None
    arn = str(summary.get("tableArn", ""))
    if arn.startswith("arn:"):
        region = arn.split(":")[3] or None
    kind = "native-ion" if fmt == "ION" else "native-json"
    return Source(base, kind, files, source_region=region, notes=notes)


# --- reading one file -------------------------------------------------------------------------

def iter_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines (without their newline) of a byte stream, gunzipped when it starts gzip's magic."""
    stream = iter(chunks)
    first = b""
    for first in stream:
        if first:
            break
    if not first:
        return
    gzipped = first[:2] == b"\x1f\x8b"

    def data() -> Iterator[bytes]:
        if not gzipped:
            yield first
            yield from stream
            return
        inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        for chunk in _chain(first, stream):
            while chunk:
                yield inflate.decompress(chunk)
                if not inflate.eof:
                    break
                # a multi-member gzip file: start the next member on the leftover bytes
                chunk = inflate.unused_data
                inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)
        yield inflate.flush()

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


def line_parser(line_format: str) -> Callable[[str], codec.Item]:
    if line_format == "native-json":
        return codec.native_line_to_item
    if line_format == "native-ion":
        return codec.ion_line_to_item
    return codec.line_to_item


def read_items(chunks: Iterator[bytes], url: str,
               line_format: str) -> Iterator[tuple[int, codec.Item]]:
    """``(line number, item)`` of one data file. Blank lines are skipped; a bad line raises an
    error naming ``url`` and the line number."""
    parse = line_parser(line_format)
    for number, raw in enumerate(iter_lines(chunks), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ExportFormatError(f"{url} line {number}: not UTF-8 ({err.reason}).",
                                    "The file is damaged; restore it from the original export."
                                    ) from err
        if not text.strip() or (line_format == "native-ion" and text.strip() == "$ion_1_0"):
            continue
        try:
            yield number, parse(text)
        except ExportFormatError as err:
            raise codec.with_context(err, f"{url} line {number}") from err


def s3_chunks(s3: Any, url: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    uri = S3Uri.parse(url)
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"]
    try:
        yield from body.iter_chunks(chunk_size)
    finally:
        body.close()
