"""What an unfinished export keeps so that ``ddbpipe export --resume FOLDER`` reads only the rest.

The connector's splits are a pure function of two numbers ddbpipe sets, the scan segments and the
task count (``DynamoDBSplitGenerator``: split *i* of *n* scans segments *i*, *i + n*, ...), and
Spark's partition *i* of the connector's RDD is split *i*. So the run folder keeps, under
``_ddbpipe-state/``:

* ``run.json`` -- the :class:`RunRecord`: the table, the segments and splits, the options that
  shape the files; written before the first item is read;
* ``split-NNNNN.json`` -- one per finished split: the commit messages of its data files, written
  by the driver as soon as the split's Spark job returns;
* ``progress/`` -- the partition writers' progress beacons (:mod:`ddbpipe.progress`).

A resumed run plans the same segments and splits, computes only the partitions without a record,
deletes the data files no record names (the parts of splits that were cut off) and commits the
folder as if it had never stopped. The state is deleted once ``_SUCCESS`` is written; the folder
is never taken for a finished export before that (the in-progress marker stays).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Optional

from ddbpipe import __version__, layout
from ddbpipe.errors import ConfigError
from ddbpipe.export.messages import FileCommit
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

RUN = "run.json"
SPLIT_PREFIX = "split-"
PROGRESS = "progress"
FORMAT = 1


def state_folder(folder: S3Uri) -> S3Uri:
    return folder.join(layout.STATE_DIR)


def progress_folder(folder: S3Uri) -> S3Uri:
    return state_folder(folder).join(PROGRESS)


@dataclass(frozen=True)
class RunRecord:
    """How a run folder's export was planned: what a resumed run must repeat exactly."""

    table: str
    region: str
    segments: int
    splits: int  # the connector's splits = Spark partitions of its RDD
    read_percent: float
    read_capacity: Optional[int]  # --read-capacity, if one was given
    compress: bool
    items_per_file: int
    started: str  # ISO time the first run started (the sidecar's startTime)
    format: int = FORMAT
    output_format: str = "dp"  # --format
    export_id: Optional[str] = None  # the AWSDynamoDB/<export id>/ of a native format
    tool_version: str = __version__

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: S3Uri) -> RunRecord:
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError(f"format {doc.get('format')!r}, this ddbpipe reads {FORMAT}")
            return cls(**doc)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"{where} is not a run record this ddbpipe can resume ({err}).",
                              "Start a new export (without --resume).") from err


def split_key(folder: S3Uri, split: int) -> S3Uri:
    return state_folder(folder).join(f"{SPLIT_PREFIX}{split:05d}.json")


def write_run(s3: S3Client, folder: S3Uri, record: RunRecord) -> None:
    where = state_folder(folder).join(RUN)
    s3.put_object(Bucket=where.bucket, Key=where.key, Body=record.to_bytes())


def read_run(s3: S3Client, folder: S3Uri) -> Optional[RunRecord]:
    """The run record of ``folder``, or None when it has none."""
    import botocore.exceptions

    from ddbpipe.aws import error_code

    where = state_folder(folder).join(RUN)
    try:
        data = s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
    except botocore.exceptions.ClientError as err:
        if error_code(err) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    return RunRecord.from_bytes(data, where)


def record_split(s3: S3Client, folder: S3Uri, split: int, files: list[FileCommit]) -> None:
    """Record that ``split`` is finished and which data files hold its items."""
    where = split_key(folder, split)
    body = json.dumps({"split": split, "files": [asdict(f) for f in files]}).encode()
    s3.put_object(Bucket=where.bucket, Key=where.key, Body=body)


def read_splits(s3: S3Client, folder: S3Uri) -> dict[int, list[FileCommit]]:
    """The finished splits of ``folder`` and the files of each."""
    state = state_folder(folder)
    done: dict[int, list[FileCommit]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=folder.bucket, Prefix=state.join(SPLIT_PREFIX).key):
        for obj in page.get("Contents", []):
            doc = json.loads(s3.get_object(Bucket=folder.bucket, Key=obj["Key"])["Body"].read())
            done[int(doc["split"])] = [FileCommit(**f) for f in doc["files"]]
    return done


def clear(s3: S3Client, folder: S3Uri) -> None:
    """Delete the state of a committed folder (its data, manifest and markers stay)."""
    from ddbpipe.export.folder import delete_keys, list_keys

    state = state_folder(folder)
    delete_keys(s3, folder.bucket, list_keys(s3, state))
