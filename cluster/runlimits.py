"""A time limit that holds on the cluster itself, not only while ``ddbpipe emr`` watches.

EMR steps have no time limit of their own, so the step's command runs under coreutils
``timeout``: at the limit it sends SIGTERM to the step's whole process group (spark-submit, the
Python driver: ddbpipe's handler cancels the Spark job and cleans up), then SIGKILL
:data:`KILL_AFTER_SECONDS` later if anything is left. The step then fails (exit 124 or 137), so
``ActionOnFailure=TERMINATE_CLUSTER`` ends an auto-terminating cluster. Scheduled runs get
:data:`DEFAULT_SCHEDULE_MINUTES` unless told otherwise, as the old service's ``terminateAfter``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

from ddbpipe.errors import ConfigError

TIMEOUT = "timeout"  # coreutils, /usr/bin/timeout on Amazon Linux 2023
KILL_AFTER_SECONDS = 120  # the same grace the launcher gives a cancelled step
DEFAULT_SCHEDULE_MINUTES = 24 * 60
MAX_MINUTES = 7 * 24 * 60


def check_minutes(minutes: Optional[float], flag: str = "--timeout") -> Optional[float]:
    if minutes is None:
        return None
    if not (minutes > 0 and math.isfinite(minutes)) or minutes > MAX_MINUTES:
        raise ConfigError(f"{flag} {minutes:g} is not a time limit.",
                          f"Give minutes > 0 and at most {MAX_MINUTES} (7 days).")
    return minutes


def limited(argv: Sequence[str], minutes: Optional[float]) -> list[str]:
    """``argv`` under ``timeout`` for ``minutes`` (whole seconds, rounded up); as is without."""
    if check_minutes(minutes) is None:
        return list(argv)
    assert minutes is not None
    seconds = math.ceil(minutes * 60)
    return [TIMEOUT, "--signal=TERM", f"--kill-after={KILL_AFTER_SECONDS}s", f"{seconds}s",
            *argv]
