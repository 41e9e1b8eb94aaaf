"""``ddbpipe import``: run the import job on a local Spark."""

from __future__ import annotations

import argparse

from ddbpipe import importer
from ddbpipe.aws import resolve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ddbpipe.cli import add_aws_options

    parser = sub.add_parser(
        "import", help="import an export folder from S3 into a DynamoDB table (local Spark)",
        description="Import a Data Pipeline, ddbpipe or DynamoDB native export into a table.",
    )
    importer.add_options(parser)
    add_aws_options(parser)
    parser.add_argument("--master", help="Spark master (default local[*])")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ddbpipe.spark import local_session

    aws = resolve(args.region, args.endpoint_url, args.profile)
    cfg = importer.config_from_args(args, aws)
    importer.preflight(cfg)  # fail in a second, before Spark starts
    spark = local_session(aws, "ddbpipe-import", args.master)
    try:
        importer.run(spark, cfg)
    finally:
        spark.stop()
    return 0
