"""Progress of a long run, every ~10 s, on the machine that runs it and in the EMR step log.

The processes that move items (the export's partition writers, the import's write tasks) run on
executors the driver cannot see into, so each one keeps a small *beacon* object in S3 with its
running totals (one PUT per ~10 s per process: a few cents a day at hundreds of tasks). The
driver's :class:`Reporter` lists the beacons every ~10 s, sums them and prints one line:

    ddbpipe: progress: Orders: 1,204,000 items, 1.9 GB (47 % of ~2,560,000), 498 RCU/s of 500,
    ETA 14m10s

Beacons live under the run's state prefix and are deleted with it. A task attempt that Spark
retried leaves its beacon behind, so the line may count its items twice: it is a progress line,
the report at the end counts from the commit records.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Callable, Optional

from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: Seconds between progress lines (and beacon writes); ``DDBPIPE_PROGRESS_SECONDS`` changes it.
INTERVAL = 10.0
PREFIX = "ddbpipe: progress: "


def interval() -> float:
    try:
        return max(0.5, float(os.environ.get("DDBPIPE_PROGRESS_SECONDS", INTERVAL)))
    except ValueError:
        return INTERVAL


@dataclass(frozen=True)
class Tally:
    """What one process has moved so far."""

    items: int = 0
    bytes: int = 0
    units: float = 0.0  # capacity units consumed (read units on export, write units on import)

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.items + other.items, self.bytes + other.bytes,
                     self.units + other.units)


class Beacon:
    """A process's running totals as one JSON object under ``prefix``, rewritten at most every
    ``every`` seconds. Never fails its process: a beacon that cannot be written is skipped."""

    def __init__(self, s3: S3Client, prefix: S3Uri, every: Optional[float] = None) -> None:
        self.s3 = s3
        self.key = prefix.join(f"{uuid.uuid4().hex}.json")
        self.every = interval() if every is None else every
        self._last = time.monotonic()

    def due(self) -> bool:
        """True when the next :meth:`update` would write (callers on a per-item path ask first
        and build their :class:`Tally` only then)."""
        return time.monotonic() - self._last >= self.every

    def update(self, tally: Tally, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        try:
            self.s3.put_object(Bucket=self.key.bucket, Key=self.key.key,
                               Body=json.dumps(asdict(tally)).encode())
        except Exception:  # progress is never worth failing the data for
            log.debug("progress beacon %s not written", self.key, exc_info=True)


def read_beacons(s3: S3Client, prefix: S3Uri) -> Tally:
    """The sum of every beacon under ``prefix``."""
    total = Tally()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=prefix.bucket,
                                                             Prefix=prefix.prefix):
        for obj in page.get("Contents", []):
            try:
                doc = json.loads(s3.get_object(Bucket=prefix.bucket, Key=obj["Key"])["Body"].read())
                total = total + Tally(int(doc["items"]), int(doc["bytes"]), float(doc["units"]))
            except Exception:  # written while we read, or deleted: the next line counts it
                log.debug("progress beacon %s not read", obj["Key"], exc_info=True)
    return total


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class Target:
    """What the progress line measures against."""

    what: str  # "Orders" or "import into Orders"
    unit: str  # "RCU" or "WCU"
    rate: float  # the units per second the run aims at
    items: int  # items the run is expected to move (an estimate for an export)
    before: int = 0  # items moved by the run this one resumes
    estimate: bool = True  # ``items`` is DynamoDB's estimate (updated about every six hours)


def line(target: Target, tally: Tally, units_per_second: float, items_per_second: float) -> str:
    """One progress line."""
    done = tally.items + target.before
    text = f"{PREFIX}{target.what}: {done:,} items, {tally.bytes / 1e6:,.1f} MB"
    if target.items > 0:
        share = min(done / target.items, 1.0)
        of = f"~{target.items:,}" if target.estimate else f"{target.items:,}"
        text += f" ({share:.0%} of {of})"
    if target.before:
        text += f", {target.before:,} from the resumed run"
    text += f", {units_per_second:,.0f} {target.unit}/s of {target.rate:,.0f}"
    if target.items > done and items_per_second > 0:
        text += f", ETA {duration((target.items - done) / items_per_second)}"
    return text


class Reporter:
    """A driver thread that prints a progress line every ``every`` seconds while the run lasts.

    ``read`` returns the run's totals so far (e.g. :func:`read_beacons`). Rates are measured over
    the last interval, so a line says what the run does now, not what it averaged."""

    def __init__(self, target: Target, read: Callable[[], Tally],
                 out: Optional[IO[str]] = None, every: Optional[float] = None) -> None:
        self.target, self.read = target, read
        self.out = out
        self.every = interval() if every is None else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ddbpipe-progress", daemon=True)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        last, last_at = Tally(), time.monotonic()
        while not self._stop.wait(self.every):
            try:
                now = self.read()
            except Exception:
                log.debug("progress not read", exc_info=True)
                continue
            at = time.monotonic()
            span = max(at - last_at, 1e-6)
            units = max(0.0, now.units - last.units) / span
            items = max(0, now.items - last.items) / span
            if self._stop.is_set():
                return
            print(line(self.target, now, units, items), file=self.out or sys.stdout, flush=True)
            last, last_at = now, at
