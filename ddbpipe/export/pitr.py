"""``ddbpipe export --source pitr``: a consistent copy that uses no read capacity.

DynamoDB's ExportTableToPointInTime writes the table as it was at one point in time (from its
continuous backups, not by reading the table) into ``RUN/_ddbpipe-state/pitr/``; ddbpipe waits for
it with progress lines, then rewrites it into the run folder in the requested format with the
conversion's Spark job (:func:`ddbpipe.convert.driver.write_files`) and commits the folder as a
scan's (manifest, sidecar, ``_SUCCESS`` last); the staging copy goes with ``_ddbpipe-state/``.
The sidecar records the export's time and ARN and that no read capacity was used. A failure
empties the run folder (there is nothing to resume: DynamoDB made the copy in one piece).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Optional

from ddbpipe import interrupts, native_layout, tablesettings
from ddbpipe.aws import client, error_code
from ddbpipe.errors import ConfigError, JobFailed
from ddbpipe.export import folder as s3folder
from ddbpipe.export import state
from ddbpipe.export.options import ExportConfig
from ddbpipe.export.report import TableResult
from ddbpipe.importer.sources import Source, detect
from ddbpipe.s3uri import S3Uri
from ddbpipe.tables import TableInfo

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: How often DescribeExport is asked, and how often the wait is told.
POLL_SECONDS = 5.0
PROGRESS_SECONDS = 10.0
#: Where DynamoDB writes its export, under the run folder's ``_ddbpipe-state/``.
STAGING = "pitr"


def _not_enabled(table: str) -> ConfigError:
    return ConfigError(
        f"Point-in-time recovery is not enabled on table {table}: an export with --source pitr "
        "needs it.",
        f"Enable it with `aws dynamodb update-continuous-backups --table-name {table} "
        "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true` (or export "
        "with --source scan); nothing was written.")


def check_enabled(ddb: DynamoDBClient, table: str, export_time: Optional[datetime]) -> None:
    """Refuse, before anything is written, a table without point-in-time recovery or a time
    outside its recovery window."""
    desc = ddb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    recovery: Any = desc.get("PointInTimeRecoveryDescription") or {}
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise _not_enabled(table)
    earliest = recovery.get("EarliestRestorableDateTime")
    latest = recovery.get("LatestRestorableDateTime")
    if export_time is not None and earliest and latest and not earliest <= export_time <= latest:
        raise ConfigError(f"--export-time {export_time.isoformat()} is outside the recovery "
                          f"window of {table} ({earliest.isoformat()} .. {latest.isoformat()}).",
                          "Give a time inside it, or leave --export-time out (now).")


def start(ddb: DynamoDBClient, info: TableInfo, staging: S3Uri,
          export_time: Optional[datetime]) -> str:
    """ExportTableToPointInTime into ``staging``; returns the export's ARN."""
    import botocore.exceptions

    args: dict[str, Any] = {"TableArn": info.description["TableArn"],
                            "S3Bucket": staging.bucket, "S3Prefix": staging.key,
                            "ExportFormat": "DYNAMODB_JSON", "ExportType": "FULL_EXPORT"}
    if export_time is not None:
        args["ExportTime"] = export_time
    try:
        return str(ddb.export_table_to_point_in_time(**args)["ExportDescription"]["ExportArn"])
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        if code == "PointInTimeRecoveryUnavailableException":
            raise _not_enabled(info.name) from err
        if code == "InvalidExportTimeException":
            raise ConfigError(f"DynamoDB refuses --export-time for {info.name} ({err}).",
                              "Give a time inside the table's recovery window.") from err
        if code == "LimitExceededException":
            raise JobFailed(f"DynamoDB runs as many exports of this account as it allows ({err}).",
                            "Wait for one to finish, then run the export again.") from err
        raise


def wait(ddb: DynamoDBClient, arn: str, table: str, *, poll: float = POLL_SECONDS,
         sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.monotonic,
         say: Callable[[str], None] = print) -> dict[str, Any]:
    """DescribeExport until the export is COMPLETED (returns its description) or FAILED
    (raises, with DynamoDB's reason); a progress line every ``PROGRESS_SECONDS``."""
    t0 = told = clock()
    while True:
        interrupts.check()
        desc: dict[str, Any] = dict(ddb.describe_export(ExportArn=arn)["ExportDescription"])
        status = desc.get("ExportStatus")
        if status == "COMPLETED":
            return desc
        if status == "FAILED":
            raise JobFailed(f"DynamoDB's point-in-time export of {table} failed: "
                            f"{desc.get('FailureCode') or 'no code'}: "
                            f"{desc.get('FailureMessage') or 'no message'} ({arn}).",
                            "Check that DynamoDB may write the bucket (its policy, KMS key), "
                            "then run the export again.")
        now = clock()
        if now - told >= PROGRESS_SECONDS:
            say(f"ddbpipe: progress: {table}: point-in-time export {str(status).lower()} for "
                f"{now - t0:.0f} s ({arn})")
            told = now
        sleep(poll)


def exported(s3: S3Client, staging: S3Uri, desc: dict[str, Any]) -> Source:
    """The export DynamoDB finished, as the importer reads it. Its manifests are trusted as an
    import trusts them; an export without them (moto writes data files only) is taken by its
    COMPLETED status and checked against DescribeExport's item count when the files are
    read."""
    source = detect(s3, staging, allow_incomplete=True)
    if source.incomplete is not None:
        log.info("%s: %s; DescribeExport says COMPLETED", staging, source.incomplete)
        source.incomplete = None
        source.notes = [n for n in source.notes if not n.startswith("WARNING")]
    return source


def export_table(spark: Any, cfg: ExportConfig, info: TableInfo, folder: S3Uri,
                 s3: S3Client) -> TableResult:
    """Export ``info``'s table at a point in time into the run folder ``folder``."""
    from ddbpipe.convert.driver import write_files

    t0 = time.monotonic()
    started = datetime.now(timezone.utc)
    fmt = cfg.output_format
    export_id = native_layout.new_export_id(started) if native_layout.is_native(fmt) else None
    staging = state.state_folder(folder).join(STAGING)
    ddb = client(cfg.aws, "dynamodb")
    running: list[str] = []  # the ARN of DynamoDB's export while it has not ended

    def leave() -> str:
        left = s3folder.abort(s3, folder)
        if not running:
            return left
        return (f"{left}; DynamoDB's export {running[0]} goes on and may still write under "
                f"{staging}/ (delete it when it is done)")

    s3folder.start(s3, folder)
    with s3folder.on_failure(f"Export of {info.name}", folder, leave,
                             lambda: "Re-run the export: it writes a new run folder."):
        arn = start(ddb, info, staging, cfg.export_time)
        running.append(arn)
        print(f"{info.name}: point-in-time export started ({arn}); DynamoDB writes it to "
              f"{staging}/", flush=True)
        desc = wait(ddb, arn, info.name)
        running.clear()
        source = exported(s3, staging, desc)
        files = write_files(spark, cfg.aws, source, folder, fmt, compress=cfg.compress,
                            items_per_file=cfg.items_per_file, export_id=export_id)
        items = sum(f.items for f in files)
        if desc.get("ItemCount") is not None and int(desc["ItemCount"]) != items:
            raise JobFailed(f"DynamoDB's export of {info.name} counts {desc['ItemCount']} items "
                            f"but its files hold {items} ({arn}).", "Run the export again.")
        when = desc.get("ExportTime") or cfg.export_time or started
        result = TableResult(info.name, folder, items, files, sum(f.bytes for f in files),
                             time.monotonic() - t0, export_time=when.isoformat())
        settings = tablesettings.read(ddb, info.description)
        side = {**s3folder.table_facts(info, files, cfg.compress or export_id is not None,
                                       started, result.seconds, settings),
                "source": "pitr", "exportTime": when.isoformat(), "exportArn": arn,
                "consumedReadUnits": 0, "readCapacityUsed": False}
        s3folder.commit_run(s3, folder, info, files, side, fmt, export_id, started=started,
                            export_time=when)
    s3folder.tidy(s3, folder)  # and with it DynamoDB's copy
    return result
