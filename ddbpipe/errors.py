"""One error base class whose message says what went wrong and what to do about it.

Every error ddbpipe raises on purpose is a :class:`DdbpipeError`. The CLI prints ``str(err)``
(one line, no traceback) and exits with ``err.exit_code``. Errors survive pickling so they cross
from Spark executors to the driver intact.
"""

from __future__ import annotations

from typing import Any


class DdbpipeError(Exception):
    """A failure the user can act on: ``what`` happened, ``fix`` says what to do."""

    exit_code = 2

    def __init__(self, what: str, fix: str = "") -> None:
        self.what = what
        self.fix = fix
        super().__init__(what, fix)

    def __str__(self) -> str:
        return f"{self.what} {self.fix}".strip()

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (type(self), (self.what, self.fix))


class ConfigError(DdbpipeError):
    """A bad option or argument value."""


class TableNotFound(DdbpipeError):
    """The DynamoDB table does not exist in that region/endpoint."""


class KeySchemaMismatch(DdbpipeError):
    """The target table's key schema differs from the export's."""


class BucketError(DdbpipeError):
    """The S3 bucket is missing, or cannot be read or written."""


class EndpointUnreachable(DdbpipeError):
    """Nothing answers at the AWS endpoint."""


class ExportFormatError(DdbpipeError):
    """An export folder or one of its files cannot be read."""


class PermissionDenied(DdbpipeError):
    """AWS refused the call for lack of permission."""


class JobFailed(DdbpipeError):
    """A Spark job or EMR step failed."""

    exit_code = 1


class TimedOut(DdbpipeError):
    """The run exceeded its execution timeout."""

    exit_code = 3


class QuotaExceeded(DdbpipeError):
    """An account quota (EC2 instances, EMR clusters, ...) stopped the run."""


class RoleMissing(DdbpipeError):
    """An IAM role or instance profile the run needs does not exist."""


class Throttled(DdbpipeError):
    """DynamoDB kept refusing requests for longer than the run may wait."""

    exit_code = 1


class Interrupted(DdbpipeError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM); ``signum`` says which."""

    def __init__(self, what: str, fix: str = "", signum: int = 2) -> None:
        super().__init__(what, fix)
        self.signum = signum

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return 128 + self.signum

    def __reduce__(self) -> tuple[Any, tuple[str, str, int]]:  # type: ignore[override]
        return (type(self), (self.what, self.fix, self.signum))


def with_fix(err: DdbpipeError, extra: str) -> DdbpipeError:
    """The same error (same class) with ``extra`` added to what to do."""
    copy = err.__reduce__()
    args = list(copy[1])
    args[1] = f"{err.fix} {extra}".strip()
    return copy[0](*args)


class ResumeStateError(DdbpipeError):
    """An import's resume state belongs to another import, or cannot be read or written."""


class IncompleteExport(ExportFormatError):
    """The export folder was never finished (no completion marker, or one of a running export)."""


def one_line(err: DdbpipeError) -> str:
    """What an entry point prints for ``err``: ``ddbpipe: error: ...`` (or ``interrupted``)."""
    kind = "interrupted" if isinstance(err, Interrupted) else "error"
    return f"ddbpipe: {kind}: {err}"
