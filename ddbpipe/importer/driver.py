"""The import's driver: checks, validation pass, table creation, write pass, replace.

``run(spark, cfg)``:

1. Looks at the folder (:func:`ddbpipe.importer.sources.detect`): Data Pipeline, ddbpipe, DynamoDB
   native JSON or ION, with or without manifest; resolves a copied manifest inside the folder.
2. Checks before the first write: the target table exists (or ``--create-table`` makes it from the
   sidecar, after validation), its key schema equals the export's, and, unless
   ``--skip-validation``, a Spark pass parses every line and checks every item's key against the
   table (errors name file and line).
3. Writes from Spark tasks with BatchWriteItem (:mod:`ddbpipe.importer.tasks`): the write budget
   (capacity x percent) is split over the tasks that run at once, so it holds for the whole job;
   throttles and unprocessed items are retried per request with backoff and jitter.
4. ``--mode replace`` then deletes the items the export does not hold (a reset to a baseline).

Progress is recorded in a run state in S3 (:mod:`ddbpipe.importer.state`): ``--resume`` skips the
files and lines an earlier run of the same import wrote; a finished import deletes its state.

Items with the key of an existing item replace it; other items stay (the old service's rule).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Optional

from ddbpipe import capacity, failures, interrupts
from ddbpipe.aws import check_reachable, client
from ddbpipe.errors import (
    ConfigError,
    DdbpipeError,
    Interrupted,
    JobFailed,
    TableNotFound,
    with_fix,
)
from ddbpipe.importer import state, tasks
from ddbpipe.importer.options import ImportConfig, add_options, config_from_args
from ddbpipe.importer.plan import group_files, plan_write, shares
from ddbpipe.importer.report import ImportResult
from ddbpipe.importer.sources import Source, detect
from ddbpipe.importer.target import check_keys, create_request, create_table
from ddbpipe.importer.writer import WriteStats
from ddbpipe.job import Job, Report
from ddbpipe.progress import Reporter, Target, read_beacons
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import collect
from ddbpipe.tables import TableInfo, describe
from ddbpipe.throttle import unreachable_seconds

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checked:
    """What :func:`preflight` found: the export, the table (None: ``--create-table`` makes it
    after validation) and the run state (what an earlier run wrote, where this one records)."""

    source: Source
    info: Optional[TableInfo]
    resume: state.Resume


def preflight(cfg: ImportConfig) -> Checked:
    """Checks that need no Spark: endpoints, the folder, the table and its key schema, and the
    run state (a state of another import at ``--state-prefix`` is refused here)."""
    check_reachable(cfg.aws, "s3")
    check_reachable(cfg.aws, "dynamodb")
    s3, ddb = client(cfg.aws, "s3"), client(cfg.aws, "dynamodb")
    source = detect(s3, cfg.source, cfg.allow_incomplete)
    check_incremental(cfg, source)
    try:
        info: Optional[TableInfo] = describe(ddb, cfg.table, cfg.aws.region,
                                             cfg.aws.endpoint("dynamodb"))
    except TableNotFound as err:
        if source.incremental is not None:
            raise TableNotFound(f"{err.what.rstrip('.')}; {source.folder}/ is an incremental "
                                "export (changes, not a table).",
                                "Import the full export it follows first (with --create-table "
                                "if you like), then the incremental ones in order.") from err
        if not cfg.create_table:
            raise
        create_request(cfg, source)  # raises when the export cannot say how
        info = None
    if info is not None:
        check_keys(info, source)
    return Checked(source, info, _look(cfg, s3, source))


def check_incremental(cfg: ImportConfig, source: Source) -> None:
    """What an incremental export cannot do: ``--mode replace`` would delete every item it
    does not mention, i.e. nearly the whole table."""
    if source.incremental is not None and cfg.mode == "replace":
        raise ConfigError(
            f"--mode replace deletes every item of {cfg.table!r} the export lacks, and "
            f"{source.folder}/ is an incremental export: it holds only the "
            f"{source.incremental.describe()}.",
            "Use --mode merge (the default): it applies the export's puts and deletes.")


def identity(cfg: ImportConfig, source: Source) -> state.Identity:
    return state.Identity(str(source.folder), cfg.table, cfg.aws.region, cfg.mode)


def state_location(cfg: ImportConfig, source: Source) -> S3Uri:
    if cfg.state_prefix is None:
        return state.default_location(source.folder, identity(cfg, source))
    inside = (cfg.state_prefix.bucket == source.folder.bucket
              and (cfg.state_prefix.key + "/").startswith(source.folder.prefix))
    if inside or cfg.state_prefix == source.folder:
        raise ConfigError(f"--state-prefix {cfg.state_prefix} is inside the export folder "
                          f"{source.folder}/.", "Give a folder outside it (the import keeps "
                          "its state next to what it reads, never in it).")
    return cfg.state_prefix


def _look(cfg: ImportConfig, s3: S3Client, source: Source) -> state.Resume:
    if not source.files:
        return state.Resume(None)  # nothing to write, nothing to resume
    return state.look(s3, identity(cfg, source), source.files, state_location(cfg, source),
                      explicit=cfg.state_prefix is not None, resume=cfg.resume)


@dataclass
class _Progress:
    """What the driver knows of the run, to say what is left when it stops."""

    phase: Literal["checks", "validation", "writing", "deleting"] = "checks"
    created: bool = False
    state: Optional[S3Uri] = None  # the run state, once this run records into it

    def left(self, cfg: ImportConfig) -> str:
        if self.phase in ("checks", "validation"):
            return f"nothing was written to {cfg.table}."
        text = f"{cfg.table} holds part of the export."
        if self.created:
            text += f" It was created by this import ({cfg.table})."
        return text

    def resume(self) -> str:
        """How to go on without writing again what is written, when there is a state."""
        if self.state is None or self.phase not in ("writing", "deleting"):
            return ""
        return (f" To skip what is written, run the same import with --resume (`ddbpipe import "
                f"... --resume`, or `ddbpipe emr import ... --resume`; its state is in "
                f"{self.state}/).")


def run(spark: Any, cfg: ImportConfig, checked: Optional[Checked] = None,
        report: Optional[Report] = None) -> ImportResult:
    """Import ``cfg.source`` into ``cfg.table``. The result goes to ``report`` once the writes
    (and deletes) are done, before the check that every item read was written."""
    progress = _Progress()
    try:
        return _run(spark, cfg, checked, progress, report)
    except interrupts.Stop as stop:
        raise Interrupted(f"Import into {cfg.table} stopped by {stop.name}; {progress.left(cfg)}",
                          "Re-run the import: it is safe to repeat." + progress.resume(),
                          stop.signum) from None
    except DdbpipeError as err:
        if progress.phase in ("writing", "deleting"):
            raise with_fix(err, f"({progress.left(cfg)} Re-running the import is safe.)"
                                + progress.resume()) from err
        raise


def _run(spark: Any, cfg: ImportConfig, checked: Optional[Checked], progress: _Progress,
         report: Optional[Report]) -> ImportResult:
    t0 = time.monotonic()
    checked = checked if checked is not None else preflight(cfg)
    source, info, resume = checked.source, checked.info, checked.resume
    ddb = client(cfg.aws, "dynamodb")
    for note in (*source.notes, *resume.notes):
        print(note, flush=True)
    # What is left to write: files an earlier run wrote whole are neither validated nor written
    # again (they passed the validation of the run that wrote them); --mode replace reads their
    # keys for the delete phase.
    todo = [f for f in source.files if not resume.written.complete(f.url)]
    written_whole = [f for f in source.files if resume.written.complete(f.url)]
    if info is None:  # --create-table: validate against the export's own key schema first
        definition = create_request(cfg, source)
        schema = tuple(dict(k) for k in definition["KeySchema"])
        attrs = tuple(dict(a) for a in definition["AttributeDefinitions"])
    else:
        schema = tuple(dict(k) for k in info.description["KeySchema"])
        attrs = tuple(dict(a) for a in info.description["AttributeDefinitions"])
    sc = spark.sparkContext
    slots = int(sc.defaultParallelism)
    task = tasks.TaskConfig(cfg.aws, cfg.table, source.line_format, schema, attrs, 1.0,
                            cfg.threads_per_task, cfg.max_retry_time, cfg.skip_validation,
                            keep_keys=cfg.mode == "replace",
                            unreachable_after=unreachable_seconds())
    groups = group_files(todo, max(1, min(slots, len(todo))))

    def spark_job(what: str, fn: Any, data: list[Any], slices: int) -> list[Any]:
        return collect(f"{what} of {cfg.table}",
                       lambda: sc.parallelize(data, max(1, slices)).mapPartitions(fn).collect())

    if not cfg.skip_validation and todo:
        progress.phase = "validation"
        checked_files: list[tasks.FileCheck] = spark_job(
            "Validation", partial(tasks.validate, task), groups, len(groups))
        bad = [c.error for c in checked_files if c.error]
        if bad:
            first = failures.decode(bad[0])
            assert first is not None
            what = first.what.rstrip(".") + f" ({len(bad)} file(s) with errors)."
            raise with_fix(type(first)(what, first.fix), "Nothing was written.")
        log.info("validated %d items in %d files", sum(c.items for c in checked_files),
                 len(checked_files))

    if info is None:
        info = create_table(ddb, cfg, source)
        progress.created = True
        check_keys(info, source)
    plan = plan_write(info, cfg.write_percent, slots, len(todo), cfg.write_capacity)
    for warning in plan.warnings:
        log.warning(warning)
    task = replace(task, rate=plan.budget)
    groups = group_files(todo, plan.tasks)
    result = ImportResult(cfg.table, cfg.aws.region, source, plan,
                          notes=[*source.notes, *resume.notes], skipped=resume.written.items,
                          resumed=resume.written if resume.resuming else None)
    s3 = client(cfg.aws, "s3")
    if source.files:
        recorder, no_state = state.start(s3, resume, identity(cfg, source), source.files,
                                         cfg.unit_items)
        if no_state:
            print(no_state, flush=True)
            result.notes.append(no_state)
        if recorder is not None:
            task = replace(task, recorder=recorder)
            progress.state = recorder.location

    w0 = time.monotonic()
    written = sc.emptyRDD()  # with --mode replace: the keys of the export, from the write pass
    if source.files:  # from here on a stop leaves a state to resume, even with nothing to write
        progress.phase = "writing"
    if todo:
        work = list(zip(shares(groups, plan.budget), groups))
        written = sc.parallelize(work, len(work)).mapPartitions(partial(tasks.write, task))
        if task.keep_keys:  # kept for the delete pass: the export is not read a second time
            from pyspark import StorageLevel

            written.persist(StorageLevel.MEMORY_AND_DISK)
        with _progress_lines(s3, cfg, task, source, plan.budget, resume.written.items):
            done: list[tasks.GroupWritten] = collect(
                f"Import of {cfg.table}", written.filter(tasks.is_group_written).collect)
        result.read = sum(g.read for g in done)
        result.writes = sum((g.stats for g in done), WriteStats())
    result.write_seconds = time.monotonic() - w0

    if cfg.mode == "replace":
        progress.phase = "deleting"
        exported = written.filter(tasks.is_key)
        if written_whole:  # resuming: their keys from the export, nothing written
            parts = group_files(written_whole, max(1, min(slots, len(written_whole))))
            exported = exported.union(sc.parallelize(parts, len(parts)).mapPartitions(
                partial(tasks.read_keys, task)))
        try:
            result.deletes = _replace(sc, cfg, info, task, exported, slots)
        finally:
            written.unpersist()
    result.seconds = time.monotonic() - t0
    if report is not None:
        report(result)
    if result.written != result.read:
        raise JobFailed(f"Only {result.written} of {result.read} items read were written to "
                        f"{cfg.table}.", "Re-run the import: it is safe to repeat."
                        + progress.resume())
    if progress.state is not None:
        left = state.finish(s3, progress.state)
        if left:
            print(f"ddbpipe: warning: {left}", file=sys.stderr, flush=True)
    return result


def _progress_lines(s3: Any, cfg: ImportConfig, task: tasks.TaskConfig, source: Source,
                    budget: float, before: int) -> AbstractContextManager[Any]:
    """A progress line every ~10 s while the write pass runs, from the write tasks' beacons
    under the run state (no state, no beacons: no lines)."""
    if task.recorder is None:
        return nullcontext()
    counts = [f.items for f in source.files]
    expected = sum(c for c in counts if c is not None) if None not in counts else 0
    beacons = task.recorder.progress
    target = Target(f"import into {cfg.table}", "WCU", budget, expected, before,
                    estimate=False)
    return Reporter(target, lambda: read_beacons(s3, beacons))


def _replace(sc: Any, cfg: ImportConfig, info: TableInfo, task: tasks.TaskConfig,
             exported: Any, slots: int) -> WriteStats:
    """Delete the items of the table whose key is not among ``exported`` (an RDD of keys)."""
    read_rate = max(1.0, capacity.capacity_for(info, "read")[0] * 0.5 / slots)
    scan_task = replace(task, rate=read_rate)
    segments = max(slots, math.ceil(info.size_bytes / capacity.MAX_BYTES_PER_SEGMENT))
    present = sc.parallelize(range(segments), segments).mapPartitions(
        partial(tasks.scan_keys, scan_task, segments))
    extra = present.subtract(exported, numPartitions=slots)
    per_task = replace(task, rate=task.rate / slots)
    deleted: list[WriteStats] = collect(
        f"Deleting from {cfg.table}",
        lambda: extra.mapPartitions(partial(tasks.delete, per_task)).collect())
    return sum(deleted, WriteStats())


JOB = Job(
    name="import",
    description="Import a Data Pipeline, ddbpipe or DynamoDB native export into a table.",
    add_options=add_options,
    config_from_args=config_from_args,
    preflight=preflight,
    run=run,
)

main = JOB.main
