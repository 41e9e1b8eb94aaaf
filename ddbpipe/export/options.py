"""The export's options: ``ExportConfig`` (validated on construction) and its argparse flags,
shared by ``ddbpipe export``, ``jobs/export_table.py`` and ``ddbpipe emr export``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Optional

from ddbpipe import capacity, checks, layout
from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri


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
    checks.add_rate_options(parser, "read", "RCU", capacity.ON_DEMAND_DEFAULT_RCU)
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
