"""The checks of argument values that several commands take, written once.

Every command that takes a table name, a percent of capacity, a capacity or a region checks it
here, so ``ddbpipe export``, ``ddbpipe import``, the spark-submit jobs and ``ddbpipe emr ...``
refuse the same value with the same one-line message, before any AWS call. Bucket names are
checked where S3 URIs are parsed (:class:`ddbpipe.s3uri.S3Uri`).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Literal, Optional

from ddbpipe.errors import ConfigError

#: DynamoDB's rule for table names (CreateTable, TableName: 3-255 of [a-zA-Z0-9_.-]).
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{3,255}$")
#: Region names of every AWS partition: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
PERCENT_RANGE = (0.1, 1.5)


def check_table_name(name: str, option: str = "--table") -> str:
    if not _TABLE_NAME.match(name):
        raise ConfigError(f"{option} {name!r} is not a DynamoDB table name.",
                          "Table names are 3-255 letters, digits, '_', '-' or '.'.")
    return name


def check_percent(value: float, option: str) -> float:
    low, high = PERCENT_RANGE
    if math.isnan(value) or not (low <= value <= high):
        raise ConfigError(
            f"{option} {value} is outside {low}..{high}.",
            f"Give a fraction of the table's capacity between {low} and {high} (0.5 = half).",
        )
    return value


def check_capacity(value: Optional[int], option: str) -> Optional[int]:
    if value is not None and value < 1:
        raise ConfigError(f"{option} {value} is not a capacity.", "Give a whole number >= 1.")
    return value


def check_region(region: str, option: str = "--region") -> str:
    if not _REGION.match(region):
        raise ConfigError(f"{option} {region!r} is not an AWS region.",
                          "Give one like us-east-1 or eu-west-1.")
    return region


def check_seconds(value: float, option: str, minimum: float = 1.0) -> float:
    if math.isnan(value) or value < minimum:
        raise ConfigError(f"{option} {value} is too short.",
                          f"Give a number of seconds >= {minimum:g}.")
    return value


def add_rate_options(parser: argparse.ArgumentParser, direction: Literal["read", "write"],
                     unit: str, on_demand_default: int) -> None:
    """``--read-percent``/``--read-capacity`` (export) or ``--write-...`` (import)."""
    parser.add_argument(f"--{direction}-percent", type=float, default=0.5,
                        help=f"fraction of the table's {direction} capacity to use, 0.1..1.5 "
                             "(default 0.5)")
    parser.add_argument(f"--{direction}-capacity", type=int, metavar=unit,
                        help=f"{direction} capacity to plan with (on-demand tables: default "
                             f"{on_demand_default})")
