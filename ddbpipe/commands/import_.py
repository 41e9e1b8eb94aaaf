"""``ddbpipe import``: run the import job on a local Spark."""

from __future__ import annotations

import argparse

from ddbpipe import importer
from ddbpipe.job import register_local


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    register_local(sub, importer.JOB,
                   "import an export folder from S3 into a DynamoDB table (local Spark)")
