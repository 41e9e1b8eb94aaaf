"""An import's run state in S3, for ``--resume``: which parts of which data files are written.

The state lives under one prefix (by default ``<parent of the export folder>/_ddbpipe-state/
import-<table>-<hash>/``, outside the folder the import reads; ``--state-prefix`` names another):

* ``run.json`` -- which import it belongs to (:class:`Identity`: export folder, table, region,
  mode), the data files with their sizes, and the state's id. The driver writes it once the
  checks and the validation passed, before the first item is written.
* ``done/<id>/<file id>/<first>-<last>-<items>[-end].json`` -- one object per unit of work (a
  whole data file, or a range of its lines for large files) whose items DynamoDB acknowledged,
  written by the Spark task that wrote them (:meth:`Recorder.record`). The key says everything a
  resume needs, so one listing reads the whole state; the body repeats it for people.

A unit is recorded only after :meth:`~ddbpipe.importer.writer.BatchWriter.flush` returned, so a
recorded unit is written; an unrecorded one may be written in part (a resume writes it again:
BatchWriteItem puts are idempotent). A file is complete when its units cover line 1 to the unit
marked ``end``. Units of a new start go under a new id, so records of an earlier attempt (or of a
task that outlived it) are never taken for this one's.

Naming, parsing and the progress arithmetic are pure; the S3 calls take a client.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Optional

from ddbpipe import layout
from ddbpipe.errors import DdbpipeError, ResumeStateError
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from ddbpipe.importer.sources import DataFile
    from ddbpipe.throttle import Patience, RetryStats

#: The folder of run states, beside the export folders of a table (an export keeps its own
#: inside its run folder: ddbpipe/export/state.py).
STATE_DIR = layout.STATE_DIR
RUN = "run.json"
DONE = "done"
#: The write tasks' progress beacons (ddbpipe.progress), under the run's id.
PROGRESS = "progress"
KIND = "ddbpipe-import-state"
FORMAT = 1
#: A unit of a data file ends after this many items ...
UNIT_ITEMS = 100_000
#: ... or this many write units (64 MiB of items at 1 KB a unit), whichever comes first: what a
#: resume may write twice per task.
UNIT_WRITE_UNITS = 65_536

Range = tuple[int, int]  # first and last line, both included


@dataclass(frozen=True)
class Identity:
    """What a state belongs to: a resume must import the same folder into the same table."""

    folder: str
    table: str
    region: str
    mode: str

    def digest(self) -> str:
        text = json.dumps([self.folder, self.region, self.table, self.mode])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def describe(self) -> str:
        return (f"{self.folder}/ into {self.table} in {self.region} with --mode {self.mode}")


def default_location(folder: S3Uri, who: Identity) -> S3Uri:
    """``<parent of folder>/_ddbpipe-state/import-<table>-<hash>``: beside the export folder, in
    the table's folder for a ddbpipe export (``PREFIX/TABLE/``, which ddbpipe's IAM policies
    grant), never inside the folder the import lists."""
    parent = folder.key.rsplit("/", 1)[0] if "/" in folder.key else ""
    return S3Uri(folder.bucket, parent).join(STATE_DIR, f"import-{who.table}-{who.digest()}")


def file_id(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Unit:
    """Lines ``first``..``last`` of the data file ``url``, ``items`` of them items, written.
    ``end``: the file has nothing after ``last`` (a unit of an empty file has last = first-1)."""

    url: str
    first: int
    last: int
    items: int
    end: bool = False


_UNIT_NAME = re.compile(r"^(\d+)-(\d+)-(\d+)(-end)?\.json$")


def unit_key(location: S3Uri, run_id: str, unit: Unit) -> str:
    name = f"{unit.first:012d}-{unit.last:012d}-{unit.items}{'-end' if unit.end else ''}.json"
    return location.join(DONE, run_id, file_id(unit.url), name).key


def parse_unit_key(relative: str, urls: Mapping[str, str]) -> Optional[Unit]:
    """The unit of a key relative to ``done/<id>/``; None for a key that is not one, or of a file
    the state does not list (``urls``: file id -> url)."""
    parts = relative.split("/")
    if len(parts) != 2 or parts[0] not in urls:
        return None
    m = _UNIT_NAME.match(parts[1])
    if not m:
        return None
    return Unit(urls[parts[0]], int(m.group(1)), int(m.group(2)), int(m.group(3)),
                bool(m.group(4)))


@dataclass(frozen=True)
class RunState:
    """``run.json``: the import a state belongs to and the files it was started with."""

    id: str
    who: Identity
    files: tuple[tuple[str, int], ...]  # (url, size) of every data file
    created: str

    def to_json(self) -> bytes:
        doc = {"tool": "ddbpipe", "kind": KIND, "format": FORMAT, "id": self.id,
               "folder": self.who.folder, "table": self.who.table, "region": self.who.region,
               "mode": self.who.mode, "created": self.created,
               "files": [{"url": u, "size": s} for u, s in self.files]}
        return (json.dumps(doc, indent=1) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> RunState:
        try:
            doc = json.loads(data.decode("utf-8"))
            if doc.get("kind") != KIND or doc.get("format") != FORMAT:
                raise ValueError(f"not a format {FORMAT} {KIND}")
            who = Identity(str(doc["folder"]), str(doc["table"]), str(doc["region"]),
                           str(doc["mode"]))
            files = tuple((str(f["url"]), int(f["size"])) for f in doc["files"])
            return cls(str(doc["id"]), who, files, str(doc.get("created", "")))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as err:
            raise ResumeStateError(
                f"{where} is not an import state ddbpipe can read ({err}).",
                "Delete that state folder (or give another --state-prefix) and run the import "
                "without --resume.") from err


def new_run(who: Identity, files: Sequence[DataFile],
            now: Optional[datetime] = None) -> RunState:
    created = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return RunState(uuid.uuid4().hex, who, tuple((f.url, f.size) for f in files), created)


# --- what a state says is written (pure) -------------------------------------------------------

@dataclass(frozen=True)
class FileProgress:
    ranges: tuple[Range, ...]  # merged, ascending
    items: int
    complete: bool


def file_progress(units: Iterable[Unit]) -> FileProgress:
    """The written lines of one file. Units recorded twice (a task Spark ran again) count once."""
    unique = {(u.first, u.last): u for u in units}
    ordered = sorted(unique.values(), key=lambda u: (u.first, u.last))
    merged: list[list[int]] = []
    for u in ordered:
        if u.last < u.first:
            continue  # a unit without lines: marks the end of the file only
        if merged and u.first <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], u.last)
        else:
            merged.append([u.first, u.last])
    reach = merged[0][1] + 1 if merged and merged[0][0] == 1 else 1  # lines 1..reach-1 written
    complete = any(u.end and u.first <= reach and u.last + 1 >= reach for u in ordered)
    return FileProgress(tuple((a, b) for a, b in merged), sum(u.items for u in ordered), complete)


@dataclass(frozen=True)
class Written:
    """What a state says is written, per data file url (files without a unit are absent)."""

    files: Mapping[str, FileProgress] = field(default_factory=dict)

    @classmethod
    def of(cls, units: Iterable[Unit], urls: Iterable[str]) -> Written:
        wanted = set(urls)
        by_url: dict[str, list[Unit]] = {}
        for u in units:
            if u.url in wanted:
                by_url.setdefault(u.url, []).append(u)
        return cls({url: file_progress(us) for url, us in by_url.items()})

    def complete(self, url: str) -> bool:
        p = self.files.get(url)
        return p is not None and p.complete

    def ranges(self, url: str) -> tuple[Range, ...]:
        p = self.files.get(url)
        return p.ranges if p is not None else ()

    @property
    def complete_files(self) -> int:
        return sum(1 for p in self.files.values() if p.complete)

    @property
    def partial_files(self) -> int:
        return sum(1 for p in self.files.values() if not p.complete and p.ranges)

    @property
    def items(self) -> int:
        return sum(p.items for p in self.files.values())

    def describe(self, total_files: int) -> str:
        """``2 of 5 files written (and 1 in part; 250 items)``."""
        text = f"{self.complete_files} of {total_files} files written"
        part = f"and {self.partial_files} in part; " if self.partial_files else ""
        return f"{text} ({part}{self.items} items)"


def in_ranges(line: int, ranges: Sequence[Range]) -> bool:
    """Is ``line`` inside one of the ascending, disjoint ``ranges``?"""
    i = bisect.bisect_right(ranges, (line, sys.maxsize)) - 1
    return i >= 0 and ranges[i][0] <= line <= ranges[i][1]


def mismatch(found: RunState, who: Identity) -> list[str]:
    """How ``found`` differs from this run's identity, one phrase per difference."""
    out = []
    for name, theirs, ours in (("export folder", found.who.folder, who.folder),
                               ("table", found.who.table, who.table),
                               ("region", found.who.region, who.region),
                               ("mode", found.who.mode, who.mode)):
        if theirs != ours:
            out.append(f"{name} {theirs} (this run: {ours})")
    return out


def changed_files(found: RunState, files: Sequence[DataFile]) -> Optional[str]:
    """How the folder's data files differ from those the state was started with, if they do."""
    then = dict(found.files)
    now = {f.url: f.size for f in files}
    gone = sorted(set(then) - set(now))
    new = sorted(set(now) - set(then))
    resized = sorted(u for u in set(then) & set(now) if then[u] != now[u])
    if gone:
        return f"{len(gone)} file(s) it lists are no longer there (first: {gone[0]})"
    if new:
        return f"{len(new)} file(s) are new since (first: {new[0]})"
    if resized:
        return f"{len(resized)} file(s) changed size since (first: {resized[0]})"
    return None


# --- S3 -----------------------------------------------------------------------------------------

@contextmanager
def s3_errors(where: str, action: str) -> Iterator[None]:
    """Library failures of a state request as ddbpipe errors naming ``where``."""
    from ddbpipe import failures

    try:
        yield
    except DdbpipeError:
        raise
    except Exception as err:
        known = failures.explain(err, where, action)
        if known is None:
            raise
        raise known from err


def is_missing(err: BaseException) -> bool:
    from ddbpipe.aws import error_code

    return error_code(err) in ("NoSuchKey", "404", "NotFound")


def is_denied(err: BaseException) -> bool:
    from ddbpipe.aws import error_code

    return error_code(err) in ("AccessDenied", "403", "AccessDeniedException")


def load(s3: S3Client, location: S3Uri) -> Optional[RunState]:
    """The state at ``location``, or None when there is none. S3 errors propagate."""
    import botocore.exceptions

    key = location.join(RUN)
    try:
        body = s3.get_object(Bucket=key.bucket, Key=key.key)["Body"].read()
    except botocore.exceptions.ClientError as err:
        if is_missing(err):
            return None
        raise
    return RunState.from_json(bytes(body), str(key))


def _keys(s3: S3Client, prefix: S3Uri) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket,
                                                             Prefix=prefix.prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def load_units(s3: S3Client, location: S3Uri, run: RunState) -> list[Unit]:
    """Every unit recorded under ``run``'s id (one listing, no object read)."""
    done = location.join(DONE, run.id)
    urls = {file_id(u): u for u, _ in run.files}
    units = (parse_unit_key(k[len(done.prefix):], urls) for k in _keys(s3, done))
    return [u for u in units if u is not None]


def siblings(s3: S3Client, location: S3Uri, table: str) -> list[tuple[S3Uri, RunState]]:
    """Other states of imports into ``table`` in the folder of ``location`` (another export
    folder, region or mode than this run's)."""
    parent = S3Uri(location.bucket, location.key.rsplit("/", 1)[0] if "/" in location.key
                   else "")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=parent.bucket, Prefix=parent.join(f"import-{table}-").key, Delimiter="/")
    found = []
    for page in pages:
        for common in page.get("CommonPrefixes", []):
            other = S3Uri(parent.bucket, common["Prefix"].rstrip("/"))
            if other == location:
                continue
            run = load(s3, other)
            if run is not None and run.who.table == table:
                found.append((other, run))
    return found


def begin(s3: S3Client, location: S3Uri, run: RunState) -> None:
    """Start the state afresh: whatever was at ``location`` goes, then ``run.json``."""
    discard(s3, location)
    key = location.join(RUN)
    s3.put_object(Bucket=key.bucket, Key=key.key, Body=run.to_json(),
                  ContentType="application/json")


def discard(s3: S3Client, location: S3Uri) -> None:
    """Delete the state's objects: the records under ``done/``, then ``run.json``; nothing else
    a folder given as ``--state-prefix`` may hold."""
    from ddbpipe.errors import JobFailed, PermissionDenied

    keys = list(_keys(s3, location.join(DONE))) + list(_keys(s3, location.join(PROGRESS)))
    keys.append(location.join(RUN).key)  # deleting a missing key is no error
    for i in range(0, len(keys), 1000):
        resp = s3.delete_objects(Bucket=location.bucket, Delete={
            "Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
        failed = resp.get("Errors") or []  # DeleteObjects answers 200 and lists these
        if failed:
            key, code = failed[0].get("Key", "?"), failed[0].get("Code", "?")
            cls = PermissionDenied if code == "AccessDenied" else JobFailed
            raise cls(f"S3 DeleteObjects left {len(failed)} object(s) of {location}/ (first: "
                      f"s3://{location.bucket}/{key}: {code}).",
                      "Delete that folder by hand (`aws s3 rm --recursive`).")


# --- the driver: before Spark, and before the first write ---------------------------------------

@dataclass(frozen=True)
class Resume:
    """What the driver found before Spark started: where this run keeps its state (None: it
    keeps none), the earlier run it continues (only with ``--resume``), what that one wrote, and
    what to tell the user."""

    location: Optional[S3Uri]
    explicit: bool = False
    found: Optional[RunState] = None
    written: Written = field(default_factory=Written)
    notes: tuple[str, ...] = ()

    @property
    def resuming(self) -> bool:
        return self.found is not None


def look(s3: S3Client, who: Identity, files: Sequence[DataFile], location: S3Uri, *,
         explicit: bool, resume: bool) -> Resume:
    """Find the state of this import at ``location`` and decide, before anything is written:
    resume it (``resume``), note it and start over, or refuse one that belongs to another import.

    A default location that this run may not read (AccessDenied) means no state, with a note; an
    explicit one (``--state-prefix``) must work."""
    from ddbpipe.errors import PermissionDenied

    where = f"{location}/"
    try:
        with s3_errors(str(location.join(RUN)), "reading"):
            found = load(s3, location)
    except PermissionDenied as err:
        if explicit:
            raise
        return Resume(None, notes=(f"This import keeps no resume state: {err.what} Pass "
                                   "--state-prefix with a folder it may write to make it "
                                   "resumable.",))
    if found is not None:
        diff = mismatch(found, who)
        if diff:
            raise ResumeStateError(
                f"The state at {where} belongs to another import: {'; '.join(diff)}.",
                "Give this import another --state-prefix, or resume that one with its own "
                "options; nothing was written.")
        with s3_errors(where, "reading"):
            written = Written.of(load_units(s3, location, found), [f.url for f in files])
        if not resume:
            return Resume(location, explicit, notes=(
                f"A resumable state of an earlier import exists at {where}: "
                f"{written.describe(len(files))}; pass --resume to skip them. This run starts "
                "over (and replaces that state once its checks passed).",))
        changed = changed_files(found, files)
        if changed:
            raise ResumeStateError(
                f"Cannot resume from {where}: the export folder changed since that import "
                f"started ({changed}).",
                "Run the import without --resume: it starts over; nothing was written.")
        skip = "are skipped" + (" (their keys are still read for the delete phase)"
                                if who.mode == "replace" else "")
        return Resume(location, explicit, found, written, notes=(
            f"Resuming the import recorded in {where}: {written.describe(len(files))} "
            f"{skip}.",))
    if resume and not explicit:
        try:
            with s3_errors(where, "reading"):
                others = siblings(s3, location, who.table)
        except PermissionDenied:
            others = []
        if others:
            other, run = others[0]
            raise ResumeStateError(
                f"No state of this import at {where}, but the state at {other}/ is of an import "
                f"with another {'; '.join(mismatch(run, who))}.",
                "Resume that one with its own options (--from, --region, --mode), or run "
                "without --resume to start over; nothing was written.")
    notes = (f"--resume: no state of an earlier import at {where}; importing from the "
             "start.",) if resume else ()
    return Resume(location, explicit, notes=notes)


def start(s3: S3Client, resume: Resume, who: Identity, files: Sequence[DataFile],
          unit_items: int = UNIT_ITEMS) -> tuple[Optional[Recorder], Optional[str]]:
    """Right before the first write: continue the state found, or begin a new one. Returns the
    tasks' recorder (None: no state) and a note when the default location cannot be written."""
    from ddbpipe.errors import PermissionDenied

    if resume.location is None:
        return None, None
    run = resume.found
    if run is None:
        run = new_run(who, files)
        try:
            with s3_errors(f"{resume.location}/{RUN}", "writing"):
                begin(s3, resume.location, run)
        except PermissionDenied as err:
            if resume.explicit:
                raise
            return None, (f"This import keeps no resume state: {err.what} Pass --state-prefix "
                          "with a folder it may write to make it resumable.")
    written = {url: p.ranges for url, p in resume.written.files.items() if p.ranges}
    return Recorder(resume.location, run.id, written, unit_items), None


def finish(s3: S3Client, location: S3Uri) -> Optional[str]:
    """Delete the state of a finished import; a warning when that fails (the import itself
    succeeded: a state left behind only makes the next run say it exists)."""
    try:
        with s3_errors(f"{location}/", "deleting"):
            discard(s3, location)
    except DdbpipeError as err:
        return (f"The import is complete but its resume state at {location}/ could not be "
                f"deleted ({err.what}); delete it by hand.")
    return None


@dataclass(frozen=True)
class Recorder:
    """What a Spark task needs to skip written lines and to record the units it writes
    (picklable: it travels in the task's config)."""

    location: S3Uri
    run_id: str
    written: Mapping[str, tuple[Range, ...]]  # url -> lines an earlier run wrote
    unit_items: int = UNIT_ITEMS
    unit_write_units: int = UNIT_WRITE_UNITS

    def ranges(self, url: str) -> tuple[Range, ...]:
        return self.written.get(url, ())

    @property
    def progress(self) -> S3Uri:
        """Where this run's write tasks keep their progress beacons."""
        return self.location.join(PROGRESS, self.run_id)

    def full(self, items: int, write_units: int) -> bool:
        """Is a unit of ``items`` costing ``write_units`` as large as a unit gets?"""
        return items >= self.unit_items or write_units >= self.unit_write_units

    def record(self, s3: S3Client, unit: Unit, retry: RetryStats, patience: Patience) -> None:
        """Record ``unit`` as written (call only once its writes are acknowledged). The S3 client
        does not retry on its own: ``patience`` decides, as for every request of the task."""
        from ddbpipe.throttle import call_with_retries

        key = unit_key(self.location, self.run_id, unit)
        body = json.dumps({"url": unit.url, "first": unit.first, "last": unit.last,
                           "items": unit.items, "end": unit.end}).encode("utf-8")
        with s3_errors(f"s3://{self.location.bucket}/{key}", "writing"):
            call_with_retries(partial(s3.put_object, Bucket=self.location.bucket, Key=key,
                                      Body=body, ContentType="application/json"),
                              retry, patience)
        patience.progress()
