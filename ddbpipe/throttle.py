"""Rate limiting and retries for DynamoDB calls made from Spark tasks.

A :class:`TokenBucket` per task holds the task's share of the job's budget (units per second);
callers take the units a request will cost before sending it and settle the difference once the
response says what it really consumed. :func:`call_with_retries` retries one request (never a whole
partition) on throttling, 5xx and dropped connections, with exponential backoff and full jitter.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

from ddbpipe.aws import error_code

log = logging.getLogger(__name__)
T = TypeVar("T")

THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequestsException",
    "SlowDown",  # S3
})
TRANSIENT_CODES = frozenset({
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
    "InternalError",  # S3
    "RequestTimeout",  # S3: the upload was too slow; the same bytes are sent again
})


class TokenBucket:
    """Units per second with a burst allowance; may go negative like DynamoDB's own bucket.

    ``take(n)`` waits until the bucket is positive, then debits ``n`` (possibly driving it below
    zero, so a large request is paid for by waiting before the next one). ``settle(d)`` adds
    back (or debits) the difference between the estimate and what was consumed.
    """

    def __init__(self, rate: float, burst_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = float(rate)
        self.capacity = self.rate * burst_seconds
        self._tokens = 0.0
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def take(self, units: float) -> float:
        """Debit ``units``; returns the seconds spent waiting."""
        waited = 0.0
        while True:
            with self._lock:
                self._refill()
                if self._tokens > 0 or (self._tokens >= 0 and units == 0):
                    self._tokens -= units
                    return waited
                pause = -self._tokens / self.rate + 0.001
            self._sleep(pause)
            waited += pause

    def settle(self, delta: float) -> None:
        """Give back ``delta`` units (negative: take more) after the real cost is known."""
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + delta)


@dataclass
class RetryStats:
    throttled: int = 0
    transient: int = 0
    retries: int = 0


def is_retryable(err: BaseException) -> Optional[str]:
    """'throttle', 'transient', 'unreachable' (nothing answers) or None."""
    import botocore.exceptions as bex

    code = error_code(err)
    if code in THROTTLE_CODES:
        return "throttle"
    if code in TRANSIENT_CODES:
        return "transient"
    status = (getattr(err, "response", None) or {}).get("ResponseMetadata", {}).get(
        "HTTPStatusCode", 0)
    if isinstance(err, bex.ClientError) and int(status or 0) >= 500:
        return "transient"
    if isinstance(err, (bex.EndpointConnectionError, bex.ConnectTimeoutError)):
        return "unreachable"
    if isinstance(err, (bex.ConnectionError, bex.HTTPClientError, bex.ReadTimeoutError,
                        bex.ChecksumError)):  # a damaged answer: botocore retries it too
        return "transient"
    return None


def backoff(attempt: int, base: float = 0.05, cap: float = 20.0,
            rng: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base x 2^attempt)]."""
    return rng() * min(cap, base * (2 ** attempt))


#: Default of --max-retry-time: what the connector waits for one request on the export side
#: (DynamoDBClient.DEFAULT_RETRY_DURATION, 10 minutes, fixed in connector 5.0.0).
MAX_RETRY_SECONDS = 600.0
#: Connection failures for this long mean nothing answers at the endpoint: say so and stop.
UNREACHABLE_SECONDS = 60.0
#: ... unless this environment variable says otherwise (seconds; read by the driver).
UNREACHABLE_ENV = "DDBPIPE_UNREACHABLE_SECONDS"
#: A task that is waiting says so this often.
SAY_EVERY_SECONDS = 15.0


def unreachable_seconds() -> float:
    """How long nothing may answer at an endpoint before the run stops and names it."""
    from ddbpipe.checks import check_seconds

    text = os.environ.get(UNREACHABLE_ENV)
    if not text:
        return UNREACHABLE_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    return check_seconds(value, UNREACHABLE_ENV)


def say_waiting(text: str) -> None:
    print(f"ddbpipe: waiting: {text}", file=sys.stderr, flush=True)


class Patience:
    """How long one task keeps retrying while no request succeeds, and saying that it waits.

    Retries go on as long as some request of the task succeeded within ``max_wait`` seconds (a
    slow table that still takes writes is waited for; one that takes none is given up on), and
    connection failures stop after ``unreachable_after`` seconds with the endpoint named. Shared
    by the threads of one task.
    """

    def __init__(self, what: str, max_wait: float = MAX_RETRY_SECONDS,
                 unreachable_after: float = UNREACHABLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic,
                 say: Callable[[str], None] = say_waiting) -> None:
        self.what, self.max_wait = what, max_wait
        self.unreachable_after = min(unreachable_after, max_wait)
        self._clock, self._say = clock, say
        self._lock = threading.Lock()
        self._progress = clock()
        self._down_since: Optional[float] = None
        self._said = self._progress

    def progress(self) -> None:
        """Some work got done (items written, a page read)."""
        with self._lock:
            self._progress = self._clock()
            self._down_since = None

    def answered(self) -> None:
        """The endpoint answered (maybe without doing any work)."""
        with self._lock:
            self._down_since = None

    def failed(self, kind: str, err: BaseException) -> None:
        """Account one failed attempt; raises once the run has waited long enough."""
        from ddbpipe.errors import EndpointUnreachable, JobFailed, Throttled

        reason = error_code(err) or type(err).__name__
        with self._lock:
            now = self._clock()
            waited = now - self._progress
            if kind == "unreachable":
                self._down_since = self._down_since if self._down_since is not None else now
                if now - self._down_since >= self.unreachable_after:
                    raise EndpointUnreachable(
                        f"Nothing answers at {self.what}: no connection for "
                        f"{now - self._down_since:.0f} s ({reason}).",
                        "Check the network and the endpoint (--endpoint-url, --region), then "
                        "re-run.") from err
            if waited >= self.max_wait:
                if kind == "throttle":
                    raise Throttled(
                        f"{self.what} throttled every request for {waited:.0f} s ({reason}).",
                        "Raise the table's capacity or lower the percent, or pass a longer "
                        "--max-retry-time; then re-run (it is safe to repeat).") from err
                raise JobFailed(f"{self.what} failed every request for {waited:.0f} s "
                                f"({reason}).", "Re-run later (it is safe to repeat).") from err
            if waited >= SAY_EVERY_SECONDS and now - self._said >= SAY_EVERY_SECONDS:
                self._said = now
                self._say(f"{self.what}: {reason} for {waited:.0f} s, retrying (gives up "
                          f"after {self.max_wait:.0f} s without progress)")


def call_with_retries(fn: Callable[[], T], stats: RetryStats, patience: Patience, *,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn`` until it succeeds, retrying throttles and transient failures of that one call
    for as long as ``patience`` allows. Callers tell ``patience`` when a result was progress."""
    attempt = 0
    while True:
        try:
            result = fn()
        except Exception as err:
            kind = is_retryable(err)
            if kind is None:
                raise
            patience.failed(kind, err)
            if kind == "throttle":
                stats.throttled += 1
            else:
                stats.transient += 1
            stats.retries += 1
            # an endpoint that does not answer is probed often, so it is named soon after the
            # minute is up
            pause = backoff(attempt, cap=5.0 if kind == "unreachable" else 20.0)
            attempt += 1
            log.debug("retrying after %s (%s), %.2f s", error_code(err) or type(err).__name__,
                      kind, pause)
            sleep(pause)
            continue
        patience.answered()
        return result


def no_retry_config() -> dict[str, Any]:
    """botocore settings for clients whose calls go through :func:`call_with_retries`."""
    return {"retries": {"mode": "standard", "total_max_attempts": 1}, "connect_timeout": 5}
