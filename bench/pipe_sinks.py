"""Consumers of the export's pipe for ``bench.export_writer``, each run by Spark's ``pipe`` as
the partition writer is:

* ``python -m bench.pipe_sinks count`` reads the lines as the partition writer reads them (1 MiB
  at a time) and prints how many: the floor of any Python consumer;
* ``python -m bench.pipe_sinks discard`` runs the partition writer itself
  (``ddbpipe.export.partwriter.write_partition``, configured by ``DDBPIPE_WRITER``) against an S3
  that answers every request and keeps nothing: the writer without the upload.
"""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CHUNK = 1 << 20


def count(stream: IO[bytes]) -> int:
    """Lines on ``stream``, read in chunks of 1 MiB."""
    lines = 0
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return lines
        lines += chunk.count(b"\n")


class DiscardingS3:
    """The S3 calls of the partition writer, answered at once; the bytes are dropped."""

    def create_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"UploadId": "discarded"}

    def upload_part(self, **_: Any) -> dict[str, Any]:
        return {"ETag": '"discarded"'}

    def complete_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {"ETag": '"discarded"'}

    def put_object(self, **_: Any) -> dict[str, Any]:
        return {"ETag": '"discarded"'}

    def abort_multipart_upload(self, **_: Any) -> dict[str, Any]:
        return {}


def discard(stream: IO[bytes], out: IO[str]) -> int:
    """The partition writer on ``stream`` (its commit lines on ``out``), S3 discarded."""
    from ddbpipe.export.messages import ENV_VAR, WriterConfig
    from ddbpipe.export.partwriter import write_partition

    cfg = WriterConfig.from_env(os.environ[ENV_VAR])
    return write_partition(stream, cfg, cast("S3Client", DiscardingS3()), out)


def main(argv: list[str]) -> int:
    if argv == ["count"]:
        print(count(sys.stdin.buffer), flush=True)
        return 0
    if argv == ["discard"]:
        discard(sys.stdin.buffer, sys.stdout)
        return 0
    print("usage: python -m bench.pipe_sinks count|discard", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
