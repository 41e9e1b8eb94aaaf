"""A stand-in for ``aws s3 cp [--only-show-errors] [--region R] SRC DST`` (one object, either way)
that talks to the S3 endpoint in ``AWS_ENDPOINT_URL_S3`` with boto3.

The rehearsal test puts it on the bootstrap's PATH as ``aws``: it is the only way the script
reaches S3, and any other ``aws`` command line fails loudly (exit 2) instead of being guessed at.
Every call is appended to ``$AWS_STANDIN_LOG``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3


def main(argv: list[str]) -> int:
    log = os.environ.get("AWS_STANDIN_LOG")
    if log:
        with open(log, "a") as f:
            f.write("aws " + " ".join(argv) + "\n")
    if argv[:2] != ["s3", "cp"]:
        print(f"aws stand-in: only `s3 cp` is served, not {argv[:2]}", file=sys.stderr)
        return 2
    args = argv[2:]
    region = None
    positional = []
    while args:
        word = args.pop(0)
        if word == "--only-show-errors":
            continue
        if word == "--region":
            region = args.pop(0)
        elif word.startswith("--"):
            print(f"aws stand-in: unknown option {word}", file=sys.stderr)
            return 2
        else:
            positional.append(word)
    if len(positional) != 2:
        print("aws stand-in: give SRC and DST", file=sys.stderr)
        return 2
    src, dst = positional
    endpoint = os.environ["AWS_ENDPOINT_URL_S3"]  # never the real S3
    s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint)
    try:
        if src.startswith("s3://") and not dst.startswith("s3://"):
            bucket, _, key = src[5:].partition("/")
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            Path(dst).write_bytes(body)
        elif dst.startswith("s3://") and not src.startswith("s3://"):
            bucket, _, key = dst[5:].partition("/")
            s3.put_object(Bucket=bucket, Key=key, Body=Path(src).read_bytes())
        else:
            print("aws stand-in: one side must be s3://, the other a file", file=sys.stderr)
            return 2
    except Exception as err:  # what the real CLI does: a message and exit 1
        print(f"download failed: {src} to {dst} {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
