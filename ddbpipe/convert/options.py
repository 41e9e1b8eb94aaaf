"""The conversion's options: ``ConvertConfig`` (validated on construction) and its flags."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ddbpipe import layout
from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError
from ddbpipe.native_layout import OUTPUT_FORMATS, OutputFormat
from ddbpipe.s3uri import S3Uri


@dataclass(frozen=True)
class ConvertConfig:
    source: S3Uri
    dest: S3Uri
    aws: AwsConfig
    output_format: OutputFormat = "dp"
    compress: bool = False
    items_per_file: int = layout.ITEMS_PER_FILE
    allow_incomplete: bool = False

    def __post_init__(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ConfigError(f"--format {self.output_format!r} is not a format ddbpipe writes.",
                              f"Use one of {', '.join(OUTPUT_FORMATS)}.")
        if not self.dest.key:
            raise ConfigError(f"--to {self.dest} is a bucket, not a folder.",
                              "Give the folder to write, e.g. s3://BUCKET/converted/Orders.")
        if self.source.bucket == self.dest.bucket and (
                self.dest.prefix.startswith(self.source.prefix)
                or self.source.prefix.startswith(self.dest.prefix)):
            raise ConfigError(f"--to {self.dest} and --from {self.source} overlap.",
                              "Write the conversion to a folder outside the export (and not "
                              "above it).")


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="source", metavar="S3_URI",
                        help="any folder `ddbpipe import` reads (Data Pipeline, Hive, ddbpipe, "
                             "DynamoDB's native JSON or ION export)")
    parser.add_argument("--to", dest="dest", metavar="S3_URI",
                        help="an empty folder for the result (manifest, sidecar, _SUCCESS)")
    parser.add_argument("--format", dest="output_format", metavar="|".join(OUTPUT_FORMATS),
                        help="dp: the Data Pipeline format (default); dynamodb-json or ion: "
                             "DynamoDB's own Export to S3 layout")
    parser.add_argument("--compress", action="store_true",
                        help="gzip the Data Pipeline data files (the native formats always are)")
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="convert an export that did not finish (the result says so)")


def config_from_args(args: argparse.Namespace, aws: AwsConfig) -> ConvertConfig:
    missing = [flag for flag, value in (("--from", args.source), ("--to", args.dest)) if not value]
    if missing:
        raise ConfigError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                          "required.", "Name the export folder to read (--from) and an empty "
                          "folder to write (--to).")
    return ConvertConfig(
        source=S3Uri.parse(args.source, "--from"),
        dest=S3Uri.parse(args.dest, "--to"),
        aws=aws,
        output_format=args.output_format or "dp",
        compress=args.compress,
        allow_incomplete=args.allow_incomplete,
    )
