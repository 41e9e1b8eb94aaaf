"""The import's options: ``ImportConfig`` (validated on construction) and its argparse flags,
shared by ``ddbpipe import``, ``jobs/import_table.py`` and ``ddbpipe emr import``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal, Optional, get_args

from ddbpipe import capacity, checks
from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri
from ddbpipe.throttle import MAX_RETRY_SECONDS

#: merge adds and replaces items; replace also deletes the items the export lacks.
Mode = Literal["merge", "replace"]
MODES: tuple[Mode, ...] = get_args(Mode)


@dataclass(frozen=True)
class ImportConfig:
    source: S3Uri
    table: str
    aws: AwsConfig
    write_percent: float = 0.5
    write_capacity: Optional[int] = None
    mode: Mode = "merge"
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
    checks.add_rate_options(parser, "write", "WCU", capacity.ON_DEMAND_DEFAULT_WCU)
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

