"""The import's options: ``ImportConfig`` (validated on construction) and its argparse flags,
shared by ``ddbpipe import``, ``jobs/import_table.py`` and ``ddbpipe emr import``."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal, Optional, get_args

from ddbpipe import capacity, checks
from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError
from ddbpipe.importer.state import UNIT_ITEMS
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
    #: skip what the run state of an earlier, unfinished import says is written
    resume: bool = False
    #: where the run state lives (default: beside the export folder, see importer/state.py)
    state_prefix: Optional[S3Uri] = None
    #: a data file's lines are recorded as written every this many items (--resume-unit-items)
    unit_items: int = UNIT_ITEMS

    def __post_init__(self) -> None:
        checks.check_table_name(self.table)
        if self.state_prefix is not None and not self.state_prefix.key:
            raise ConfigError(f"--state-prefix {self.state_prefix} is a bucket root.",
                              "Give a folder of its own, e.g. s3://BUCKET/ddbpipe-state/orders.")
        if self.unit_items < 1:
            raise ConfigError(f"--resume-unit-items {self.unit_items} is not a number of items.",
                              "Give a whole number >= 1.")
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
    parser.add_argument("--resume", action="store_true",
                        help="skip the files (and lines) an earlier run of this same import "
                             "wrote before it stopped, as its run state in S3 records")
    parser.add_argument("--state-prefix", metavar="S3_URI",
                        help="where the import records its progress (default: "
                             "_ddbpipe-state/import-<table>-<hash>/ beside the export folder)")
    # How often a task records its progress inside a data file (default UNIT_ITEMS); tests make
    # it small. None unless given, so an EMR step's argv carries it only when it was.
    parser.add_argument("--resume-unit-items", type=int, help=argparse.SUPPRESS)


def config_from_args(args: argparse.Namespace, aws: AwsConfig) -> ImportConfig:
    return ImportConfig(
        source=S3Uri.parse(args.source, "--from"), table=args.table, aws=aws,
        write_percent=args.write_percent, write_capacity=args.write_capacity, mode=args.mode,
        yes=args.yes, create_table=args.create_table, skip_validation=args.skip_validation,
        allow_incomplete=args.allow_incomplete, max_retry_time=args.max_retry_time,
        resume=args.resume,
        unit_items=UNIT_ITEMS if args.resume_unit_items is None else args.resume_unit_items,
        state_prefix=(S3Uri.parse(args.state_prefix, "--state-prefix") if args.state_prefix
                      else None),
    )

