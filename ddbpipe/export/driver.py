"""The export's driver: checks, then per table plan, scan, commit.

Per table: DescribeTable, plan segments and tasks (:mod:`ddbpipe.capacity`), read with the
connector's ``DynamoDBInputFormat`` in the JVM (throughput-percent throttling inside the
connector), pipe each partition's item lines to a :mod:`ddbpipe.export.partwriter` process that
writes UUID-named data files and answers with one commit message per file, then commit the run
folder (:mod:`ddbpipe.export.folder`). On failure the run folder is emptied.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

from ddbpipe import capacity, layout, native_layout, progress, tablesettings
from ddbpipe.aws import check_reachable, client, frozen_credentials
from ddbpipe.errors import ConfigError, DdbpipeError, with_fix
from ddbpipe.export import folder as s3folder
from ddbpipe.export import state
from ddbpipe.export.folder import check_bucket, check_writable
from ddbpipe.export.messages import (
    ENV_VAR,
    WRITER_MODULE,
    FileCommit,
    WriterConfig,
    read_commits,
)
from ddbpipe.export.options import ExportConfig, add_options, config_from_args
from ddbpipe.export.report import TableResult
from ddbpipe.job import Job, Report
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import (
    cancel_jobs,
    connector_items,
    default_parallelism,
    each_partition,
    is_local,
    is_yarn,
    java_list,
    java_map,
)
from ddbpipe.tables import TableInfo, describe
from ddbpipe.throttle import no_retry_config, unreachable_seconds
from ddbpipe.watchdog import EndpointWatch

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def _writer_command(spark: Any) -> list[str]:
    python = spark.sparkContext.pythonExec or sys.executable
    return [python, "-m", WRITER_MODULE]


def export_table(spark: Any, cfg: ExportConfig, info: TableInfo, folder: S3Uri, s3: S3Client,
                 parallelism: int, resume: Optional[state.RunRecord] = None) -> TableResult:
    """Export one table into ``folder``, or, with ``resume`` (the folder's run record), finish
    the splits a stopped run left."""
    t0 = time.monotonic()
    if resume is None:
        started = datetime.now(timezone.utc)
        plan = capacity.plan_read(info, cfg.read_percent, parallelism, cfg.read_capacity)
        items_per_file, compress = cfg.items_per_file, cfg.compress
        fmt: str = cfg.output_format
        export_id = native_layout.new_export_id(started) if native_layout.is_native(fmt) else None
        earlier: dict[int, list[FileCommit]] = {}
    else:
        started = datetime.fromisoformat(resume.started)
        plan = replace(capacity.plan_read(info, resume.read_percent, parallelism,
                                          resume.read_capacity),
                       segments=resume.segments, splits=resume.splits)
        items_per_file, compress = resume.items_per_file, resume.compress
        fmt, export_id = resume.output_format, resume.export_id
        earlier = state.read_splits(s3, folder)
    for warning in plan.warnings:
        log.warning(warning)
    log.info("%s: %d segments in %d splits on %d tasks at %d RCU x %s (%s)", info.name,
             plan.segments, plan.split_count, plan.tasks, plan.capacity, plan.percent,
             plan.capacity_source)
    creds = frozen_credentials(cfg.aws) if is_local(spark) else None
    native = export_id is not None
    if native:
        assert export_id is not None
        compress = True  # the service's data files are always gzip
        started_marker = native_layout.export_folder(folder, export_id).join(native_layout.STARTED)
    files_folder = native_layout.data_folder(folder, export_id) if export_id else folder

    def kept(files: list[FileCommit]) -> set[str]:
        """The keys a clean-up keeps: the data files named, and the native ``_started``."""
        keys = {S3Uri.parse(f.url).key for f in files}
        return keys | {started_marker.key} if native else keys

    writer = WriterConfig(folder=str(files_folder), region=cfg.aws.region,
                          endpoints=dict(cfg.aws.endpoints), profile=cfg.aws.profile,
                          items_per_file=items_per_file, compress=compress,
                          verbose=log.isEnabledFor(logging.DEBUG),
                          unreachable_after=unreachable_seconds(),
                          progress=str(state.progress_folder(folder)), format=fmt)
    done = dict(earlier)
    splits = plan.split_count
    recorded = resume is not None

    if resume is None:
        s3folder.start(s3, folder)
        if native:  # as the service does: the bucket is writable, the export has begun
            s3.put_object(Bucket=folder.bucket, Key=started_marker.key, Body=b"")
    with s3folder.on_failure(f"Export of {info.name}", folder,
                             lambda: _leave(s3, folder, done, splits, recorded, kept),
                             lambda: _again(folder, recorded)):
        remaining = [i for i in range(splits) if i not in done]
        # plan.tasks splits run at once (fewer when fewer are left), sharing the whole budget.
        conf = capacity.read_conf(info, plan, endpoint=cfg.aws.endpoint("dynamodb"),
                                  yarn=is_yarn(spark), credentials=creds,
                                  running=min(plan.tasks, len(remaining)))
        items = connector_items(spark, conf, splits)
        actual = items.getNumPartitions()
        if resume is None and actual != splits:
            # The cluster's task slots capped the splits: plan (and tell the rate) for those.
            log.info("%s: the connector makes %d splits, not %d", info.name, actual, splits)
            plan = replace(plan, splits=actual, tasks=min(plan.tasks, actual))
            splits = actual
            conf = capacity.read_conf(info, plan, endpoint=cfg.aws.endpoint("dynamodb"),
                                      yarn=is_yarn(spark), credentials=creds)
            items = connector_items(spark, conf, splits)
        if resume is None:
            remaining = list(range(splits))
            state.write_run(s3, folder, state.RunRecord(
                info.name, info.region, plan.segments, splits, plan.percent, cfg.read_capacity,
                compress, items_per_file, started.isoformat(), output_format=fmt,
                export_id=export_id))
            recorded = True
        elif actual != splits:
            raise ConfigError(
                f"{folder}/ was exported in {splits} splits; the connector makes {actual} on this "
                "cluster (its task slots cap the splits).",
                f"Resume on a cluster with at least {splits} task slots (executor cores).")
        else:
            dropped = s3folder.remove_orphans(s3, folder,
                                              kept([f for fs in done.values() for f in fs]))
            print(f"{info.name}: resuming {folder}/: {len(done)} of {splits} splits finished "
                  f"({sum(f.items for fs in done.values() for f in fs):,} items kept), "
                  f"{len(remaining)} to read; {dropped} partly written file(s) deleted",
                  flush=True)
        piped = items.pipe(java_list(spark, _writer_command(spark)),
                           java_map(spark, {ENV_VAR: writer.to_env()}), False, 1 << 16, "UTF-8")

        def split_done(split: int, lines: list[str]) -> None:
            files = read_commits(lines)
            state.record_split(s3, folder, split, files)
            done[split] = files

        scan_started = time.monotonic()
        probe = client(cfg.aws, "dynamodb", **no_retry_config())
        where = f"DynamoDB ({cfg.aws.endpoint('dynamodb') or cfg.aws.region})"
        unreachable = unreachable_seconds()
        before = sum(f.items for fs in earlier.values() for f in fs)
        target = progress.Target(info.name, "RCU", plan.budget, info.item_count, before)
        beacons = state.progress_folder(folder)
        with EndpointWatch(probe, info.name, where, cancel_jobs, interval=min(5.0, unreachable / 4),
                           unreachable_after=unreachable) as watch, \
                progress.Reporter(target, lambda: progress.read_beacons(s3, beacons)):
            try:
                each_partition(spark, f"Export of {info.name}", piped, remaining, split_done,
                               plan.tasks)
            except DdbpipeError:
                if watch.error is not None:
                    raise watch.error from None
                raise
        files = sorted((f for fs in done.values() for f in fs), key=lambda c: c.url)
        s3folder.remove_orphans(s3, folder, kept(files))
        result = TableResult(info.name, folder, sum(f.items for f in files), files,
                             sum(f.bytes for f in files), time.monotonic() - t0, plan,
                             time.monotonic() - scan_started,
                             resumed=[f for fs in earlier.values() for f in fs],
                             splits=splits, resumed_splits=len(earlier))
        settings = tablesettings.read(client(cfg.aws, "dynamodb"), info.description)
        for note in settings[1]:
            log.info("%s: %s", info.name, note)
        s3folder.commit_run(s3, folder, info, files,
                            s3folder.sidecar(info, result, compress, started, settings), fmt,
                            export_id, started=started, export_time=started)
    s3folder.tidy(s3, folder)
    return result


def _leave(s3: S3Client, folder: S3Uri, done: dict[int, list[FileCommit]], splits: int,
           recorded: bool, kept: Callable[[list[FileCommit]], set[str]]) -> str:
    """Suspend a stopped run's folder for ``--resume``; empty it if its run record was never
    written (nothing was read)."""
    if not recorded:
        return s3folder.abort(s3, folder)
    files = [f for fs in done.values() for f in fs]
    return s3folder.suspend(s3, folder, kept(files), len(done), splits,
                            sum(f.items for f in files))


def _again(folder: S3Uri, recorded: bool) -> str:
    if recorded:
        return f"`ddbpipe export --resume {folder}` reads only what is missing."
    return "Re-run the export: it writes a new run folder."


def preflight(cfg: ExportConfig) -> list[TableInfo]:
    """Every check that needs no Spark: endpoints answer, tables exist, the bucket is there and
    may be written."""
    check_reachable(cfg.aws, "dynamodb")
    check_reachable(cfg.aws, "s3")
    ddb = client(cfg.aws, "dynamodb")
    s3 = client(cfg.aws, "s3")
    if cfg.resume is not None:
        record = resumable(s3, cfg)
        info = describe(ddb, record.table, cfg.aws.region, cfg.aws.endpoint("dynamodb"))
        check_writable(s3, cfg.resume)
        return [info]
    infos = [describe(ddb, t, cfg.aws.region, cfg.aws.endpoint("dynamodb")) for t in cfg.tables]
    if cfg.source == "pitr":
        from ddbpipe.export import pitr

        for info in infos:
            pitr.check_enabled(ddb, info.name, cfg.export_time)
    for table in cfg.tables:  # each table's own folder: all a least-privilege policy grants
        folder = layout.table_folder(cfg.dest, cfg.aws.region, table)
        check_bucket(s3, folder, cfg.aws.endpoint("s3"))
        check_writable(s3, folder)
    return infos


def resumable(s3: S3Client, cfg: ExportConfig) -> state.RunRecord:
    """The run record of the folder ``--resume`` names, once it is known to be an unfinished
    export of this table and region."""
    folder = cfg.resume
    assert folder is not None
    check_bucket(s3, folder, cfg.aws.endpoint("s3"))
    record = state.read_run(s3, folder)
    if record is None:
        done = s3folder.is_committed(s3, folder)
        raise ConfigError(
            f"{folder}/ " + ("is a finished export: nothing to resume." if done else
                             "holds no run record of a stopped ddbpipe export "
                             f"({layout.STATE_DIR}/{state.RUN})."),
            "Give --resume the run folder a stopped export named in its error; start a new "
            "export (without --resume) otherwise.")
    if cfg.tables and cfg.tables != (record.table,):
        raise ConfigError(f"{folder}/ is an export of {record.table}, not of {cfg.tables[0]}.",
                          f"Leave --table out, or resume a run folder of {cfg.tables[0]}.")
    if cfg.output_format != "dp" and cfg.output_format != record.output_format:
        raise ConfigError(f"{folder}/ is an export in the {record.output_format} format, not "
                          f"{cfg.output_format}.", "Leave --format out: a resumed run keeps the "
                          "format it started with.")
    if record.region != cfg.aws.region:
        raise ConfigError(f"{folder}/ is an export of {record.table} in {record.region}, not "
                          f"in {cfg.aws.region}.", f"Resume it with --region {record.region}.")
    return record


def run(spark: Any, cfg: ExportConfig, checked: Optional[list[TableInfo]] = None,
        report: Optional[Report] = None) -> list[TableResult]:
    """Export every table of ``cfg``. Checks all inputs before anything is written.

    Each table's result goes to ``report`` as soon as its folder is committed (the entry points
    print its summary then), so a later table's failure does not hide the tables already done.
    """
    timestamp = cfg.timestamp or layout.run_timestamp()
    infos = checked if checked is not None else preflight(cfg)
    s3 = client(cfg.aws, "s3")
    parallelism = default_parallelism(spark)
    results: list[TableResult] = []
    record = resumable(s3, cfg) if cfg.resume is not None else None
    for info in infos:
        folder = cfg.resume or layout.run_folder(cfg.dest, cfg.aws.region, info.name, timestamp)
        try:
            if cfg.source == "pitr":
                from ddbpipe.export import pitr

                result = pitr.export_table(spark, cfg, info, folder, s3)
            else:
                result = export_table(spark, cfg, info, folder, s3, parallelism, record)
        except DdbpipeError as err:
            if not results:
                raise
            done = ", ".join(f"{r.table} ({r.folder}/)" for r in results)
            raise with_fix(err, f"Finished before it, complete: {done}.") from err
        if report is not None:
            report(result)
        results.append(result)
    return results


JOB = Job(
    name="export",
    description="Export one or several DynamoDB tables to S3 in the Data Pipeline format, or in "
                "DynamoDB's own export layout (--format dynamodb-json|ion).",
    add_options=add_options,
    config_from_args=config_from_args,
    preflight=preflight,
    run=run,
)

main = JOB.main
