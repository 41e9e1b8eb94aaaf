"""``ddbpipe convert``: any export folder ddbpipe can import, rewritten in any format it writes.

The driver detects the source as an import does (:func:`ddbpipe.importer.sources.detect`: its
format, its files, the refusals of an unfinished or damaged export), starts the destination as
an export starts its run folder (refuse a non-empty folder, the in-progress marker), lets Spark
tasks (:mod:`ddbpipe.convert.tasks`) read and write the files, then commits the manifests, the
sidecar and ``_SUCCESS`` last. When anything fails, the destination is emptied: a conversion
leaves a finished folder or nothing.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Optional

from ddbpipe import __version__, layout, native_layout
from ddbpipe.aws import AwsConfig, check_reachable, client
from ddbpipe.convert import tasks
from ddbpipe.convert.options import ConvertConfig, add_options, config_from_args
from ddbpipe.convert.report import ConvertResult
from ddbpipe.errors import ConfigError, JobFailed
from ddbpipe.export import folder as s3folder
from ddbpipe.export.messages import FileCommit, WriterConfig, read_commits
from ddbpipe.importer.plan import group_files
from ddbpipe.importer.sources import Source, detect
from ddbpipe.job import Job, Report
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import collect, default_parallelism
from ddbpipe.throttle import unreachable_seconds

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def preflight(cfg: ConvertConfig) -> Source:
    """Every check that needs no Spark: S3 answers, the source is a finished export ddbpipe
    reads, the destination's bucket is there, may be written and the folder is empty."""
    check_reachable(cfg.aws, "s3")
    s3 = client(cfg.aws, "s3")
    source = detect(s3, cfg.source, cfg.allow_incomplete)
    if source.incremental is not None:
        raise ConfigError(f"{cfg.source}/ is an incremental export: changes to a table (puts and "
                          "deletes), not a table's items to rewrite.",
                          "Apply it to a table with `ddbpipe import --from` after the full "
                          "export it follows; convert full exports.")
    s3folder.check_bucket(s3, cfg.dest, cfg.aws.endpoint("s3"))
    existing = s3folder.list_keys(s3, cfg.dest)
    if existing:
        raise ConfigError(f"{cfg.dest}/ already holds {len(existing)} objects.",
                          "Convert into a new (empty) folder.")
    s3folder.check_writable(s3, cfg.dest)
    return source


def run(spark: Any, cfg: ConvertConfig, checked: Optional[Source] = None,
        report: Optional[Report] = None) -> ConvertResult:
    """Convert ``cfg.source`` into ``cfg.dest``; on any failure the destination is emptied."""
    t0 = time.monotonic()
    source = checked if checked is not None else preflight(cfg)
    for note in source.notes:
        print(note, flush=True)
    s3 = client(cfg.aws, "s3")
    started = datetime.now(timezone.utc)
    fmt = cfg.output_format
    export_id = native_layout.new_export_id(started) if native_layout.is_native(fmt) else None
    s3folder.start(s3, cfg.dest)
    with s3folder.on_failure(f"Conversion of {cfg.source}/", cfg.dest,
                             lambda: f"nothing was written: {s3folder.abort(s3, cfg.dest)}",
                             lambda: "Re-run the conversion: it starts again."):
        files = write_files(spark, cfg.aws, source, cfg.dest, fmt, compress=cfg.compress,
                            items_per_file=cfg.items_per_file, export_id=export_id)
        result = ConvertResult(cfg.source, source.format, cfg.dest, fmt,
                               sum(f.items for f in files), files, time.monotonic() - t0,
                               notes=[n for n in source.notes if n.startswith("WARNING")])
        table_arn, table_id = _native_table(s3, source) if export_id else (None, None)
        s3folder.commit(s3, cfg.dest, s3folder.run_manifests(
            cfg.dest, files, fmt, export_id, table_arn=table_arn, table_id=table_id,
            started=started, export_time=started),
            sidecar(cfg, source, result, started, export_id))
    if report is not None:
        report(result)
    return result


def write_files(spark: Any, aws: AwsConfig, source: Source, dest: S3Uri, fmt: str, *,
                compress: bool = False, items_per_file: int = layout.ITEMS_PER_FILE,
                export_id: Optional[str] = None) -> list[FileCommit]:
    """Rewrite every file of ``source`` under ``dest`` in ``fmt`` (native formats: under
    ``AWSDynamoDB/<export_id>/``, with its ``_started``) with a Spark job; the commit messages
    of the files written, sorted by URL. Files of retried task attempts are deleted (everything
    under ``dest`` but the files committed, the markers and ``_ddbpipe-state/``). Also what
    ``ddbpipe export --source pitr`` writes its run folder with."""
    s3 = client(aws, "s3")
    files_folder = dest
    keep: set[str] = set()
    if export_id is not None:
        started = native_layout.export_folder(dest, export_id).join(native_layout.STARTED)
        s3.put_object(Bucket=started.bucket, Key=started.key, Body=b"")
        keep.add(started.key)
        files_folder = native_layout.data_folder(dest, export_id)
    writer = WriterConfig(folder=str(files_folder), region=aws.region,
                          endpoints=dict(aws.endpoints), profile=aws.profile,
                          items_per_file=items_per_file, compress=compress,
                          verbose=log.isEnabledFor(logging.DEBUG),
                          unreachable_after=unreachable_seconds(), format=fmt, encoded=True)
    task = tasks.ConvertTask(aws, source.line_format, writer)
    groups = group_files(source.files, default_parallelism(spark) * 2)
    sc = spark.sparkContext
    lines: list[str] = collect(
        f"Conversion of {source.folder}/",
        lambda: sc.parallelize(groups, max(1, len(groups)))
        .mapPartitions(partial(tasks.convert, task)).collect())
    files = read_commits(lines)
    known = [f.items for f in source.files if f.items is not None]
    written = sum(f.items for f in files)
    if len(known) == len(source.files) and written != sum(known):  # a lost task's files
        raise JobFailed(f"{written} items were written but the source's manifests count "
                        f"{sum(known)}.", "Re-run the conversion.")
    s3folder.remove_orphans(s3, dest, keep | {S3Uri.parse(f.url).key for f in files})
    return files


def _native_table(s3: S3Client, source: Source) -> tuple[Optional[str], Optional[str]]:
    """The table's ARN and id for a native summary: from the source's own summary when it is a
    native export (a conversion does not read the table)."""
    if source.format not in ("native-json", "native-ion"):
        return None, None
    import json

    where = source.folder.join(native_layout.SUMMARY)
    try:
        doc = json.loads(s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read())
    except Exception:  # the summary was read by detect a moment ago; a missing ARN is no harm
        log.debug("could not read %s", where, exc_info=True)
        return None, None
    return doc.get("tableArn"), doc.get("tableId")


def sidecar(cfg: ConvertConfig, source: Source, result: ConvertResult, started: datetime,
            export_id: Optional[str]) -> dict[str, Any]:
    """The ``ddbpipe-export.json`` of a conversion: the source's table facts (when it said
    them), where it came from, and the files."""
    side = dict(source.sidecar or {})
    out: dict[str, Any] = {
        **{k: side[k] for k in ("table", "region", "billingMode", "tableDefinition",
                                "tableSettings", "tableSettingsNotes") if k in side},
        "toolVersion": __version__,
        "keySchema": source.key_schema,
        "attributeDefinitions": source.attribute_definitions,
        "convertedFrom": str(source.folder),
        "sourceFormat": source.format,
        "outputFormat": cfg.output_format,
        "itemCount": result.items,
        "bytes": result.bytes,
        "files": [{"name": S3Uri.parse(f.url).name, "items": f.items, "bytes": f.bytes}
                  for f in result.files],
        "compressed": cfg.compress or export_id is not None,
        "startTime": started.isoformat(),
        "endTime": datetime.now(timezone.utc).isoformat(),
        "seconds": round(result.seconds, 3),
    }
    if source.source_region and "region" not in out:
        out["region"] = source.source_region
    if source.incomplete:
        out["incompleteSource"] = source.incomplete
    if export_id is not None:
        out.update(native_layout.sidecar_fields(cfg.dest, export_id, cfg.output_format))
    return out


JOB = Job(
    name="convert",
    description="Rewrite an export folder (any format ddbpipe imports) in another format: the "
                "Data Pipeline format or DynamoDB's own export layout (DYNAMODB_JSON, ION).",
    add_options=add_options,
    config_from_args=config_from_args,
    preflight=preflight,
    run=run,
)

main = JOB.main
