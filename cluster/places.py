"""Where a run's files live in S3: the staging folder, beside (never under) the log folder.

The wheel, pinned requirements, bootstrap and job files of a run or a schedule are staged under
``--staging-uri`` (default ``s3://<log bucket>/ddbpipe-staging/``): ``runs/<run-id>/`` for a run,
``schedules/<name>/`` for a schedule, which every scheduled run reads again. Log folders often
carry S3 lifecycle rules that expire old objects; staged files there would vanish under a
schedule that still needs them, so a staging folder inside the log folder is refused.
"""

from __future__ import annotations

from typing import Optional

from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri

STAGING_FOLDER = "ddbpipe-staging"
RUNS = "runs"
SCHEDULES = "schedules"


def _inside(inner: S3Uri, outer: S3Uri) -> bool:
    return inner.bucket == outer.bucket and (
        not outer.key or inner.key == outer.key or inner.key.startswith(outer.prefix))


def staging_root(staging_uri: Optional[str], log: S3Uri) -> S3Uri:
    """``--staging-uri`` as a folder, or the default beside the log folder ``log``."""
    if staging_uri is None:
        return S3Uri(log.bucket, STAGING_FOLDER)
    root = S3Uri.parse(staging_uri, "--staging-uri")
    if not root.key:
        raise ConfigError(
            f"--staging-uri {staging_uri!r} is the root of bucket {root.bucket!r}; staged files "
            "need a folder of their own.",
            f"Give a folder, e.g. --staging-uri s3://{root.bucket}/{STAGING_FOLDER}/.")
    if _inside(root, log):
        raise ConfigError(
            f"--staging-uri {root}/ is inside --log-uri s3://{log.bucket}/{log.prefix}: a log "
            "retention rule would delete the files every scheduled run needs.",
            f"Stage beside the logs, e.g. --staging-uri s3://{log.bucket}/{STAGING_FOLDER}/ "
            "(the default).")
    return root


def run_folder(root: S3Uri, run: str) -> S3Uri:
    return root.join(RUNS, run)


def schedule_folder(root: S3Uri, name: str) -> S3Uri:
    return root.join(SCHEDULES, name)
