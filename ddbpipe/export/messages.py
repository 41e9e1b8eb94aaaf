"""What the export driver and its partition writer processes say to each other.

The driver gives each ``python -m ddbpipe.export.partwriter`` process a :class:`WriterConfig` in
the ``DDBPIPE_WRITER`` environment variable (never argv); each process answers with one
:class:`FileCommit` per data file (or a failure record, :mod:`ddbpipe.failures`) on stdout.

This module, not the writer, is what the driver imports: a package import that loaded
``ddbpipe.export.partwriter`` before ``python -m`` runs it would make runpy warn on every
executor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

from ddbpipe import failures
from ddbpipe.layout import ITEMS_PER_FILE
from ddbpipe.throttle import MAX_RETRY_SECONDS, UNREACHABLE_SECONDS

ENV_VAR = "DDBPIPE_WRITER"
#: The module Spark pipes each partition into (``python -m``).
WRITER_MODULE = "ddbpipe.export.partwriter"


@dataclass(frozen=True)
class WriterConfig:
    folder: str  # s3://bucket/prefix/of/the/run
    region: str
    endpoints: dict[str, str]
    profile: Optional[str] = None
    items_per_file: int = ITEMS_PER_FILE
    compress: bool = False
    verbose: bool = False
    max_retry_time: float = MAX_RETRY_SECONDS
    unreachable_after: float = UNREACHABLE_SECONDS
    progress: Optional[str] = None  # s3://... folder of the progress beacons (ddbpipe.progress)
    format: str = "dp"  # ddbpipe.native_layout.OutputFormat: dp, dynamodb-json or ion
    #: The lines come already in ``format`` (``ddbpipe convert``), not as the connector's Data
    #: Pipeline lines to re-encode.
    encoded: bool = False

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> WriterConfig:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class FileCommit:
    """One data file the partition writer finished: its commit message, one JSON line on the
    writer's stdout, collected by the driver to write the manifest and the sidecar."""

    url: str
    items: int
    bytes: int  # as written (uncompressed)
    stored_bytes: int  # as stored (gzip, when compressed)
    item_bytes: int  # DynamoDB's size of its items (sampled), for the consumed read units
    md5: Optional[str] = None  # base64 MD5 of the stored object (the native manifest's)
    etag: Optional[str] = None  # S3's ETag of the object, without quotes

    def to_json(self) -> str:
        """The commit line; the native formats' checksums only when there are some."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})

    @classmethod
    def from_json(cls, text: str) -> FileCommit:
        return cls(**json.loads(text))


def read_commits(lines: Iterable[str]) -> list[FileCommit]:
    """The commit messages of every partition writer, sorted by URL; raises the first failure a
    writer reported (:func:`ddbpipe.failures.record`) instead."""
    docs = [json.loads(line) for line in lines if str(line).strip()]
    failed = [e for e in map(failures.from_record, docs) if e is not None]
    if failed:
        raise failed[0]
    return sorted((FileCommit(**doc) for doc in docs), key=lambda c: c.url)
