"""DynamoDB's own Export to S3 layout, as ddbpipe writes it (``--format dynamodb-json|ion``).

Inside a run folder (decisions.md, "Native export layout")::

    RUN/AWSDynamoDB/<export id>/_started              empty, written when the run starts
    RUN/AWSDynamoDB/<export id>/data/<name>.json.gz   (ION: .ion.gz) gzip, one item a line
    RUN/AWSDynamoDB/<export id>/manifest-files.json   JSON lines: itemCount, md5Checksum, etag,
                                                      dataFileS3Key
    RUN/AWSDynamoDB/<export id>/manifest-files.checksum
    RUN/AWSDynamoDB/<export id>/manifest-summary.json the service's fields, itemCount last known
    RUN/AWSDynamoDB/<export id>/manifest-summary.checksum

beside ddbpipe's own ``ddbpipe-export.json``, ``_SUCCESS`` and (while running)
``_ddbpipe-in-progress`` / ``_ddbpipe-state/``. There is no Data Pipeline ``manifest``: a reader of
that format would take the native lines for its own. ``ImportTable`` is given
``S3KeyPrefix=RUN/AWSDynamoDB/<export id>/data/`` (it reads every object under the prefix);
``ddbpipe import`` is given ``RUN``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable, Literal, Optional, Sequence

from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:  # the export package imports this module; at run time only attributes are read
    from ddbpipe.export.messages import FileCommit

#: ``--format`` values: the Data Pipeline format and DynamoDB's two export formats.
OutputFormat = Literal["dp", "dynamodb-json", "ion"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("dp", "dynamodb-json", "ion")
#: The service's name of each native format (``outputFormat``, ImportTable's ``InputFormat``).
SERVICE_FORMAT = {"dynamodb-json": "DYNAMODB_JSON", "ion": "ION"}
EXTENSION = {"dynamodb-json": ".json.gz", "ion": ".ion.gz"}

EXPORTS_DIR = "AWSDynamoDB"
DATA_DIR = "data"
STARTED = "_started"
SUMMARY = "manifest-summary.json"
SUMMARY_CHECKSUM = "manifest-summary.checksum"
FILES = "manifest-files.json"
FILES_CHECKSUM = "manifest-files.checksum"
SUMMARY_VERSION = "2020-06-30"


def is_native(fmt: str) -> bool:
    return fmt in SERVICE_FORMAT


def new_export_id(now: Optional[datetime] = None) -> str:
    """An id shaped like the service's (``01234567890123-a1b2c3d4``: milliseconds since the
    epoch, 14 digits, and 8 hex digits), so exports sort by time under ``AWSDynamoDB/``."""
    now = now or datetime.now(timezone.utc)
    return f"{round(now.timestamp() * 1000):014d}-{secrets.token_hex(4)}"


def export_folder(run: S3Uri, export_id: str) -> S3Uri:
    return run.join(EXPORTS_DIR, export_id)


def data_folder(run: S3Uri, export_id: str) -> S3Uri:
    """What ``ImportTable`` takes as ``S3KeyPrefix`` (with a trailing ``/``)."""
    return export_folder(run, export_id).join(DATA_DIR)


def data_file_name(fmt: str) -> str:
    """A random name like the service's (26 lower-case base32 characters) and its extension."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower() + EXTENSION[fmt]


def md5_base64(digest: bytes) -> str:
    """``md5Checksum`` as the service writes it: the MD5 of the stored object, base64."""
    return base64.b64encode(digest).decode("ascii")


@dataclass(frozen=True)
class NativeFile:
    key: str  # the object's key in the bucket (dataFileS3Key)
    items: int
    md5: str  # base64 MD5 of the object as stored
    etag: str  # S3's ETag, without quotes


def files_manifest(files: Iterable[NativeFile]) -> bytes:
    """``manifest-files.json``: one JSON object per line."""
    return "".join(json.dumps({"itemCount": f.items, "md5Checksum": f.md5, "etag": f.etag,
                               "dataFileS3Key": f.key}) + "\n" for f in files).encode("utf-8")


def checksum(document: bytes) -> bytes:
    """A ``.checksum`` file beside a manifest: the MD5 of the manifest in hex."""
    return hashlib.md5(document).hexdigest().encode("ascii")


def summary(*, run: S3Uri, export_id: str, fmt: str, table_arn: Optional[str],
            table_id: Optional[str],
            started: datetime, ended: datetime, export_time: datetime, items: int,
            billed_bytes: int = 0) -> bytes:
    """``manifest-summary.json`` with the fields the service writes. ``exportArn`` is the
    table's ARN with ``/export/<export id>``: the service does not know this export, the ARN
    only names it (both are null when the table's ARN is not known, as in a conversion)."""
    def iso(t: datetime) -> str:
        return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                       "Z")

    base = export_folder(run, export_id)
    doc: dict[str, Any] = {
        "version": SUMMARY_VERSION,
        "exportArn": f"{table_arn}/export/{export_id}" if table_arn else None,
        "startTime": iso(started),
        "endTime": iso(ended),
        "tableArn": table_arn,
        "tableId": table_id,
        "exportTime": iso(export_time),
        "s3Bucket": run.bucket,
        "s3Prefix": run.key or None,
        "s3SseAlgorithm": "AES256",
        "s3SseKmsKeyId": None,
        "manifestFilesS3Key": base.join(FILES).key,
        "billedSizeBytes": billed_bytes,
        "itemCount": items,
        "outputFormat": SERVICE_FORMAT[fmt],
        "exportType": "FULL_EXPORT",
    }
    return (json.dumps(doc, indent=3) + "\n").encode("utf-8")


def manifests(run: S3Uri, export_id: str, fmt: str, files: Sequence[FileCommit], *,
              table_arn: Optional[str], table_id: Optional[str], started: datetime,
              export_time: datetime) -> dict[S3Uri, bytes]:
    """The manifests of a finished native layout, in the order they are written: the file list
    and its checksum first, the summary (what readers take for "finished") and its checksum
    last."""
    base = export_folder(run, export_id)
    listed = files_manifest(NativeFile(S3Uri.parse(f.url).key, f.items, f.md5 or "",
                                       f.etag or "") for f in files)
    doc = summary(run=run, export_id=export_id, fmt=fmt, table_arn=table_arn,
                  table_id=table_id, started=started, ended=datetime.now(timezone.utc),
                  export_time=export_time, items=sum(f.items for f in files))
    return {base.join(FILES): listed, base.join(FILES_CHECKSUM): checksum(listed),
            base.join(SUMMARY): doc, base.join(SUMMARY_CHECKSUM): checksum(doc)}


def sidecar_fields(run: S3Uri, export_id: str, fmt: str) -> dict[str, Any]:
    """What a sidecar adds for a native layout: its format and where ImportTable reads."""
    data = data_folder(run, export_id)
    return {"outputFormat": fmt, "exportId": export_id,
            "importTable": {"S3Bucket": data.bucket, "S3KeyPrefix": data.prefix,
                            "InputFormat": SERVICE_FORMAT[fmt],
                            "InputCompressionType": "GZIP"}}
