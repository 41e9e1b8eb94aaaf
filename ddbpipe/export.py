"""Export DynamoDB tables to S3 through Spark and the emr-dynamodb-connector.

``run(spark, cfg)`` exports every table of ``cfg`` to its own run folder. Per table: DescribeTable,
plan segments and tasks (:mod:`ddbpipe.capacity`), read with the connector's
``DynamoDBInputFormat`` (throughput-percent throttling inside the connector), pipe each partition's
item lines to a :mod:`ddbpipe.partwriter` process that writes UUID-named data files, then commit:
``manifest``, the ``ddbpipe-export.json`` sidecar and ``_SUCCESS`` last. On failure the run folder
is emptied, so nothing that looks like an export is left behind.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, Sequence

from ddbpipe import __version__, capacity, checks, failures, interrupts, layout
from ddbpipe.aws import AwsConfig, check_reachable, client, frozen_credentials
from ddbpipe.errors import (
    BucketError,
    ConfigError,
    DdbpipeError,
    EndpointUnreachable,
    Interrupted,
    with_fix,
)
from ddbpipe.job import Job, submit_main
from ddbpipe.partwriter import ENV_VAR, WriterConfig
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import (
    cancel_jobs,
    collect,
    default_parallelism,
    is_local,
    is_yarn,
    java_list,
    java_map,
    jvm_class,
)
from ddbpipe.tables import TableInfo, describe
from ddbpipe.throttle import no_retry_config
from ddbpipe.watchdog import EndpointWatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportConfig:
    tables: tuple[str, ...]
    dest: S3Uri
    aws: AwsConfig
    read_percent: float = 0.5
    read_capacity: Optional[int] = None
    compress: bool = False
    timestamp: Optional[str] = None
    items_per_file: int = layout.ITEMS_PER_FILE

    def __post_init__(self) -> None:
        if not self.tables:
            raise ConfigError("No table to export.", "Pass --table NAME (repeat it for several).")
        for table in self.tables:
            checks.check_table_name(table)
        dupes = {t for t in self.tables if self.tables.count(t) > 1}
        if dupes:
            raise ConfigError(f"Table {sorted(dupes)[0]!r} is given twice.", "Name each once.")
        checks.check_percent(self.read_percent, "--read-percent")
        checks.check_capacity(self.read_capacity, "--read-capacity")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The export job's own options (shared by ``ddbpipe export``, the job and ``emr export``)."""
    parser.add_argument("--table", action="append", required=True, metavar="TABLE",
                        help="table to export; repeat for several tables in one run")
    parser.add_argument("--to", required=True, metavar="S3_URI",
                        help="s3://BUCKET (folder s3://BUCKET/REGION/TABLE/<time>) or "
                             "s3://BUCKET/PREFIX (folder PREFIX/TABLE/<time>)")
    parser.add_argument("--read-percent", type=float, default=0.5,
                        help="fraction of the table's read capacity to use, 0.1..1.5 "
                             "(default 0.5)")
    parser.add_argument("--read-capacity", type=int, metavar="RCU",
                        help="read capacity to plan with (on-demand tables: default "
                             f"{capacity.ON_DEMAND_DEFAULT_RCU})")
    parser.add_argument("--compress", action="store_true", help="gzip the data files (.gz)")


def config_from_args(args: argparse.Namespace, aws: AwsConfig) -> ExportConfig:
    return ExportConfig(
        tables=tuple(args.table),
        dest=S3Uri.parse(args.to, "--to"),
        aws=aws,
        read_percent=args.read_percent,
        read_capacity=args.read_capacity,
        compress=args.compress,
    )


@dataclass
class TableResult:
    table: str
    folder: S3Uri
    items: int
    files: list[dict[str, Any]] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    plan: Optional[capacity.ReadPlan] = None
    scan_seconds: float = 0.0

    @property
    def read_units(self) -> float:
        """Read units the scan consumed, from DynamoDB's size of the items (sampled):
        eventually consistent scans cost half a unit per 4 KB."""
        return sum(f.get("item_bytes", 0) for f in self.files) / 4096 / 2

    @property
    def achieved_percent(self) -> float:
        if not self.plan or not self.scan_seconds:
            return 0.0
        return self.read_units / self.scan_seconds / self.plan.capacity

    def summary(self) -> str:
        rate = self.items / self.seconds if self.seconds else 0.0
        text = (f"{self.table}: exported {self.items} items in {len(self.files)} files "
                f"({self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s, {rate:.0f} items/s) "
                f"to {self.folder}/")
        if self.plan:
            text += (f"; ~{self.read_units:.0f} RCU consumed, {self.achieved_percent:.2f} of "
                     f"{self.plan.capacity} RCU ({self.plan.capacity_source}), target "
                     f"{self.plan.percent}")
        return text


def _s3_error_code(err: Exception) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def check_bucket(s3: Any, dest: S3Uri, endpoint: Optional[str]) -> None:
    """HeadBucket, with the failure told as the user would fix it."""
    import botocore.exceptions

    try:
        s3.head_bucket(Bucket=dest.bucket)
    except botocore.exceptions.ClientError as err:
        code = _s3_error_code(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BucketError(f"Bucket {dest.bucket!r} does not exist.",
                              "Create it first, or fix --to.") from err
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketError(f"Bucket {dest.bucket!r} cannot be read with these credentials.",
                              "Grant s3:ListBucket on it (see `ddbpipe iam policy`).") from err
        raise
    except botocore.exceptions.EndpointConnectionError as err:
        raise EndpointUnreachable(f"Cannot reach S3 at {endpoint or 'its AWS endpoint'}.",
                                  "Fix --endpoint-url / AWS_ENDPOINT_URL_S3.") from err


def _list_keys(s3: Any, folder: S3Uri) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=folder.bucket,
                                                             Prefix=folder.prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _delete_keys(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk],
                                                 "Quiet": True})


def _start_folder(s3: Any, folder: S3Uri) -> None:
    import botocore.exceptions

    existing = _list_keys(s3, folder)
    if existing:
        raise ConfigError(f"{folder}/ already holds {len(existing)} objects.",
                          "Export to a new folder (each run takes a new timestamp).")
    try:
        s3.put_object(Bucket=folder.bucket, Key=folder.join(layout.IN_PROGRESS).key,
                      Body=b"export in progress; no _SUCCESS means not finished\n")
    except botocore.exceptions.ClientError as err:
        if _s3_error_code(err) in ("403", "AccessDenied"):
            raise BucketError(f"Cannot write to {folder}/ (AccessDenied).",
                              "Grant s3:PutObject on the export prefix (see `ddbpipe iam "
                              "policy`).") from err
        raise


def _writer_command(spark: Any) -> list[str]:
    python = spark.sparkContext.pythonExec or sys.executable
    return [python, "-m", "ddbpipe.partwriter"]


def export_table(spark: Any, cfg: ExportConfig, info: TableInfo, folder: S3Uri, s3: Any,
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
                          verbose=log.isEnabledFor(logging.DEBUG))

    _start_folder(s3, folder)
    try:
        sc = spark.sparkContext
        jconf = sc._jvm.org.apache.hadoop.mapred.JobConf(sc._jsc.hadoopConfiguration())
        for key, value in conf.items():
            jconf.set(key, value)
        items = sc._jsc.hadoopRDD(
            jconf,
            jvm_class(spark, capacity.INPUT_FORMAT),
            jvm_class(spark, "org.apache.hadoop.io.Text"),
            jvm_class(spark, capacity.ITEM_WRITABLE),
            plan.tasks,
        ).values()
        piped = items.pipe(java_list(spark, _writer_command(spark)),
                           java_map(spark, {ENV_VAR: writer.to_env()}), False, 1 << 16, "UTF-8")
        scan_started = time.monotonic()
        probe = client(cfg.aws, "dynamodb", **no_retry_config())
        where = f"DynamoDB ({cfg.aws.endpoint('dynamodb') or cfg.aws.region})"
        with EndpointWatch(probe, info.name, where, cancel_jobs) as watch:
            try:
                lines = collect(f"Export of {info.name}", piped.collect)
            except DdbpipeError:
                if watch.error is not None:
                    raise watch.error from None
                raise
        messages = [json.loads(m) for m in lines if str(m).strip()]
        failed = [e for e in map(failures.from_record, messages) if e is not None]
        if failed:
            raise failed[0]
        files = sorted(messages, key=lambda m: m["url"])
        committed = {S3Uri.parse(m["url"]).key for m in files}
        markers = {folder.join(layout.IN_PROGRESS).key}
        orphans = [k for k in _list_keys(s3, folder) if k not in committed | markers]
        if orphans:  # files of failed task attempts that Spark retried
            _delete_keys(s3, folder.bucket, orphans)
        result = TableResult(info.name, folder, sum(m["items"] for m in files), files,
                             sum(m["bytes"] for m in files), time.monotonic() - t0, plan,
                             time.monotonic() - scan_started)
        _commit(s3, cfg, info, folder, result, started)
    except interrupts.Stop as stop:
        raise Interrupted(f"Export of {info.name} stopped by {stop.name}; {_abort(s3, folder)}",
                          "Re-run the export: it writes a new run folder.", stop.signum
                          ) from None
    except DdbpipeError as err:
        raise with_fix(err, f"({_abort(s3, folder)})") from err
    except BaseException:
        _abort(s3, folder)
        raise
    return result


def _commit(s3: Any, cfg: ExportConfig, info: TableInfo, folder: S3Uri, result: TableResult,
            started: datetime) -> None:
    plan = result.plan
    assert plan is not None
    put = s3.put_object
    put(Bucket=folder.bucket, Key=folder.join(layout.MANIFEST).key,
        Body=layout.manifest_bytes(f["url"] for f in result.files))
    sidecar = {
        "toolVersion": __version__,
        "table": info.name,
        "region": info.region,
        "keySchema": info.description["KeySchema"],
        "attributeDefinitions": info.description["AttributeDefinitions"],
        "billingMode": info.billing_mode,
        "tableDefinition": layout.table_definition(info.description),
        "itemCount": result.items,
        "bytes": result.bytes,
        "files": [{"name": S3Uri.parse(f["url"]).name, "items": f["items"], "bytes": f["bytes"]}
                  for f in result.files],
        "compressed": cfg.compress,
        "startTime": started.isoformat(),
        "endTime": datetime.now(timezone.utc).isoformat(),
        "seconds": round(result.seconds, 3),
        "readPercent": plan.percent,
        "readCapacity": plan.capacity,
        "readCapacitySource": plan.capacity_source,
        "consumedReadUnits": round(result.read_units, 1),
        "achievedReadPercent": round(result.achieved_percent, 4),
        "segments": plan.segments,
        "tasks": plan.tasks,
        "tableItemCountEstimate": info.item_count,
        "tableSizeBytesEstimate": info.size_bytes,
    }
    put(Bucket=folder.bucket, Key=folder.join(layout.SIDECAR).key,
        Body=layout.sidecar_bytes(sidecar))
    s3.delete_object(Bucket=folder.bucket, Key=folder.join(layout.IN_PROGRESS).key)
    put(Bucket=folder.bucket, Key=folder.join(layout.SUCCESS).key, Body=b"")


def _abort(s3: Any, folder: S3Uri) -> str:
    """Empty the run folder of a failed export; returns what the user is told about it."""
    try:
        _delete_keys(s3, folder.bucket, _list_keys(s3, folder))
    except Exception as err:  # keep the original error; say what is left
        log.debug("could not clean %s/", folder, exc_info=True)
        return (f"{folder}/ could not be emptied ({type(err).__name__}): it holds an unfinished "
                "export (no _SUCCESS, so no import takes it); delete it by hand.")
    return f"{folder}/ was emptied."


def check_writable(s3: Any, dest: S3Uri) -> None:
    """Write and delete a probe object under ``dest``: a bucket we may read but not write fails
    here, in a second, instead of after Spark has started."""
    import uuid

    import botocore.exceptions

    probe = dest.join(f"_ddbpipe-write-check-{uuid.uuid4().hex[:12]}")
    try:
        s3.put_object(Bucket=probe.bucket, Key=probe.key, Body=b"")
    except botocore.exceptions.ClientError as err:
        if _s3_error_code(err) in ("403", "AccessDenied"):
            raise BucketError(f"Cannot write to {dest}/ (AccessDenied).",
                              "Grant s3:PutObject on the export prefix (see `ddbpipe iam "
                              "policy`).") from err
        raise
    s3.delete_object(Bucket=probe.bucket, Key=probe.key)


def preflight(cfg: ExportConfig) -> list[TableInfo]:
    """Every check that needs no Spark: endpoints answer, tables exist, the bucket is there and
    may be written."""
    check_reachable(cfg.aws, "dynamodb")
    check_reachable(cfg.aws, "s3")
    ddb = client(cfg.aws, "dynamodb")
    infos = [describe(ddb, t, cfg.aws.region, cfg.aws.endpoint("dynamodb")) for t in cfg.tables]
    s3 = client(cfg.aws, "s3")
    check_bucket(s3, cfg.dest, cfg.aws.endpoint("s3"))
    check_writable(s3, cfg.dest)
    return infos


def run(spark: Any, cfg: ExportConfig,
        checked: Optional[list[TableInfo]] = None) -> list[TableResult]:
    """Export every table of ``cfg``. Checks all inputs before anything is written."""
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
        print(result.summary(), flush=True)
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


def main(argv: Optional[Sequence[str]] = None, spark: Any = None) -> int:
    """Entry point of ``jobs/export_table.py`` (``spark-submit``, an EMR step)."""
    return submit_main(JOB, argv, spark)
