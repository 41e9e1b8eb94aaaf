"""``ddbpipe export``: run the export job on a local Spark."""

from __future__ import annotations

import argparse

from ddbpipe import export
from ddbpipe.aws import resolve


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from ddbpipe.cli import add_aws_options

    parser = sub.add_parser(
        "export", help="export DynamoDB tables to S3 with a local Spark and the connector",
        description="Export one or several DynamoDB tables to S3 in the Data Pipeline format.",
    )
    export.add_options(parser)
    add_aws_options(parser)
    parser.add_argument("--master", help="Spark master (default local[*])")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ddbpipe.spark import local_session

    aws = resolve(args.region, args.endpoint_url, args.profile)
    cfg = export.config_from_args(args, aws)
    export.preflight(cfg)  # fail in a second, before Spark starts
    spark = local_session(aws, "ddbpipe-export", args.master)
    try:
        export.run(spark, cfg)
    finally:
        spark.stop()
    return 0
