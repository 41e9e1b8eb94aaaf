"""One error path from a Spark task to the user's one line.

Spark carries a task's failure to the driver as text (the Python traceback inside a Java
exception), never as the exception object. A task that fails for a reason ddbpipe understands
therefore raises :class:`TaskFailure`, whose message holds the :class:`~ddbpipe.errors.DdbpipeError`
as a token (``ddbpipe-task-error:<base64 JSON>``); :func:`from_spark` finds the token in whatever
Spark raised and gives back the error, which the entry point prints as one line. Errors of the
libraries below (botocore, zlib) are turned into ddbpipe errors by :func:`explain`, where the file
they concern is known. The partition writer of the export, a separate process whose stderr Spark
does not carry, sends the same token as its last stdout line (:func:`record`).
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from ddbpipe import errors
from ddbpipe.errors import DdbpipeError

TOKEN = "ddbpipe-task-error:"
_TOKEN_RE = re.compile(re.escape(TOKEN) + r"([A-Za-z0-9+/=]+)")


def encode(err: DdbpipeError) -> str:
    doc = {"type": type(err).__name__, "what": err.what, "fix": err.fix}
    return TOKEN + base64.b64encode(json.dumps(doc).encode("utf-8")).decode("ascii")


def decode(text: str) -> Optional[DdbpipeError]:
    """The first ddbpipe error carried in ``text``, if any."""
    match = _TOKEN_RE.search(text)
    if not match:
        return None
    try:
        doc = json.loads(base64.b64decode(match.group(1)))
    except ValueError:
        return None
    cls = getattr(errors, str(doc.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, DdbpipeError)):
        cls = errors.JobFailed
    return cls(str(doc.get("what", "")), str(doc.get("fix", "")))


class TaskFailure(Exception):
    """Raised in a Spark task; carries a ddbpipe error to the driver through Spark's text."""

    def __init__(self, err: DdbpipeError) -> None:
        super().__init__(encode(err))
        self.error = err

    def __reduce__(self) -> tuple[Any, tuple[DdbpipeError]]:
        return (type(self), (self.error,))


def record(err: DdbpipeError) -> str:
    """The partition writer's last stdout line when it fails."""
    return json.dumps({"error": encode(err)})


def from_record(message: dict[str, Any]) -> Optional[DdbpipeError]:
    text = message.get("error")
    return decode(text) if isinstance(text, str) else None


def from_spark(err: BaseException) -> Optional[DdbpipeError]:
    """The ddbpipe error behind a failed Spark job, when a task sent one."""
    if isinstance(err, DdbpipeError):
        return err
    if isinstance(err, TaskFailure):
        return err.error
    return decode(str(err))


def explain(err: BaseException, where: str, action: str = "reading") -> Optional[DdbpipeError]:
    """A ddbpipe error for a failure of the libraries below while ``action`` (reading, writing)
    ``where`` (a file's URL, a table), or None when it is not one ddbpipe knows."""
    import botocore.exceptions as bex

    from ddbpipe.aws import error_code

    if isinstance(err, DdbpipeError):
        return err
    if isinstance(err, zlib.error):
        return errors.ExportFormatError(
            f"{where} is not a valid gzip file ({err}).",
            "The file is damaged; restore it from the original export.")
    if isinstance(err, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        url = getattr(err, "kwargs", {}).get("endpoint_url", "the endpoint")
        return errors.EndpointUnreachable(
            f"Nothing answered at {url} while {action} {where} ({type(err).__name__}).",
            "Check the network and the endpoint (--endpoint-url), then re-run.")
    if isinstance(err, (bex.IncompleteReadError, bex.ResponseStreamingError,
                        bex.ReadTimeoutError, bex.ConnectionClosedError)):
        return errors.JobFailed(
            f"{action.capitalize()} {where} failed part-way ({type(err).__name__}).",
            "S3 or the network dropped the connection; re-run (it is safe to repeat).")
    if isinstance(err, bex.ClientError):
        code = error_code(err)
        operation = getattr(err, "operation_name", "") or "the request"
        if "s3://" in where:
            operation = f"S3 {operation}"
        if code in ("NoSuchKey", "404") and action == "reading":
            return errors.ExportFormatError(
                f"{where} disappeared while it was being read ({code}).",
                "Something deleted or moved it; check the folder and re-run.")
        if code == "NoSuchBucket":
            return errors.BucketError(f"{operation} on {where} failed: the bucket does not "
                                      "exist (any more).", "Check the bucket and re-run.")
        if code in ("AccessDenied", "403", "AccessDeniedException"):
            return errors.PermissionDenied(
                f"Not allowed: {operation} on {where} ({code}).",
                "Grant the permission (see `ddbpipe iam policy`), then re-run.")
        return errors.JobFailed(f"{operation} on {where} failed ({code or err}).",
                                "Re-run; it is safe to repeat.")
    return None


@contextmanager
def about(where: str) -> Iterator[None]:
    """In a Spark task: a failure ddbpipe can explain, while working on ``where``, leaves the
    block as a :class:`TaskFailure`; anything else as it is."""
    try:
        yield
    except TaskFailure:
        raise
    except Exception as err:
        known = explain(err, where)
        if known is None:
            raise
        raise TaskFailure(known) from err
