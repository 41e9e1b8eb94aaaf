"""The life of an export's run folder in S3: checked before Spark starts, started with an
in-progress marker and a run record (:mod:`ddbpipe.export.state`), cleared of the files of retried
task attempts, committed (``manifest``, the ``ddbpipe-export.json`` sidecar, ``_SUCCESS`` last)
or, on failure, *suspended*: the files of finished splits and their records stay, the rest is
deleted, the in-progress marker stays, so ``ddbpipe export --resume`` can finish it and no import
takes it before then."""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator, Mapping, Optional, Sequence

from ddbpipe import __version__, failures, interrupts, layout, native_layout
from ddbpipe.aws import error_code
from ddbpipe.errors import (
    BucketError,
    ConfigError,
    DdbpipeError,
    EndpointUnreachable,
    Interrupted,
    with_fix,
)
from ddbpipe.export.messages import FileCommit
from ddbpipe.export.report import TableResult
from ddbpipe.s3uri import S3Uri
from ddbpipe.tables import TableInfo

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def check_bucket(s3: S3Client, dest: S3Uri, endpoint: Optional[str]) -> None:
    """List one key under ``dest``, with the failure told as the user would fix it.

    Not HeadBucket: IAM authorizes it as s3:ListBucket without an ``s3:prefix``, which a policy
    that lets the caller list only its own folders (``ddbpipe iam policy``) refuses."""
    import botocore.exceptions

    try:
        s3.list_objects_v2(Bucket=dest.bucket, Prefix=dest.prefix, MaxKeys=1)
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise BucketError(f"Bucket {dest.bucket!r} does not exist.",
                              "Create it first, or fix --to.") from err
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketError(f"Bucket {dest.bucket!r} cannot be read with these credentials.",
                              "Grant s3:ListBucket on it (see `ddbpipe iam policy`).") from err
        raise
    except botocore.exceptions.EndpointConnectionError as err:
        raise EndpointUnreachable(f"Cannot reach S3 at {endpoint or 'its AWS endpoint'}.",
                                  "Fix --endpoint-url / AWS_ENDPOINT_URL_S3.") from err


def _put(s3: S3Client, where: S3Uri, key: S3Uri, body: bytes) -> None:
    """PutObject, an AccessDenied told as the permission to grant on ``where``."""
    import botocore.exceptions

    try:
        s3.put_object(Bucket=key.bucket, Key=key.key, Body=body)
    except botocore.exceptions.ClientError as err:
        if error_code(err) in ("403", "AccessDenied"):
            raise BucketError(f"Cannot write to {where}/ (AccessDenied).",
                              "Grant s3:PutObject on the export prefix (see `ddbpipe iam "
                              "policy`).") from err
        raise


def check_writable(s3: S3Client, dest: S3Uri) -> None:
    """Write and delete a probe object under ``dest``: a bucket we may read but not write fails
    here, in a second, instead of after Spark has started."""
    probe = dest.join(f"_ddbpipe-write-check-{uuid.uuid4().hex[:12]}")
    _put(s3, dest, probe, b"")
    s3.delete_object(Bucket=probe.bucket, Key=probe.key)


def list_keys(s3: S3Client, folder: S3Uri) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=folder.bucket,
                                                             Prefix=folder.prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys


def delete_keys(s3: S3Client, bucket: str, keys: Sequence[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start:start + 1000]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk],
                                                 "Quiet": True})


def is_committed(s3: S3Client, folder: S3Uri) -> bool:
    """True when ``folder`` holds ``_SUCCESS``."""
    marker = folder.join(layout.SUCCESS)
    page = s3.list_objects_v2(Bucket=folder.bucket, Prefix=marker.key, MaxKeys=1)
    return any(o["Key"] == marker.key for o in page.get("Contents", []))


def start(s3: S3Client, folder: S3Uri) -> None:
    """Refuse a folder that holds anything; mark the new one as in progress."""
    existing = list_keys(s3, folder)
    if existing:
        raise ConfigError(f"{folder}/ already holds {len(existing)} objects.",
                          "Export to a new folder (each run takes a new timestamp).")
    _put(s3, folder, folder.join(layout.IN_PROGRESS),
         b"export in progress; no _SUCCESS means not finished\n")


def remove_orphans(s3: S3Client, folder: S3Uri, committed: Collection[str]) -> int:
    """Delete the files of task attempts that Spark retried or that a stop cut off: every key of
    the folder but the ``committed`` data files, the in-progress marker and the run's state.
    Returns how many were deleted."""
    keep = set(committed) | {folder.join(layout.IN_PROGRESS).key}
    state = folder.join(layout.STATE_DIR).prefix
    orphans = [k for k in list_keys(s3, folder) if k not in keep and not k.startswith(state)]
    if orphans:
        delete_keys(s3, folder.bucket, orphans)
    return len(orphans)


def table_facts(info: TableInfo, files: Sequence[FileCommit], compressed: bool,
                started: datetime, seconds: float,
                settings: tuple[dict[str, Any], list[str]] = ({}, [])) -> dict[str, Any]:
    """What every sidecar of a table's export says, however it was read: the table (what
    ``--create-table`` reads), its TTL, tags, PITR, stream and class and the notes on those that
    could not be read (``settings``, :func:`ddbpipe.tablesettings.read`), the files, the times."""
    return {
        "toolVersion": __version__,
        "table": info.name,
        "region": info.region,
        "keySchema": info.description["KeySchema"],
        "attributeDefinitions": info.description["AttributeDefinitions"],
        "billingMode": info.billing_mode,
        "tableDefinition": layout.table_definition(info.description),
        "tableSettings": settings[0],
        "tableSettingsNotes": settings[1],
        "itemCount": sum(f.items for f in files),
        "bytes": sum(f.bytes for f in files),
        "files": [{"name": S3Uri.parse(f.url).name, "items": f.items, "bytes": f.bytes}
                  for f in files],
        "compressed": compressed,
        "startTime": started.isoformat(),
        "endTime": datetime.now(timezone.utc).isoformat(),
        "seconds": round(seconds, 3),
        "tableItemCountEstimate": info.item_count,
        "tableSizeBytesEstimate": info.size_bytes,
    }


def sidecar(info: TableInfo, result: TableResult, compressed: bool, started: datetime,
            settings: tuple[dict[str, Any], list[str]] = ({}, [])) -> dict[str, Any]:
    """The ``ddbpipe-export.json`` document of a scan (what ``--create-table`` and the report
    read)."""
    plan = result.plan
    assert plan is not None
    resumed = {"resumedSplits": result.resumed_splits, "splits": result.splits,
               "resumedItems": result.items - result.read_items} if result.resumed_splits else {}
    return {
        **resumed,
        **table_facts(info, result.files, compressed, started, result.seconds, settings),
        "readPercent": plan.percent,
        "readCapacity": plan.capacity,
        "readCapacitySource": plan.capacity_source,
        "consumedReadUnits": round(result.read_units, 1),
        "achievedReadPercent": round(result.achieved_percent, 4),
        "segments": plan.segments,
        "tasks": plan.tasks,
    }


def run_manifests(folder: S3Uri, files: Sequence[FileCommit], fmt: str,
                  export_id: Optional[str], *, table_arn: Optional[str],
                  table_id: Optional[str], started: datetime,
                  export_time: datetime) -> dict[S3Uri, bytes]:
    """What :func:`commit` writes before the sidecar: the Data Pipeline ``manifest``, or the
    native layout's manifests when ``export_id`` names one."""
    if export_id is None:
        return {folder.join(layout.MANIFEST): layout.manifest_bytes(f.url for f in files)}
    return native_layout.manifests(folder, export_id, fmt, files, table_arn=table_arn,
                                   table_id=table_id, started=started, export_time=export_time)


def commit_run(s3: S3Client, folder: S3Uri, info: TableInfo, files: Sequence[FileCommit],
               side: dict[str, Any], fmt: str, export_id: Optional[str], *, started: datetime,
               export_time: datetime) -> None:
    """Commit a table's run folder: the manifests of its format, the sidecar (with where
    ImportTable reads, for a native layout), ``_SUCCESS`` last."""
    if export_id is not None:
        side = {**side, **native_layout.sidecar_fields(folder, export_id, fmt)}
    commit(s3, folder, run_manifests(folder, files, fmt, export_id,
                                     table_arn=info.description.get("TableArn"),
                                     table_id=info.description.get("TableId"),
                                     started=started, export_time=export_time), side)


def tidy(s3: S3Client, folder: S3Uri) -> None:
    """Delete a committed run folder's ``_ddbpipe-state/``; a failure is only told (the export
    is complete, the state is clutter)."""
    from ddbpipe.export import state

    try:
        state.clear(s3, folder)
    except Exception:
        log.warning("%s/ could not be deleted; the export is complete, delete it by hand",
                    state.state_folder(folder), exc_info=log.isEnabledFor(logging.DEBUG))


@contextmanager
def on_failure(what: str, folder: S3Uri, leave: Callable[[], str],
               again: Callable[[], str]) -> Iterator[None]:
    """Around writing a run folder: on any failure ``leave()`` tidies the folder (suspends or
    empties it) and says what is left, and the error says it too. Ctrl-C / SIGTERM become
    :class:`~ddbpipe.errors.Interrupted` (``again()`` tells how to carry on); a failure of the
    driver's own S3 requests is explained as :mod:`ddbpipe.failures` does."""
    try:
        yield
    except interrupts.Stop as stop:
        raise Interrupted(f"{what} stopped by {stop.name}; {leave()}.", again(),
                          stop.signum) from None
    except DdbpipeError as err:
        raise with_fix(err, f"({leave()}.)") from err
    except Exception as err:  # the driver's own S3 requests: state records, manifest, markers
        known = failures.explain(err, f"{folder}/", "writing")
        left = leave()
        if known is None:
            raise
        raise with_fix(known, f"({left}.)") from err
    except BaseException:
        leave()
        raise


def commit(s3: S3Client, folder: S3Uri, manifests: Mapping[S3Uri, bytes],
           side: dict[str, Any]) -> None:
    """Manifests (in order), sidecar, then ``_SUCCESS`` last: an import takes the folder only
    once it is there."""
    put = s3.put_object
    for where, body in manifests.items():
        put(Bucket=where.bucket, Key=where.key, Body=body)
    put(Bucket=folder.bucket, Key=folder.join(layout.SIDECAR).key,
        Body=layout.sidecar_bytes(side))
    s3.delete_object(Bucket=folder.bucket, Key=folder.join(layout.IN_PROGRESS).key)
    put(Bucket=folder.bucket, Key=folder.join(layout.SUCCESS).key, Body=b"")


def suspend(s3: S3Client, folder: S3Uri, committed: Collection[str], splits_done: int,
            splits: int, items: int) -> str:
    """Leave the folder of a stopped export resumable: delete the data files of unfinished splits
    (``committed`` are the finished splits' files), keep the rest. Returns what the user is told
    about it."""
    resume = f"resume it with `ddbpipe export --resume {folder}`"
    try:
        remove_orphans(s3, folder, committed)
    except Exception as err:  # keep the original error; a resumed run deletes them first
        log.debug("could not clean %s/", folder, exc_info=True)
        return (f"{folder}/ is unfinished (no _SUCCESS, so no import takes it) and its partly "
                f"written files could not be deleted ({type(err).__name__}); {resume}, or delete "
                "the folder")
    return (f"{folder}/ keeps {splits_done} of {splits} finished splits ({items:,} items) and "
            f"is marked unfinished; {resume}")


def abort(s3: S3Client, folder: S3Uri) -> str:
    """Empty the folder of a run that stopped before it recorded its plan (nothing was read);
    returns what the user is told about it."""
    try:
        delete_keys(s3, folder.bucket, list_keys(s3, folder))
    except Exception as err:  # keep the original error; say what is left
        log.debug("could not clean %s/", folder, exc_info=True)
        return (f"{folder}/ could not be emptied ({type(err).__name__}): it holds an unfinished "
                "export (no _SUCCESS, so no import takes it); delete it by hand")
    return f"{folder}/ was emptied"
