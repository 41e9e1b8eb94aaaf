"""BatchWriteItem from a Spark task: 25 requests a batch, throttled, retried per request.

One :class:`BatchWriter` per task. It takes the write units a batch will cost from the task's
:class:`~ddbpipe.throttle.TokenBucket` before sending it, settles with the ConsumedCapacity
DynamoDB reports, resends unprocessed items with backoff, and keeps a few batches in flight on a
small thread pool so the task is not idle while DynamoDB answers. :meth:`BatchWriter.flush` waits
until DynamoDB has taken every item given so far: what a task does before it records a unit of
work as written (``--resume``, :mod:`ddbpipe.importer.state`).

Items and keys come in DynamoDB's wire form (:mod:`ddbpipe.formats.wire`), checked by the line
readers, so the writer builds each request body itself (:func:`~ddbpipe.importer.send.request_body`,
``json.dumps``: the bytes botocore's serializer would write) and a sender
(:mod:`ddbpipe.importer.send`) signs and sends it: botocore does not validate and serialize the
items again (that was ~75 us of Python per item), and with credentials given, the client's
per-call machinery is skipped too (another ~25-40 us an item).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ddbpipe import formats
from ddbpipe.importer.send import request_body, sender_for
from ddbpipe.throttle import Patience, RetryStats, TokenBucket, backoff, call_with_retries

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH = 25


class UnprocessedItems(Exception):
    """DynamoDB took none of a batch's items (it returned them all as UnprocessedItems)."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} unprocessed items")
        self.response = {"Error": {"Code": "UnprocessedItems"}}


@dataclass
class WriteStats:
    """What a BatchWriter did; a task returns it as it is (it pickles)."""

    written: int = 0
    deleted: int = 0
    consumed: float = 0.0
    unprocessed_retries: int = 0
    retry: RetryStats = field(default_factory=RetryStats)

    @property
    def throttled(self) -> int:
        return self.retry.throttled

    def __add__(self, other: WriteStats) -> WriteStats:
        """Two tasks' stats together (the driver: ``sum(stats, WriteStats())``)."""
        return WriteStats(
            self.written + other.written, self.deleted + other.deleted,
            self.consumed + other.consumed, self.unprocessed_retries + other.unprocessed_retries,
            RetryStats(self.retry.throttled + other.retry.throttled,
                       self.retry.transient + other.retry.transient,
                       self.retry.retries + other.retry.retries))


class BatchWriter:
    """Writes wire items (:mod:`ddbpipe.formats.wire`) and deletes keys in batches of 25."""

    def __init__(self, ddb: DynamoDBClient, table: str, bucket: Optional[TokenBucket],
                 key_names: Sequence[str], patience: Patience, threads: int = 4,
                 credentials: Any = None) -> None:
        """``credentials`` (botocore's, from the session that made ``ddb``) let the writer
        send straight on its own connections (:func:`~ddbpipe.importer.send.sender_for`)."""
        self.ddb, self.table, self.bucket = ddb, table, bucket
        self.sender = sender_for(ddb, table, credentials)
        # A slow task sends smaller batches, several a second, rather than 25 items every few
        # seconds: the table sees an even rate instead of bursts.
        self.batch_size = BATCH if bucket is None else max(1, min(BATCH, int(bucket.rate / 4)))
        self.key_names = tuple(key_names)
        self.stats = WriteStats()
        self.patience = patience
        self._batch: list[dict[str, Any]] = []
        self._units = 0
        self._keys: set[tuple[Any, ...]] = set()
        self._pool = ThreadPoolExecutor(max(1, threads))
        self._slots = threading.BoundedSemaphore(max(1, threads) * 2)
        self._futures: list[Future[None]] = []
        self._lock = threading.Lock()

    def put(self, item: formats.Item, units: Optional[int] = None) -> int:
        """Queue wire ``item``; returns the write units it costs (DynamoDB's size rule), unless
        the caller knows them (``units``: a line too short to be more than one)."""
        if units is None:
            units = formats.write_units(formats.item_size(item))
        self._add({"PutRequest": {"Item": item}}, item, units)
        return units

    def delete(self, key: formats.Item) -> int:
        """Queue the deletion of wire ``key`` (its key attributes only); returns the write units
        it is budgeted at (1: the deleted item's size is unknown here; the bucket settles with
        what DynamoDB reports)."""
        self._add({"DeleteRequest": {"Key": key}}, key, 1)
        return 1

    def _add(self, request: dict[str, Any], item: formats.Item, units: int) -> None:
        key = formats.key_of(item, self.key_names)
        if key in self._keys:  # one batch may not touch a key twice; the later one wins
            self._submit()
        self._batch.append(request)
        self._keys.add(key)
        self._units += units
        if len(self._batch) >= self.batch_size:
            self._submit()

    def _submit(self) -> None:
        """Send the batch being filled (on the pool; at most ``threads x 2`` in flight)."""
        if not self._batch:
            return
        batch, units = self._batch, self._units
        self._batch, self._units, self._keys = [], 0, set()
        self._raise_failures()
        self._slots.acquire()
        future = self._pool.submit(self._send, batch, units)
        future.add_done_callback(lambda _f: self._slots.release())
        self._futures.append(future)

    def _raise_failures(self) -> None:
        done = [f for f in self._futures if f.done()]
        self._futures = [f for f in self._futures if not f.done()]
        for f in done:
            f.result()

    def _send(self, batch: list[dict[str, Any]], units: int) -> None:
        if self.bucket:
            self.bucket.take(units)
        pending: list[dict[str, Any]] = batch
        attempt, consumed = 0, 0.0
        retry = RetryStats()
        while pending:
            resp = call_with_retries(
                partial(self.sender.post, request_body(self.table, pending)), retry,
                self.patience)
            for cc in resp.get("ConsumedCapacity") or []:
                consumed += float(cc.get("CapacityUnits") or 0)
            left = resp.get("UnprocessedItems", {}).get(self.table, [])
            if len(left) < len(pending):
                self.patience.progress()
            if left:
                if len(left) == len(pending):  # nothing of this batch got through
                    self.patience.failed("throttle", UnprocessedItems(len(left)))
                attempt += 1
                time.sleep(backoff(attempt))
            pending = left  # in the wire form (the sender's promise): sent again as they are
        if self.bucket and consumed:
            self.bucket.settle(units - consumed)
        puts = sum(1 for r in batch if "PutRequest" in r)
        with self._lock:
            self.stats.written += puts
            self.stats.deleted += len(batch) - puts
            self.stats.consumed += consumed or units
            self.stats.unprocessed_retries += attempt
            self.stats.retry.throttled += retry.throttled
            self.stats.retry.transient += retry.transient
            self.stats.retry.retries += retry.retries

    def flush(self) -> None:
        """Send what is queued and wait until every batch sent so far is written (unprocessed
        items retried until DynamoDB took them); raises the first failure."""
        self._submit()
        while self._futures:
            self._futures.pop(0).result()

    def close(self) -> WriteStats:
        """Send what is left and wait for every batch; raises the first failure."""
        try:
            self.flush()
        finally:
            self._pool.shutdown(wait=True)
            self.sender.close()
        return self.stats
