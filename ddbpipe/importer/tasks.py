"""The import's Spark tasks, run in Python executors (module-level functions: pickled by
reference). Each creates its own clients; failures it understands leave as a
:class:`~ddbpipe.failures.TaskFailure` naming the file or table.

* :func:`validate` -- parse every line of a group of files, check each key (before any write);
* :func:`write` -- write a group of files with a :class:`~ddbpipe.importer.writer.BatchWriter`;
  with ``--mode replace`` it also yields the key of every item it read. With a run state it
  skips the lines an earlier run wrote and records each unit it wrote
  (:mod:`ddbpipe.importer.state`);
* :func:`read_keys` -- ``--mode replace`` on resume: the keys of the files an earlier run wrote
  whole (nothing is written);
* :func:`scan_keys`, :func:`delete` -- ``--mode replace``: the table's keys, and deleting those
  the export lacks.

Tasks yield dataclasses (they pickle): :class:`FileCheck`, :class:`GroupWritten`,
:class:`~ddbpipe.importer.writer.WriteStats`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterator, Optional, cast

from ddbpipe import failures, formats
from ddbpipe.aws import AwsConfig, client, credentials
from ddbpipe.errors import DdbpipeError, ExportFormatError
from ddbpipe.importer.sources import (
    CHANGE_FORMATS,
    SIZE_BOUNDED_BY_LINE,
    DataFile,
    LineFormat,
    read_changes,
    read_items,
    read_sized_changes,
    s3_chunks,
)
from ddbpipe.importer.state import Recorder, Unit, in_ranges
from ddbpipe.importer.writer import BatchWriter, WriteStats
from ddbpipe.progress import Beacon, Tally
from ddbpipe.throttle import (
    MAX_RETRY_SECONDS,
    UNREACHABLE_SECONDS,
    Patience,
    RetryStats,
    TokenBucket,
    no_retry_config,
)


@dataclass(frozen=True)
class TaskConfig:
    aws: AwsConfig
    table: str
    line_format: LineFormat
    key_schema: tuple[dict[str, str], ...]
    attribute_definitions: tuple[dict[str, str], ...]
    rate: float  # units per second: the whole job's for writes, this task's for scans
    threads: int = 4
    max_retry_time: float = MAX_RETRY_SECONDS
    check_keys: bool = False  # in the write pass (when the validation pass was skipped)
    keep_keys: bool = False  # the write pass also yields the keys it wrote (--mode replace)
    unreachable_after: float = UNREACHABLE_SECONDS
    recorder: Optional[Recorder] = None  # the run state: what to skip, where to record units

    def patience(self) -> Patience:
        where = self.aws.endpoint("dynamodb") or self.aws.region
        return Patience(f"DynamoDB table {self.table} ({where})", self.max_retry_time,
                        self.unreachable_after)


@dataclass(frozen=True)
class FileCheck:
    """The validation of one data file: its items, and its first error as a failures token."""

    url: str
    items: int
    error: Optional[str] = None


@dataclass(frozen=True)
class GroupWritten:
    """One group of files written by one task (``read``: the items it handed to DynamoDB, not
    those it skipped as written by an earlier run)."""

    read: int
    files: int
    seconds: float
    stats: WriteStats


def is_group_written(record: Any) -> bool:
    """Tells the write pass's results from the keys it yields with ``keep_keys``."""
    return isinstance(record, GroupWritten)


def is_key(record: Any) -> bool:
    return not isinstance(record, GroupWritten)


def _check_count(f: DataFile, items: int) -> Optional[str]:
    if f.items is not None and f.items != items:
        return (f"{f.url} holds {items} items but the export's manifest says {f.items} (the "
                "file is damaged or not the one the export wrote)")
    return None


def _change_checker(task: TaskConfig) -> Callable[[formats.Change], Optional[str]]:
    """The key check of an item, or of a deletion's key (which must hold nothing else: a
    DeleteRequest with other attributes is refused by DynamoDB)."""
    check = formats.make_key_checker(task.key_schema, task.attribute_definitions)
    if task.line_format not in CHANGE_FORMATS:  # items only: no wrapper on the hot path
        return cast(Callable[[formats.Change], Optional[str]], check)
    names = {k["AttributeName"] for k in task.key_schema}

    def check_change(change: formats.Change) -> Optional[str]:
        if isinstance(change, formats.Deletion):
            extra = sorted(set(change.key) - names)
            if extra:
                return f"the deleted item's Keys hold {extra}, which are not the table's keys"
            return check(change.key)
        return check(change)

    return check_change


def validate(task: TaskConfig, groups: Iterator[list[DataFile]]) -> Iterator[FileCheck]:
    s3 = client(task.aws, "s3")
    check = _change_checker(task)
    for group in groups:
        for f in group:
            items = 0
            error: Optional[DdbpipeError] = None
            try:
                with failures.about(f.url):
                    for number, item in read_changes(s3_chunks(s3, f.url), f.url,
                                                     task.line_format):
                        items += 1
                        problem = check(item)
                        if problem:
                            error = ExportFormatError(f"{f.url} line {number}: {problem}.",
                                                      "Fix the export or import into a table "
                                                      "with the export's key schema.")
                            break
            except failures.TaskFailure as failure:
                error = failure.error
            wrong = _check_count(f, items) if error is None else None
            if wrong:
                error = ExportFormatError(f"{wrong}.", "Restore the file from the original export.")
            yield FileCheck(f.url, items, failures.encode(error) if error else None)



def write(task: TaskConfig,
          work: Iterator[tuple[float, list[DataFile]]]) -> Iterator[Any]:
    """Write each ``(rate, files)`` group; yields one :class:`GroupWritten` per group and, with
    ``task.keep_keys``, the key of every item of the files (what ``--mode replace`` keeps)."""
    s3 = client(task.aws, "s3")
    ddb = client(task.aws, "dynamodb", **no_retry_config())
    signing = credentials(task.aws)  # the writer signs and sends its bodies itself
    keys = [k["AttributeName"] for k in task.key_schema]
    check = _change_checker(task)
    patience = task.patience()
    one_unit = task.line_format in SIZE_BOUNDED_BY_LINE
    units = _Units(task) if task.recorder is not None else None
    beacon = Beacon(s3, task.recorder.progress) if task.recorder is not None else None
    moved_items = moved_bytes = moved_units = 0  # this task's, for its progress beacon
    started = time.monotonic()
    for rate, group in work:
        read = files = 0
        with failures.about(f"table {task.table}"):
            writer = BatchWriter(ddb, task.table, TokenBucket(rate), keys, patience, task.threads,
                                 signing)
            try:
                for f in group:
                    count = 0  # the file's items, those an earlier run wrote included
                    done = units.skip(f.url) if units else ()
                    first = 1  # the unit being written: its first line, items, write units
                    items = cost = last = 0
                    with failures.about(f.url):
                        for number, item, size in read_sized_changes(
                                s3_chunks(s3, f.url), f.url, task.line_format):
                            count += 1
                            last = number
                            if done and in_ranges(number, done):  # written by an earlier run
                                if units and items:
                                    units.record(writer, Unit(f.url, first, number - 1, items))
                                first, items, cost = number + 1, 0, 0
                                if task.keep_keys and not isinstance(item, formats.Deletion):
                                    yield formats.key_of(item, keys)
                                continue
                            if units and units.full(items, cost):
                                units.record(writer, Unit(f.url, first, number - 1, items))
                                first, items, cost = number, 0, 0
                            problem = check(item) if task.check_keys else None
                            if problem:
                                raise ExportFormatError(
                                    f"{f.url} line {number}: {problem}.",
                                    "Items before it were written; fix the export or import "
                                    "into a table with its key schema.")
                            if isinstance(item, formats.Deletion):  # an incremental export's
                                put = writer.delete(item.key)
                            else:  # a short line is an item of one write unit
                                put = writer.put(item, 1 if one_unit and size <= 1024 else None)
                            cost += put
                            items += 1
                            read += 1
                            moved_items += 1
                            moved_units += put
                            if beacon is not None and beacon.due():
                                beacon.update(Tally(moved_items, moved_bytes, moved_units))
                            if task.keep_keys and not isinstance(item, formats.Deletion):
                                yield formats.key_of(item, keys)
                        wrong = _check_count(f, count)
                        if wrong:
                            raise ExportFormatError(f"{wrong}.", "Its items were written; "
                                                    "restore the file and re-run the import.")
                        if units:  # the file's last unit (of no lines when it ends skipped)
                            units.record(writer, Unit(f.url, first, max(first - 1, last),
                                                      items, end=True))
                    files += 1
                    moved_bytes += f.size
            finally:
                stats = writer.close()
                if beacon is not None:
                    beacon.update(Tally(moved_items, moved_bytes, moved_units), force=True)
        yield GroupWritten(read, files, time.monotonic() - started, stats)


class _Units:
    """A write task's side of the run state: which lines to skip, and recording a unit once the
    writer has flushed it (its own S3 client and patience: S3 is not DynamoDB)."""

    def __init__(self, task: TaskConfig) -> None:
        assert task.recorder is not None
        self.recorder = task.recorder
        self.s3 = client(task.aws, "s3", **no_retry_config())
        self.patience = Patience(f"S3 ({task.aws.endpoint('s3') or task.aws.region})",
                                 task.max_retry_time, task.unreachable_after)
        self.retry = RetryStats()

    def skip(self, url: str) -> tuple[tuple[int, int], ...]:
        return self.recorder.ranges(url)

    def full(self, items: int, write_units: int) -> bool:
        return self.recorder.full(items, write_units)

    def record(self, writer: BatchWriter, unit: Unit) -> None:
        writer.flush()  # every item of the unit acknowledged by DynamoDB, or the task fails
        self.recorder.record(self.s3, unit, self.retry, self.patience)


def read_keys(task: TaskConfig, groups: Iterator[list[DataFile]]) -> Iterator[Any]:
    """The key of every item of ``groups``' files: ``--mode replace`` resuming, for the files an
    earlier run wrote whole (read again for the delete phase, written no more)."""
    s3 = client(task.aws, "s3")
    names = [k["AttributeName"] for k in task.key_schema]
    for group in groups:
        for f in group:
            count = 0
            with failures.about(f.url):
                for _number, item in read_items(s3_chunks(s3, f.url), f.url, task.line_format):
                    count += 1
                    yield formats.key_of(item, names)
                wrong = _check_count(f, count)
                if wrong:
                    raise ExportFormatError(f"{wrong}.", "Restore the file from the original "
                                            "export and re-run the import with --resume.")


def scan_keys(task: TaskConfig, total_segments: int,
               segments: Iterator[int]) -> Iterator[Any]:
    from ddbpipe.throttle import RetryStats, call_with_retries

    ddb = client(task.aws, "dynamodb", **no_retry_config())
    names = [k["AttributeName"] for k in task.key_schema]
    bucket = TokenBucket(task.rate)
    retry = RetryStats()
    patience = task.patience()
    aliases = {f"#k{i}": n for i, n in enumerate(names)}
    for segment in segments:
        kwargs: dict[str, Any] = {
            "TableName": task.table, "Segment": segment, "TotalSegments": total_segments,
            "ProjectionExpression": ", ".join(aliases), "ExpressionAttributeNames": aliases,
            "ReturnConsumedCapacity": "TOTAL", "Limit": 1000,
        }
        while True:
            bucket.take(1)
            with failures.about(f"table {task.table}"):
                page = call_with_retries(partial(ddb.scan, **kwargs), retry, patience)
            patience.progress()
            bucket.settle(1 - float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 1)))
            for item in page.get("Items", []):
                yield formats.key_of(cast(formats.Item, item), names)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete(task: TaskConfig, keys: Iterator[Any]) -> Iterator[WriteStats]:
    ddb = client(task.aws, "dynamodb", **no_retry_config())
    names = [k["AttributeName"] for k in task.key_schema]
    with failures.about(f"table {task.table}"):
        writer = BatchWriter(ddb, task.table, TokenBucket(task.rate), names, task.patience(),
                             task.threads, credentials(task.aws))
        try:
            for key in keys:
                writer.delete(formats.item_to_wire({n: {t: v} for n, (t, v) in zip(names, key)}))
        finally:
            stats = writer.close()
    yield stats

