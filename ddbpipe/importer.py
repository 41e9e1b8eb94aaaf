"""Import an export folder from S3 into an existing DynamoDB table, losslessly and throttled.

``run(spark, cfg)``:

1. Looks at the folder (:func:`ddbpipe.sources.detect`): Data Pipeline, ddbpipe, DynamoDB native
   JSON or ION, with or without manifest; resolves a copied manifest inside the folder.
2. Checks before the first write: the target table exists (or ``--create-table`` makes it from the
   sidecar), its key schema equals the export's, and, unless ``--skip-validation``, a Spark pass
   parses every line and checks every item's key against the table (errors name file and line).
3. Writes from Spark tasks with BatchWriteItem: the write budget (capacity x percent) is split
   over the tasks that run at once, so it holds for the whole job; throttles and unprocessed items
   are retried per request with backoff and jitter.
4. ``--mode replace`` then deletes the items the export does not hold (a reset to a baseline).

Items with the key of an existing item replace it; other items stay (the old service's rule).
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Iterable, Iterator, Optional, Sequence

from ddbpipe import capacity, checks, failures, formats, interrupts
from ddbpipe.aws import AwsConfig, check_reachable, client
from ddbpipe.errors import (
    ConfigError,
    DdbpipeError,
    ExportFormatError,
    Interrupted,
    JobFailed,
    KeySchemaMismatch,
    TableNotFound,
    with_fix,
)
from ddbpipe.job import Job, submit_main
from ddbpipe.s3uri import S3Uri
from ddbpipe.sources import DataFile, Source, detect, read_items, s3_chunks
from ddbpipe.spark import collect
from ddbpipe.tables import TableInfo, describe
from ddbpipe.throttle import MAX_RETRY_SECONDS, Patience, TokenBucket, no_retry_config
from ddbpipe.writer import BatchWriter

log = logging.getLogger(__name__)
MODES = ("merge", "replace")


@dataclass(frozen=True)
class ImportConfig:
    source: S3Uri
    table: str
    aws: AwsConfig
    write_percent: float = 0.5
    write_capacity: Optional[int] = None
    mode: str = "merge"
    yes: bool = False
    create_table: bool = False
    skip_validation: bool = False
    allow_incomplete: bool = False
    max_retry_time: float = MAX_RETRY_SECONDS
    threads_per_task: int = 4

    def __post_init__(self) -> None:
        checks.check_table_name(self.table)
        checks.check_seconds(self.max_retry_time, "--max-retry-time")
        checks.check_percent(self.write_percent, "--write-percent")
        checks.check_capacity(self.write_capacity, "--write-capacity")
        if self.mode not in MODES:
            raise ConfigError(f"--mode {self.mode!r} is not one of {', '.join(MODES)}.",
                              "merge adds and replaces items; replace also deletes the rest.")
        if self.mode == "replace" and not self.yes:
            raise ConfigError(
                f"--mode replace deletes every item of {self.table!r} that the export lacks.",
                "Pass --yes to confirm, or use --mode merge (the default) to only add/replace.")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", required=True, metavar="S3_URI",
                        help="the export's run folder (Data Pipeline, ddbpipe or DynamoDB native "
                             "export; detected)")
    parser.add_argument("--table", required=True, help="target table (must exist unless "
                                                       "--create-table)")
    parser.add_argument("--write-percent", type=float, default=0.5,
                        help="fraction of the table's write capacity to use, 0.1..1.5 "
                             "(default 0.5)")
    parser.add_argument("--write-capacity", type=int, metavar="WCU",
                        help="write capacity to plan with (on-demand tables: default "
                             f"{capacity.ON_DEMAND_DEFAULT_WCU})")
    parser.add_argument("--mode", choices=MODES, default="merge",
                        help="merge (default): add and replace items; replace: also delete "
                             "items the export lacks (needs --yes)")
    parser.add_argument("--yes", action="store_true", help="confirm --mode replace")
    parser.add_argument("--create-table", action="store_true",
                        help="create the table from the export's sidecar when it is absent")
    parser.add_argument("--skip-validation", action="store_true",
                        help="skip the pass that parses every line before writing (faster; a bad "
                             "line then fails the import part-way)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="import an export that never finished (no _SUCCESS): the files that "
                             "are there, with a warning in the report")
    parser.add_argument("--max-retry-time", type=float, default=MAX_RETRY_SECONDS,
                        metavar="SECONDS",
                        help="how long to keep retrying throttled or failing writes while none "
                             f"succeeds (default {MAX_RETRY_SECONDS:.0f})")


def config_from_args(args: argparse.Namespace, aws: AwsConfig) -> ImportConfig:
    return ImportConfig(
        source=S3Uri.parse(args.source, "--from"), table=args.table, aws=aws,
        write_percent=args.write_percent, write_capacity=args.write_capacity, mode=args.mode,
        yes=args.yes, create_table=args.create_table, skip_validation=args.skip_validation,
        allow_incomplete=args.allow_incomplete, max_retry_time=args.max_retry_time,
    )


# --- planning (pure) ------------------------------------------------------------------------

@dataclass(frozen=True)
class WritePlan:
    capacity: int
    capacity_source: str
    percent: float
    tasks: int
    warnings: tuple[str, ...] = ()

    @property
    def budget(self) -> float:
        """Write units per second for the whole job."""
        return max(1.0, self.capacity * self.percent)

    @property
    def per_task(self) -> float:
        return self.budget / self.tasks


def plan_write(table: TableInfo, percent: float, slots: int, files: int,
               write_capacity: Optional[int] = None) -> WritePlan:
    """The write budget and how many tasks share it (all of them run at once)."""
    warnings = []
    if write_capacity is not None:
        cap, source = write_capacity, "--write-capacity"
    elif table.on_demand or table.write_capacity <= 0:
        cap, source = capacity.ON_DEMAND_DEFAULT_WCU, "on-demand default"
        warnings.append(f"{table.name} is on-demand: writing at {percent} x "
                        f"{capacity.ON_DEMAND_DEFAULT_WCU} WCU (ddbpipe's default); pass "
                        "--write-capacity to choose the rate.")
    else:
        cap, source = table.write_capacity, "provisioned"
    tasks = max(1, min(slots, files))
    return WritePlan(cap, source, percent, tasks, tuple(warnings))


def group_files(files: Sequence[DataFile], groups: int) -> list[list[DataFile]]:
    """Spread files over ``groups`` lists of about equal bytes (largest first)."""
    bins: list[list[DataFile]] = [[] for _ in range(max(1, min(groups, len(files)) or 1))]
    sizes = [0] * len(bins)
    for f in sorted(files, key=lambda f: f.size, reverse=True):
        i = sizes.index(min(sizes))
        bins[i].append(f)
        sizes[i] += max(f.size, 1)
    return [b for b in bins if b]


def key_schema_of(info: TableInfo) -> list[tuple[str, str, str]]:
    return [(name, role, dict(info.key_types)[name]) for name, role in info.key_schema]


def source_key_schema(source: Source) -> Optional[list[tuple[str, str, str]]]:
    if not source.key_schema or not source.attribute_definitions:
        return None
    types = {a["AttributeName"]: a["AttributeType"] for a in source.attribute_definitions}
    return [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?"))
            for k in source.key_schema]


def describe_keys(keys: Iterable[tuple[str, str, str]]) -> str:
    return ", ".join(f"{n} ({t}, {r})" for n, r, t in keys)


# --- executor side (module-level functions: pickled by reference) ----------------------------

@dataclass(frozen=True)
class TaskConfig:
    aws: AwsConfig
    table: str
    line_format: str
    key_schema: tuple[dict[str, str], ...]
    attribute_definitions: tuple[dict[str, str], ...]
    rate: float  # units per second: the whole job's for writes, this task's for scans
    threads: int = 4
    max_retry_time: float = MAX_RETRY_SECONDS
    check_keys: bool = False  # in the write pass (when the validation pass was skipped)

    def patience(self) -> Patience:
        where = self.aws.endpoint("dynamodb") or self.aws.region
        return Patience(f"DynamoDB table {self.table} ({where})", self.max_retry_time)


def _check_count(f: DataFile, items: int) -> Optional[str]:
    if f.items is not None and f.items != items:
        return (f"{f.url} holds {items} items but the export's manifest says {f.items} (the "
                "file is damaged or not the one the export wrote)")
    return None


def _validate(task: TaskConfig, groups: Iterator[list[DataFile]]) -> Iterator[dict[str, Any]]:
    s3 = client(task.aws, "s3")
    check = formats.make_key_checker(task.key_schema, task.attribute_definitions)
    for group in groups:
        for f in group:
            items = 0
            error: Optional[DdbpipeError] = None
            try:
                with failures.about(f.url):
                    for number, item in read_items(s3_chunks(s3, f.url), f.url,
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
            yield {"url": f.url, "items": items,
                   "error": failures.encode(error) if error else None}


def shares(groups: Sequence[Sequence[DataFile]], budget: float) -> list[float]:
    """Each group's part of the budget, in proportion to its bytes, so that all the tasks
    finish together and the table sees the whole budget until the end."""
    sizes = [max(1, sum(f.size for f in g)) for g in groups]
    total = sum(sizes)
    return [budget * s / total for s in sizes]


def _write(task: TaskConfig,
           work: Iterator[tuple[float, list[DataFile]]]) -> Iterator[dict[str, Any]]:
    s3 = client(task.aws, "s3")
    ddb = client(task.aws, "dynamodb", **no_retry_config())
    keys = [k["AttributeName"] for k in task.key_schema]
    check = formats.make_key_checker(task.key_schema, task.attribute_definitions)
    patience = task.patience()
    started, read, files = time.monotonic(), 0, 0
    stats = None
    for rate, group in work:
        with failures.about(f"table {task.table}"):
            writer = BatchWriter(ddb, task.table, TokenBucket(rate), keys, patience, task.threads)
            try:
                for f in group:
                    count = 0
                    with failures.about(f.url):
                        for number, item in read_items(s3_chunks(s3, f.url), f.url,
                                                       task.line_format):
                            problem = check(item) if task.check_keys else None
                            if problem:
                                raise ExportFormatError(
                                    f"{f.url} line {number}: {problem}.",
                                    "Items before it were written; fix the export or import "
                                    "into a table with its key schema.")
                            writer.put(item)
                            count += 1
                        wrong = _check_count(f, count)
                        if wrong:
                            raise ExportFormatError(f"{wrong}.", "Its items were written; "
                                                    "restore the file and re-run the import.")
                    read += count
                    files += 1
            finally:
                stats = writer.close()
        yield {"read": read, "files": files, "seconds": time.monotonic() - started,
               **stats.as_dict()}


def _export_keys(task: TaskConfig, groups: Iterator[list[DataFile]]) -> Iterator[Any]:
    s3 = client(task.aws, "s3")
    names = [k["AttributeName"] for k in task.key_schema]
    for group in groups:
        for f in group:
            with failures.about(f.url):
                for _n, item in read_items(s3_chunks(s3, f.url), f.url, task.line_format):
                    yield formats.key_of(item, names)


def _scan_keys(task: TaskConfig, total_segments: int,
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
                yield formats.key_of(item, names)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _delete(task: TaskConfig, keys: Iterator[Any]) -> Iterator[dict[str, Any]]:
    ddb = client(task.aws, "dynamodb", **no_retry_config())
    names = [k["AttributeName"] for k in task.key_schema]
    with failures.about(f"table {task.table}"):
        writer = BatchWriter(ddb, task.table, TokenBucket(task.rate), names, task.patience(),
                             task.threads)
        try:
            for key in keys:
                writer.delete({n: {t: v} for n, (t, v) in zip(names, key)})
        finally:
            stats = writer.close()
    yield stats.as_dict()


# --- driver -----------------------------------------------------------------------------------

@dataclass
class ImportResult:
    table: str
    region: str
    source: Source
    plan: WritePlan
    read: int = 0
    written: int = 0
    deleted: int = 0
    skipped: int = 0
    consumed: float = 0.0
    throttled: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def achieved_percent(self) -> float:
        if not self.write_seconds:
            return 0.0
        return self.consumed / self.write_seconds / self.plan.capacity

    def summary(self) -> str:
        src = self.source.source_region or "unknown region"
        rate = self.written / self.write_seconds if self.write_seconds else 0.0
        text = (f"{self.table}: imported {self.written} items (read {self.read}, written "
                f"{self.written}, skipped {self.skipped}) from {len(self.source.files)} files of "
                f"{self.source.folder}/ ({self.source.format}, exported in {src}) into "
                f"{self.table} in {self.region} in {self.seconds:.1f} s ({rate:.0f} items/s; "
                f"{self.consumed:.0f} WCU consumed, {self.achieved_percent:.2f} of "
                f"{self.plan.capacity} WCU ({self.plan.capacity_source}), target "
                f"{self.plan.percent}; {self.throttled} throttled requests retried)")
        if self.deleted:
            text += f"; deleted {self.deleted} items absent from the export"
        if self.source.incomplete:
            text += f"; WARNING: INCOMPLETE EXPORT imported ({self.source.incomplete})"
        return text


def _check_keys(info: TableInfo, source: Source) -> None:
    want = source_key_schema(source)
    have = key_schema_of(info)
    if want is not None and sorted(want) != sorted(have):
        raise KeySchemaMismatch(
            f"Table {info.name!r} in {info.region} has key {describe_keys(have)} but the "
            f"export's table had {describe_keys(want)}.",
            "Import into a table with the same key schema (names, types, HASH/RANGE); nothing "
            "was written.")


def _definition(cfg: ImportConfig, source: Source) -> dict[str, Any]:
    """The CreateTable request for ``--create-table``, from the export's sidecar."""
    definition = (source.sidecar or {}).get("tableDefinition")
    if not definition:
        raise TableNotFound(
            f"Table {cfg.table!r} does not exist in {cfg.aws.region} and {source.folder}/ has no "
            "ddbpipe sidecar to create it from.",
            "Create the table first (same key schema as the export's).")
    args = {k: v for k, v in definition.items() if k not in ("TableClass",)}
    args["TableName"] = cfg.table
    on_demand = args.get("BillingMode") == "PAY_PER_REQUEST"
    if on_demand:
        args.pop("ProvisionedThroughput", None)
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in args.get(kind, []):
            if on_demand or kind == "LocalSecondaryIndexes":
                index.pop("ProvisionedThroughput", None)
            index.pop("OnDemandThroughput", None)
    return args


def _create_table(ddb: Any, cfg: ImportConfig, source: Source) -> TableInfo:
    ddb.create_table(**_definition(cfg, source))
    ddb.get_waiter("table_exists").wait(TableName=cfg.table,
                                        WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    print(f"Created table {cfg.table} in {cfg.aws.region} from the export's definition.",
          flush=True)
    return describe(ddb, cfg.table, cfg.aws.region, cfg.aws.endpoint("dynamodb"))


def preflight(cfg: ImportConfig) -> tuple[Source, Optional[TableInfo]]:
    """Checks that need no Spark: endpoints, the folder, the table and its key schema. A table
    that ``--create-table`` will make is None here: it is created only after validation."""
    check_reachable(cfg.aws, "s3")
    check_reachable(cfg.aws, "dynamodb")
    s3, ddb = client(cfg.aws, "s3"), client(cfg.aws, "dynamodb")
    source = detect(s3, cfg.source, cfg.allow_incomplete)
    try:
        info: Optional[TableInfo] = describe(ddb, cfg.table, cfg.aws.region,
                                             cfg.aws.endpoint("dynamodb"))
    except TableNotFound:
        if not cfg.create_table:
            raise
        _definition(cfg, source)  # raises when the export cannot say how
        info = None
    if info is not None:
        _check_keys(info, source)
    return source, info


@dataclass
class _Progress:
    """What the driver knows of the run, to say what is left when it stops."""

    phase: str = "checks"  # checks | validation | writing | deleting
    created: bool = False

    def left(self, cfg: ImportConfig) -> str:
        if self.phase in ("checks", "validation"):
            return f"nothing was written to {cfg.table}."
        text = f"{cfg.table} holds part of the export."
        if self.created:
            text += f" It was created by this import ({cfg.table})."
        return text


def run(spark: Any, cfg: ImportConfig,
        checked: Optional[tuple[Source, Optional[TableInfo]]] = None) -> ImportResult:
    progress = _Progress()
    try:
        return _run(spark, cfg, checked, progress)
    except interrupts.Stop as stop:
        raise Interrupted(f"Import into {cfg.table} stopped by {stop.name}; {progress.left(cfg)}",
                          "Re-run the import: it is safe to repeat.", stop.signum) from None
    except DdbpipeError as err:
        if progress.phase in ("writing", "deleting"):
            raise with_fix(err, f"({progress.left(cfg)} Re-running the import is safe.)"
                           ) from err
        raise


def _run(spark: Any, cfg: ImportConfig, checked: Optional[tuple[Source, Optional[TableInfo]]],
         progress: _Progress) -> ImportResult:
    t0 = time.monotonic()
    source, info = checked if checked is not None else preflight(cfg)
    ddb = client(cfg.aws, "dynamodb")
    for note in source.notes:
        print(note, flush=True)
    if info is None:  # --create-table: validate against the export's own key schema first
        definition = _definition(cfg, source)
        schema = tuple(dict(k) for k in definition["KeySchema"])
        attrs = tuple(dict(a) for a in definition["AttributeDefinitions"])
    else:
        schema = tuple(dict(k) for k in info.description["KeySchema"])
        attrs = tuple(dict(a) for a in info.description["AttributeDefinitions"])
    sc = spark.sparkContext
    slots = int(sc.defaultParallelism)
    task = TaskConfig(cfg.aws, cfg.table, source.line_format, schema, attrs, 1.0,
                      cfg.threads_per_task, cfg.max_retry_time, cfg.skip_validation)
    groups = group_files(source.files, max(1, min(slots, len(source.files))))

    def spark_job(what: str, fn: Any, data: list[Any], slices: int) -> list[Any]:
        return collect(f"{what} of {cfg.table}",
                       lambda: sc.parallelize(data, max(1, slices)).mapPartitions(fn).collect())

    if not cfg.skip_validation and source.files:
        progress.phase = "validation"
        checks_ = spark_job("Validation", partial(_validate, task), groups, len(groups))
        bad = [c for c in checks_ if c["error"]]
        if bad:
            first = failures.decode(bad[0]["error"])
            assert first is not None
            what = first.what.rstrip(".") + f" ({len(bad)} file(s) with errors)."
            raise with_fix(type(first)(what, first.fix), "Nothing was written.")
        log.info("validated %d items in %d files", sum(c["items"] for c in checks_), len(checks_))

    if info is None:
        info = _create_table(ddb, cfg, source)
        progress.created = True
        _check_keys(info, source)
    plan = plan_write(info, cfg.write_percent, slots, len(source.files), cfg.write_capacity)
    for warning in plan.warnings:
        log.warning(warning)
    task = replace(task, rate=plan.budget)
    groups = group_files(source.files, plan.tasks)
    result = ImportResult(cfg.table, cfg.aws.region, source, plan, notes=list(source.notes))

    w0 = time.monotonic()
    if source.files:
        progress.phase = "writing"
        work = list(zip(shares(groups, plan.budget), groups))
        for stats in spark_job("Import", partial(_write, task), work, len(work)):
            result.read += stats["read"]
            result.written += stats["written"]
            result.consumed += stats["consumed"]
            result.throttled += stats["throttled"]
    result.write_seconds = time.monotonic() - w0

    if cfg.mode == "replace":
        progress.phase = "deleting"
        result.deleted = _replace(sc, cfg, info, task, groups, slots)
    result.seconds = time.monotonic() - t0
    print(result.summary(), flush=True)
    if result.written != result.read - result.skipped:
        raise JobFailed(f"Only {result.written} of {result.read} items were written to "
                        f"{cfg.table}.", "Re-run the import: it is safe to repeat.")
    return result


def _replace(sc: Any, cfg: ImportConfig, info: TableInfo, task: TaskConfig,
             groups: list[list[DataFile]], slots: int) -> int:
    """Delete the items of the table whose key is not in the export."""
    read_rate = max(1.0, (info.read_capacity if not info.on_demand and info.read_capacity
                          else capacity.ON_DEMAND_DEFAULT_RCU) * 0.5 / slots)
    scan_task = replace(task, rate=read_rate)
    segments = max(slots, math.ceil(info.size_bytes / capacity.MAX_BYTES_PER_SEGMENT))
    exported = sc.parallelize(groups, max(1, len(groups))).mapPartitions(
        partial(_export_keys, task))
    present = sc.parallelize(range(segments), segments).mapPartitions(
        partial(_scan_keys, scan_task, segments))
    extra = present.subtract(exported, numPartitions=slots)
    per_task = replace(task, rate=task.rate / slots)
    return sum(s["deleted"] for s in collect(
        f"Deleting from {cfg.table}",
        lambda: extra.mapPartitions(partial(_delete, per_task)).collect()))


JOB = Job(
    name="import",
    description="Import a Data Pipeline, ddbpipe or DynamoDB native export into a table.",
    add_options=add_options,
    config_from_args=config_from_args,
    preflight=preflight,
    run=run,
)


def main(argv: Optional[Sequence[str]] = None, spark: Any = None) -> int:
    """Entry point of ``jobs/import_table.py`` (``spark-submit``, an EMR step)."""
    return submit_main(JOB, argv, spark)
