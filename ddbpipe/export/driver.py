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
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Optional

from ddbpipe import capacity, interrupts, layout
from ddbpipe.aws import check_reachable, client, frozen_credentials
from ddbpipe.errors import DdbpipeError, Interrupted, with_fix
from ddbpipe.export import folder as s3folder
from ddbpipe.export.folder import check_bucket, check_writable
from ddbpipe.export.messages import ENV_VAR, WRITER_MODULE, WriterConfig, read_commits
from ddbpipe.export.options import ExportConfig, add_options, config_from_args
from ddbpipe.export.report import TableResult
from ddbpipe.job import Job, Report
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import (
    cancel_jobs,
    collect,
    connector_items,
    default_parallelism,
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
                 parallelism: int) -> TableResult:
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    plan = capacity.plan_read(info, cfg.read_percent, parallelism, cfg.read_capacity)
    for warning in plan.warnings:
        log.warning(warning)
    log.info("%s: %d segments on %d tasks at %d RCU x %s (%s)", info.name, plan.segments,
             plan.tasks, plan.capacity, plan.percent, plan.capacity_source)
    creds = frozen_credentials(cfg.aws) if is_local(spark) else None
    conf = capacity.read_conf(info, plan, endpoint=cfg.aws.endpoint("dynamodb"),
                              yarn=is_yarn(spark), credentials=creds)
    writer = WriterConfig(folder=str(folder), region=cfg.aws.region,
                          endpoints=dict(cfg.aws.endpoints), profile=cfg.aws.profile,
                          items_per_file=cfg.items_per_file, compress=cfg.compress,
                          verbose=log.isEnabledFor(logging.DEBUG),
                          unreachable_after=unreachable_seconds())

    s3folder.start(s3, folder)
    try:
        items = connector_items(spark, conf, plan.tasks)
        piped = items.pipe(java_list(spark, _writer_command(spark)),
                           java_map(spark, {ENV_VAR: writer.to_env()}), False, 1 << 16, "UTF-8")
        scan_started = time.monotonic()
        probe = client(cfg.aws, "dynamodb", **no_retry_config())
        where = f"DynamoDB ({cfg.aws.endpoint('dynamodb') or cfg.aws.region})"
        unreachable = unreachable_seconds()
        with EndpointWatch(probe, info.name, where, cancel_jobs, interval=min(5.0, unreachable / 4),
                           unreachable_after=unreachable) as watch:
            try:
                lines = collect(f"Export of {info.name}", piped.collect)
            except DdbpipeError:
                if watch.error is not None:
                    raise watch.error from None
                raise
        files = read_commits(lines)
        s3folder.remove_orphans(s3, folder, {S3Uri.parse(f.url).key for f in files})
        result = TableResult(info.name, folder, sum(f.items for f in files), files,
                             sum(f.bytes for f in files), time.monotonic() - t0, plan,
                             time.monotonic() - scan_started)
        s3folder.commit(s3, folder, layout.manifest_bytes(f.url for f in result.files),
                        s3folder.sidecar(info, result, cfg.compress, started))
    except interrupts.Stop as stop:
        raise Interrupted(f"Export of {info.name} stopped by {stop.name}; "
                          f"{s3folder.abort(s3, folder)}",
                          "Re-run the export: it writes a new run folder.", stop.signum
                          ) from None
    except DdbpipeError as err:
        raise with_fix(err, f"({s3folder.abort(s3, folder)})") from err
    except BaseException:
        s3folder.abort(s3, folder)
        raise
    return result


def preflight(cfg: ExportConfig) -> list[TableInfo]:
    """Every check that needs no Spark: endpoints answer, tables exist, the bucket is there and
    may be written."""
    check_reachable(cfg.aws, "dynamodb")
    check_reachable(cfg.aws, "s3")
    ddb = client(cfg.aws, "dynamodb")
    infos = [describe(ddb, t, cfg.aws.region, cfg.aws.endpoint("dynamodb")) for t in cfg.tables]
    s3 = client(cfg.aws, "s3")
    for table in cfg.tables:  # each table's own folder: all a least-privilege policy grants
        folder = layout.table_folder(cfg.dest, cfg.aws.region, table)
        check_bucket(s3, folder, cfg.aws.endpoint("s3"))
        check_writable(s3, folder)
    return infos


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
    for info in infos:
        folder = layout.run_folder(cfg.dest, cfg.aws.region, info.name, timestamp)
        try:
            result = export_table(spark, cfg, info, folder, s3, parallelism)
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
    description="Export one or several DynamoDB tables to S3 in the Data Pipeline format.",
    add_options=add_options,
    config_from_args=config_from_args,
    preflight=preflight,
    run=run,
)

main = JOB.main
