"""``ddbpipe export``: run the export job on a local Spark."""

from __future__ import annotations

import argparse

from ddbpipe import export
from ddbpipe.job import register_local


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_local(sub, export.JOB,
                   "export DynamoDB tables to S3 with a local Spark and the connector")
