"""Rate limiting and retries for DynamoDB calls made from Spark tasks.

A :class:`TokenBucket` per task holds the task's share of the job's budget (units per second);
callers take the units a request will cost before sending it and settle the difference once the
response says what it really consumed. :func:`call_with_retries` retries one request (never a whole
partition) on throttling, 5xx and dropped connections, with exponential backoff and full jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

THROTTLE_CODES = frozenset({
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Throttling",
    "TooManyRequestsException",
})
TRANSIENT_CODES = frozenset({
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
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


def error_code(err: BaseException) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_retryable(err: BaseException) -> Optional[str]:
    """'throttle', 'transient' or None."""
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
    if isinstance(err, (bex.ConnectionError, bex.HTTPClientError, bex.ReadTimeoutError)):
        return "transient"
    return None


def backoff(attempt: int, base: float = 0.05, cap: float = 20.0,
            rng: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base x 2^attempt)]."""
    return rng() * min(cap, base * (2 ** attempt))


def call_with_retries(fn: Callable[[], T], stats: RetryStats, *, attempts: int = 12,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Call ``fn`` until it succeeds, retrying throttles and transient failures of that one call."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as err:
            kind = is_retryable(err)
            if kind is None or attempt == attempts - 1:
                raise
            if kind == "throttle":
                stats.throttled += 1
            else:
                stats.transient += 1
            stats.retries += 1
            pause = backoff(attempt)
            log.debug("retrying after %s (%s), %.2f s", error_code(err) or type(err).__name__,
                      kind, pause)
            sleep(pause)
    raise AssertionError("unreachable")


def no_retry_config() -> dict[str, Any]:
    """botocore settings for clients whose calls go through :func:`call_with_retries`."""
    return {"retries": {"mode": "standard", "total_max_attempts": 1}}
