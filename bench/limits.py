"""The limits ddbpipe is measured against: the fastest plain readers and writers we can write.

Two kinds of each, both threaded and talking to the same server as ddbpipe:

* ``boto3``: a boto3 client per thread, parallel Scan (one segment per thread) or BatchWriteItem
  of pre-generated items; items are discarded after the call.
* ``raw``: the same requests signed with botocore's SigV4 signer and sent on a persistent
  ``http.client`` connection per thread; responses are decoded with ``json.loads`` only (no
  boto3 shape parsing), write bodies are pre-serialized. On this machine boto3's response parsing,
  not the server, is what limits a boto3 reader, so ``raw`` is the closer estimate of the server's
  own limit.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from ddbpipe.aws import AwsConfig, client, session

TARGET = "DynamoDB_20120810."
JSON_10 = "application/x-amz-json-1.0"


@dataclass(frozen=True)
class Rate:
    """One timed run of a reader or writer."""

    what: str
    kind: str  # boto3 | raw
    threads: int
    items: int
    seconds: float
    wire_bytes: int = 0

    @property
    def items_per_s(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.wire_bytes / 1e6 / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items_per_s": self.items_per_s, "mb_per_s": self.mb_per_s}


class RawDynamo:
    """A minimal DynamoDB JSON client: SigV4-signed POSTs on one keep-alive connection.

    Not thread-safe: one per thread.
    """

    def __init__(self, aws: AwsConfig) -> None:
        from botocore.auth import SigV4Auth

        url = aws.endpoint("dynamodb")
        if not url:
            raise ValueError("the raw client needs a local DynamoDB endpoint")
        parts = urlsplit(url)
        self.url = url.rstrip("/") + "/"
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        creds = session(aws).get_credentials()
        if creds is None:
            raise ValueError("no AWS credentials (set AWS_ACCESS_KEY_ID for the local servers)")
        self.signer = SigV4Auth(creds.get_frozen_credentials(), "dynamodb", aws.region)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call_raw(self, op: str, body: str) -> bytes:
        """POST ``body`` (JSON text) as ``op``; the response body, raising on HTTP errors."""
        from botocore.awsrequest import AWSRequest

        data = body.encode("utf-8")
        request = AWSRequest("POST", self.url, data=data,
                             headers={"X-Amz-Target": TARGET + op, "Content-Type": JSON_10})
        self.signer.add_auth(request)
        self.conn.request("POST", "/", body=data, headers=dict(request.headers.items()))
        response = self.conn.getresponse()
        raw = response.read()
        if response.status != 200:
            raise RuntimeError(f"{op} answered HTTP {response.status}: {raw[:300]!r}")
        return raw

    def close(self) -> None:
        self.conn.close()


def _timed(what: str, kind: str, threads: int,
           work: Callable[[int], tuple[int, int]]) -> Rate:
    started = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(work, range(threads)))
    seconds = time.monotonic() - started
    return Rate(what, kind, threads, sum(r[0] for r in results), seconds,
                sum(r[1] for r in results))


def scan_raw(aws: AwsConfig, table: str, segments: int) -> Rate:
    """Parallel Scan, one segment per thread, raw client; items decoded and discarded."""

    def segment(seg: int) -> tuple[int, int]:
        ddb = RawDynamo(aws)
        body: dict[str, Any] = {"TableName": table, "Segment": seg, "TotalSegments": segments}
        items = wire = 0
        try:
            while True:
                raw = ddb.call_raw("Scan", json.dumps(body))
                wire += len(raw)
                page = json.loads(raw)
                items += len(page.get("Items", ()))
                if "LastEvaluatedKey" not in page:
                    return items, wire
                body["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        finally:
            ddb.close()

    return _timed("scan", "raw", segments, segment)


def scan_boto3(aws: AwsConfig, table: str, segments: int) -> Rate:
    """Parallel Scan, one segment per thread, a boto3 client each; items discarded."""

    def segment(seg: int) -> tuple[int, int]:
        ddb = client(aws, "dynamodb")
        kwargs: dict[str, Any] = {"TableName": table, "Segment": seg, "TotalSegments": segments}
        items = wire = 0
        while True:
            page = ddb.scan(**kwargs)
            items += len(page.get("Items", ()))
            headers = page["ResponseMetadata"].get("HTTPHeaders", {})
            wire += int(headers.get("content-length") or 0)
            if "LastEvaluatedKey" not in page:
                return items, wire
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    return _timed("scan", "boto3", segments, segment)


class _Cursor:
    """Hands out list indexes to writer threads."""

    def __init__(self, size: int) -> None:
        self.size, self.next = size, 0
        self.lock = threading.Lock()

    def take(self) -> int:
        with self.lock:
            index, self.next = self.next, self.next + 1
        return index if index < self.size else -1


def write_raw(aws: AwsConfig, table: str, batches: list[str], threads: int,
              what: str = "write") -> Rate:
    """BatchWriteItem of pre-serialized batches (:func:`bench.items.wire_batches`) on
    ``threads`` threads; unprocessed items are resent."""
    cursor = _Cursor(len(batches))
    head = '{"RequestItems":{' + json.dumps(table) + ":"

    def worker(_n: int) -> tuple[int, int]:
        ddb = RawDynamo(aws)
        items = wire = 0
        try:
            while (index := cursor.take()) >= 0:
                body = head + batches[index] + "}}"
                items += batches[index].count('"PutRequest"')
                for attempt in range(20):
                    wire += len(body)
                    answer = json.loads(ddb.call_raw("BatchWriteItem", body))
                    left = (answer.get("UnprocessedItems") or {}).get(table)
                    if not left:
                        break
                    body = json.dumps({"RequestItems": {table: left}})
                    time.sleep(min(1.0, 0.02 * 2 ** attempt))
                else:
                    raise RuntimeError(f"items of {table} stayed unprocessed")
        finally:
            ddb.close()
        return items, wire

    return _timed(what, "raw", threads, worker)


def write_boto3(aws: AwsConfig, table: str, batches: list[list[dict[str, Any]]], threads: int,
                what: str = "write") -> Rate:
    """BatchWriteItem of pre-generated items (:func:`bench.items.boto3_batches`) with a boto3
    client per thread; unprocessed items are resent."""
    cursor = _Cursor(len(batches))

    def worker(_n: int) -> tuple[int, int]:
        ddb = client(aws, "dynamodb")
        items = 0
        while (index := cursor.take()) >= 0:
            pending: Any = batches[index]  # boto3-stubs types the answer's items apart
            items += len(pending)
            for attempt in range(20):
                answer = ddb.batch_write_item(RequestItems={table: pending})
                pending = (answer.get("UnprocessedItems") or {}).get(table) or []
                if not pending:
                    break
                time.sleep(min(1.0, 0.02 * 2 ** attempt))
            else:
                raise RuntimeError(f"items of {table} stayed unprocessed")
        return items, 0

    return _timed(what, "boto3", threads, worker)
