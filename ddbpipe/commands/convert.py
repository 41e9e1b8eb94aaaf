"""``ddbpipe convert``: rewrite an export folder in another format, on a local Spark."""

from __future__ import annotations

import argparse

from ddbpipe import convert
from ddbpipe.job import register_local


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_local(sub, convert.JOB, "rewrite an export folder in another format "
                                     "(Data Pipeline, DynamoDB JSON, ION) with a local Spark")
