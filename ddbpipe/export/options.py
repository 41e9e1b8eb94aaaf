"""The export's options: ``ExportConfig`` (validated on construction) and its argparse flags,
shared by ``ddbpipe export``, ``jobs/export_table.py`` and ``ddbpipe emr export``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional

from ddbpipe import capacity, checks, layout
from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError
from ddbpipe.native_layout import OUTPUT_FORMATS, OutputFormat
from ddbpipe.s3uri import S3Uri

#: ``--source`` values.
SOURCES = ("scan", "pitr")


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
    #: The run folder of an unfinished export to finish (``--resume``); its run record names the
    #: table and the plan, ``tables`` and ``dest`` then only have to agree with it.
    resume: Optional[S3Uri] = None
    #: ``dp`` (Data Pipeline, the default) or DynamoDB's native ``dynamodb-json`` / ``ion``.
    output_format: OutputFormat = "dp"
    #: ``scan`` (the connector reads the table) or ``pitr`` (ExportTableToPointInTime: no RCU).
    source: str = "scan"
    #: With ``pitr``: the point in time to export (default: now).
    export_time: Optional[datetime] = None

    def __post_init__(self) -> None:
        if self.resume is not None:
            if len(self.tables) > 1:
                raise ConfigError("--resume finishes one table's run folder; several --table "
                                  "were given.", "Resume each run folder on its own.")
        elif not self.tables:
            raise ConfigError("No table to export.", "Pass --table NAME (repeat it for several).")
        for table in self.tables:
            checks.check_table_name(table)
        dupes = {t for t in self.tables if self.tables.count(t) > 1}
        if dupes:
            raise ConfigError(f"Table {sorted(dupes)[0]!r} is given twice.", "Name each once.")
        checks.check_percent(self.read_percent, "--read-percent")
        checks.check_capacity(self.read_capacity, "--read-capacity")
        if self.source not in SOURCES:
            raise ConfigError(f"--source {self.source!r} is not a source ddbpipe reads.",
                              f"Use one of {', '.join(SOURCES)}.")
        if self.export_time is not None and self.source != "pitr":
            raise ConfigError("--export-time needs --source pitr.",
                              "Add --source pitr, or leave --export-time out.")
        if self.source == "pitr" and self.resume is not None:
            raise ConfigError("A point-in-time export cannot be resumed (DynamoDB made it in "
                              "one piece).", "Run the export again without --resume.")
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(f"--format {self.output_format!r} is not a format ddbpipe writes.",
                              f"Use one of {', '.join(OUTPUT_FORMATS)}.")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The export job's own options (shared by ``ddbpipe export``, the job and ``emr export``)."""
    parser.add_argument("--table", action="append", metavar="TABLE",
                        help="table to export; repeat for several tables in one run")
    parser.add_argument("--to", metavar="S3_URI",
                        help="s3://BUCKET (folder s3://BUCKET/REGION/TABLE/<time>) or "
                             "s3://BUCKET/PREFIX (folder PREFIX/TABLE/<time>)")
    checks.add_rate_options(parser, "read", "RCU", capacity.ON_DEMAND_DEFAULT_RCU)
    parser.add_argument("--compress", action="store_true", help="gzip the data files (.gz)")
    parser.add_argument("--format", dest="output_format", metavar="|".join(OUTPUT_FORMATS),
                        help="dp: the Data Pipeline format (default); dynamodb-json or ion: "
                             "DynamoDB's own Export to S3 layout (AWSDynamoDB/<id>/data/*.gz, "
                             "manifest-summary.json), which ImportTable, Glue and Athena read")
    parser.add_argument("--source", metavar="scan|pitr",
                        help="scan: read the table with --read-percent of its capacity "
                             "(default); pitr: DynamoDB's ExportTableToPointInTime, a consistent "
                             "copy that uses no read capacity (point-in-time recovery must be "
                             "on), written in the usual run folder")
    parser.add_argument("--export-time", metavar="ISO_TIME",
                        help="with --source pitr: the point in time to export, e.g. "
                             "2026-12-01T02:00:00Z (default: now)")
    parser.add_argument("--resume", metavar="RUN_FOLDER",
                        help="finish the unfinished export in this run folder "
                             "(s3://.../TABLE/<time>): only the splits it has not finished are "
                             "read; --table and --to may be left out")


def config_from_args(args: argparse.Namespace, aws: AwsConfig) -> ExportConfig:
    resume = S3Uri.parse(args.resume, "--resume") if args.resume else None
    if resume is None and (not args.table or not args.to):
        missing = " and ".join(f for f, v in (("--table", args.table), ("--to", args.to))
                               if not v)
        raise ConfigError(f"{missing} {'is' if ' and ' not in missing else 'are'} required.",
                          "Name the table(s) and the destination, or --resume RUN_FOLDER to "
                          "finish an unfinished export.")
    if resume is not None and not resume.key:
        raise ConfigError(f"--resume {resume} is a bucket, not a run folder.",
                          "Give the run folder the stopped export named (s3://.../TABLE/<time>).")
    dest = S3Uri.parse(args.to, "--to") if args.to else resume
    assert dest is not None  # one of them was given (checked above)
    return ExportConfig(
        tables=tuple(args.table or ()),
        dest=dest,
        aws=aws,
        read_percent=args.read_percent,
        read_capacity=args.read_capacity,
        compress=args.compress,
        resume=resume,
        output_format=args.output_format or "dp",
        source=args.source or "scan",
        export_time=parse_time(args.export_time, "--export-time") if args.export_time else None,
    )


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; without one, UTC)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{option} {text!r} is not a time.",
                          "Give an ISO 8601 time, e.g. 2026-12-01T02:00:00Z.") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
