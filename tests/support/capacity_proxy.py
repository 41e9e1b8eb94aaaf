"""A DynamoDB capacity stand-in: an HTTP proxy in front of dynalite that meters and throttles.

dynalite never throttles, so nothing run against it shows whether ddbpipe honours its read/write
throughput percent. This proxy forwards every request to an upstream DynamoDB endpoint (dynalite)
and in between does what DynamoDB's admission control does:

* **Meters** consumed read and write units per table and per second, by DynamoDB's rules.
* **Throttles** each table to its provisioned capacity (or, for on-demand tables, to a configured
  ceiling) with a token bucket per table and direction, answering
  ``ProvisionedThroughputExceededException`` as DynamoDB does.
* **Injects faults** on demand: throttles regardless of capacity, HTTP 500 / 503, dropped
  connections (before or after the upstream executed the request), partial batches
  (``UnprocessedItems`` / ``UnprocessedKeys``) and added latency; seeded, so repeatable.
* **Records** a per-second time series per table, readable in-process, over HTTP and written to
  CSV / JSON on stop.

Standard library only; it binds to 127.0.0.1.

Using it
--------
In-process::

    with CapacityProxy("http://127.0.0.1:8000", port=free_port(),
                       config=ProxyConfig(burst_seconds=1.0)) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        proxy.set_faults(throttle=0.1, latency_ms=5)      # at run time
        proxy.configure(on_demand=Limits(read=100, write=50))
        rows = proxy.timeseries(table="T")                  # list of dicts, one per second

From a shell in the repository root (``tests`` is imported from there; runs until SIGINT /
SIGTERM, then writes the time series)::

    python -m tests.support.capacity_proxy --upstream http://127.0.0.1:8000 --port 8001 \\
        --timeseries out.csv --burst-seconds 1 --throttle 0.05 --seed 7

Admin endpoints on the proxy's own port: ``GET /__proxy/stats`` (time series, totals, table
states), ``GET /__proxy/config``, ``POST /__proxy/config`` (JSON; top-level keys given are
changed, a ``"faults"`` object replaces the whole fault set, e.g. ``{"faults": {}}`` clears it),
``POST /__proxy/reset`` (clears the time series and totals).

Metering
--------
Item size is DynamoDB's: UTF-8 bytes of every attribute name plus its value (S: UTF-8 bytes;
B: raw bytes; N: 1 byte + 1 per pair of significant digits aligned on the decimal point + 1 if
negative; BOOL / NULL: 1; sets: sum of elements; L / M: 3 bytes + 1 per element + elements, map
keys counted like names). Reads cost one unit per 4 KB (half for eventually consistent reads):
GetItem per item, BatchGetItem per item (missing keys cost the minimum), Scan / Query on the total
size of the items *evaluated* in the page rounded up to 4 KB. Writes cost one unit per 1 KB of the
larger of the old and new item, at least 1; BatchWriteItem per item; DeleteItem on the deleted
item's size. A failed condition still costs one write unit.

The proxy adds ``"ReturnConsumedCapacity": "TOTAL"`` to every metered request whose client did
not ask for it, reads the units from dynalite's answer and removes ``ConsumedCapacity`` from the
response again (recomputing ``Content-Length`` and ``x-amz-crc32``, which boto3 and the Java SDK
verify). What dynalite 4.0.0 reports was checked against the rules above
(``tests/functional/test_capacity_proxy.py``):

* Right: GetItem (4 KB rounding, consistency, missing item = minimum), BatchGetItem (per item),
  Query (page total, consistency), PutItem / UpdateItem (larger of old and new), DeleteItem
  (old item; 1 when missing), BatchWriteItem (per item, deletes on the old item's size).
* Wrong, corrected here:

  - **Strings are sized in UTF-16 code units**, not UTF-8 bytes, so any non-ASCII text is
    under-counted (``"é" * 1000`` is 1 write unit for dynalite, 2 for DynamoDB). When a request or
    response holds non-ASCII text, the proxy sizes every item it can see itself and charges the
    larger of that and dynalite's figure. It cannot see the old item that a put overwrites or a
    delete removes, nor items a filter or projection dropped: there dynalite's (low) figure
    stands. Across one BatchWriteItem the correction is per table, not per item.
  - **Scan ignores ConsistentRead** (dynalite's Scan validation drops the field), so a strongly
    consistent Scan is billed at half. The proxy doubles dynalite's Scan figure when the request
    says ``ConsistentRead: true``.
  - **An empty Scan / Query page costs 0**. DynamoDB bills a GetItem of a missing key one 4 KB
    unit (documented); the proxy bills an empty page the same minimum. That DynamoDB does so
    for Scan / Query too is what users report, not something re-checked against AWS here.
  - A failed condition (``ConditionalCheckFailedException``) costs nothing in dynalite; the proxy
    charges 1 write unit (the size of the existing item is not known to it).
  - Keys that BatchGetItem returns unprocessed because the 1 MB response limit was hit are charged
    1 unit each by dynalite; left as is (rare, and only over-counts).

When the client asked for ``ConsumedCapacity`` and the proxy's figure differs, ``CapacityUnits``
(and ``Table.CapacityUnits``) in the response are rewritten, so clients that pace themselves on
it (the connector does) see the numbers the throttle uses. Like dynalite, the proxy leaves out
the optional ``ReadCapacityUnits`` / ``WriteCapacityUnits`` fields of ``ConsumedCapacity``.
dynalite has no transactions or PartiQL; those requests are forwarded unmetered.

Throttling
----------
One token bucket per table and direction refills at the provisioned rate (``DescribeTable`` from
upstream, cached for ``describe_ttl`` seconds, refreshed when CreateTable / UpdateTable /
DeleteTable pass through the proxy) and holds at most ``burst_seconds`` of unused capacity
(DynamoDB keeps up to 300 s; the default here is 1 s so tests reach the steady state quickly).
Buckets start full. Like DynamoDB, a request is admitted while its table's bucket is positive and
the units it consumed are debited *after* the upstream answered, which can drive the bucket below
zero; later requests are throttled until the refill has paid the debt back. Long-run consumption
therefore equals the rate, and a single request is never refused for being larger than the burst.
A batch that spans tables is cut like DynamoDB does: the tables whose bucket is empty come back
as ``UnprocessedItems`` / ``UnprocessedKeys``; only when every table is empty is the request
refused. On-demand tables (``BillingModeSummary.BillingMode == PAY_PER_REQUEST``) are held to a
ceiling: the per-table value in ``table_on_demand``, else the table's ``OnDemandThroughput``
(dynalite drops it), else ``on_demand`` (default 40,000 units/s, DynamoDB's per-table account
quota). Their throttles carry the ``...MaxOnDemandThroughputExceeded`` reason and, by default, the
same ``ProvisionedThroughputExceededException`` code (configurable: ``RequestLimitExceeded`` and
``ThrottlingException`` are the other codes DynamoDB uses for throughput limits). Capacity of
secondary indexes is not modelled: index reads and writes are charged to the table.

Faults
------
Each eligible request (by default every metered operation on every table) draws once from a
seeded ``random.Random``: with the configured probabilities it is throttled, answered 500
``InternalServerError`` or 503 ``ServiceUnavailable``, dropped before reaching upstream, or
executed upstream and then dropped. Batch requests draw once more for ``unprocessed`` (half of
their items held back and returned unprocessed). Latency (plus uniform jitter) is added to every
eligible request. The draws restart from the seed whenever the seed or the fault set is set, so
with one client thread the sequence is exactly repeatable.

Time series
-----------
One row per second (epoch second, and ``elapsed`` since the proxy started) and table with
requests, read_units, write_units, throttled (capacity throttles, including tables cut from a
batch), faults (injected faults of any kind, injected throttles included), read_limit /
write_limit (units per second in force) and billing_mode. Seconds without traffic between a
table's first and last row are filled with zeros.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import logging
import math
import random
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
import zlib
from dataclasses import asdict, dataclass, field, fields, replace
from decimal import Context, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
JSON_TYPE = "application/x-amz-json-1.0"

READ_OPS = frozenset({"GetItem", "BatchGetItem", "Scan", "Query"})
WRITE_OPS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"})
METERED_OPS = READ_OPS | WRITE_OPS
BATCH_OPS = frozenset({"BatchGetItem", "BatchWriteItem"})
TABLE_OPS = frozenset({"CreateTable", "UpdateTable", "DeleteTable"})

READ_UNIT_BYTES = 4096
WRITE_UNIT_BYTES = 1024
#: DynamoDB's default per-table throughput quota for on-demand tables (units per second).
DEFAULT_ON_DEMAND_CEILING = 40_000.0
THROTTLE_CODES = (
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
)

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)
_NUMBER_CONTEXT = Context(prec=80)
_DECODER = json.JSONDecoder()
_CC_KEY = b'"ConsumedCapacity":'


# --------------------------------------------------------------------------- sizing rules


def _text_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def number_size(text: str) -> int:
    """Bytes DynamoDB stores for a number: base-100 digit pairs aligned on the decimal point."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return len(text)
    if not value.is_finite():
        return len(text)
    if value.is_zero():
        return 1
    sign, digits, exponent = value.normalize(_NUMBER_CONTEXT).as_tuple()
    assert isinstance(exponent, int)
    lowest = exponent  # power of ten of the last significant digit
    highest = exponent + len(digits) - 1
    pairs = highest // 2 - lowest // 2 + 1
    return 1 + pairs + (1 if sign else 0)


def _binary_size(b64: str) -> int:
    return len(b64.rstrip("=")) * 3 // 4


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes of one AttributeValue (``{"S": "x"}``, ``{"L": [...]}``...), names excluded."""
    for kind, inner in value.items():
        if kind == "S":
            return _text_size(inner)
        if kind == "N":
            return number_size(inner)
        if kind == "B":
            return _binary_size(inner)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(_text_size(x) for x in inner)
        if kind == "NS":
            return sum(number_size(x) for x in inner)
        if kind == "BS":
            return sum(_binary_size(x) for x in inner)
        if kind == "L":
            return 3 + sum(1 + value_size(x) for x in inner)
        if kind == "M":
            return 3 + sum(1 + _text_size(k) + value_size(v) for k, v in inner.items())
    return 0


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes DynamoDB bills for an item: UTF-8 attribute names plus values."""
    return sum(_text_size(name) + value_size(value) for name, value in item.items())


def read_units(size_bytes: int, consistent: bool) -> float:
    """Read units for ``size_bytes`` read in one request (at least one 4 KB unit)."""
    units = max(1, math.ceil(size_bytes / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2.0


def write_units(size_bytes: int) -> float:
    """Write units for one item of ``size_bytes`` (at least 1)."""
    return float(max(1, math.ceil(size_bytes / WRITE_UNIT_BYTES)))


def _table_name(name: str) -> str:
    """A table name, also when the request gave the table's ARN."""
    return name.rsplit("/", 1)[1] if name.startswith("arn:") and "/" in name else name


def request_tables(op: str, request: Mapping[str, Any]) -> List[str]:
    if op in BATCH_OPS:
        return [_table_name(t) for t in (request.get("RequestItems") or {})]
    name = request.get("TableName")
    return [_table_name(name)] if isinstance(name, str) else []


def visible_units(
    op: str, request: Mapping[str, Any], response: Mapping[str, Any]
) -> Dict[str, float]:
    """Units by table computed from what request and response show (a lower bound of the truth).

    Exact for reads without filter or projection and for writes of new items; it cannot see an
    overwritten or deleted item, nor items a filter or projection removed from the answer.
    """
    if op in ("Scan", "Query"):
        consistent = bool(request.get("ConsistentRead"))
        size = sum(item_size(i) for i in response.get("Items") or ())
        return {_table_name(request["TableName"]): read_units(size, consistent)}
    if op == "GetItem":
        item = response.get("Item")
        size = item_size(item) if item else 0
        return {
            _table_name(request["TableName"]): read_units(size, bool(request.get("ConsistentRead")))
        }
    if op == "BatchGetItem":
        out: Dict[str, float] = {}
        answered = response.get("Responses") or {}
        unprocessed = response.get("UnprocessedKeys") or {}
        for table, spec in (request.get("RequestItems") or {}).items():
            consistent = bool(spec.get("ConsistentRead"))
            items = answered.get(table) or []
            held = len((unprocessed.get(table) or {}).get("Keys") or [])
            missing = max(0, len(spec.get("Keys") or []) - len(items) - held)
            units = sum(read_units(item_size(i), consistent) for i in items)
            out[_table_name(table)] = units + missing * read_units(0, consistent)
        return out
    if op == "PutItem":
        units = write_units(item_size(request.get("Item") or {}))
        old = response.get("Attributes")
        if old:
            units = max(units, write_units(item_size(old)))
        return {_table_name(request["TableName"]): units}
    if op in ("UpdateItem", "DeleteItem"):
        shown = response.get("Attributes")
        full = request.get("ReturnValues") in ("ALL_OLD", "ALL_NEW")
        size = item_size(shown) if shown and full else 0
        return {_table_name(request["TableName"]): write_units(size)}
    if op == "BatchWriteItem":
        out = {}
        for table, writes in (request.get("RequestItems") or {}).items():
            units = 0.0
            for w in writes:
                put = w.get("PutRequest")
                units += write_units(item_size(put.get("Item") or {})) if put else 1.0
            out[_table_name(table)] = units
        return out
    return {}


def _units_by_table(consumed: Any) -> Dict[str, float]:
    entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
    out: Dict[str, float] = {}
    for e in entries:
        if isinstance(e, dict) and isinstance(e.get("TableName"), str):
            name = _table_name(e["TableName"])
            out[name] = out.get(name, 0.0) + float(e.get("CapacityUnits") or 0.0)
    return out


def _minimum(op: str, request: Mapping[str, Any]) -> float:
    if op in ("Scan", "Query", "GetItem"):
        return read_units(0, bool(request.get("ConsistentRead")))
    return 1.0 if op in ("PutItem", "UpdateItem", "DeleteItem") else 0.0


def _fix_upstream(op: str, request: Mapping[str, Any], units: float) -> float:
    """dynalite's figure with its known errors corrected (see the module docstring)."""
    if op == "Scan" and request.get("ConsistentRead"):
        units *= 2  # dynalite bills every Scan as eventually consistent
    return max(units, _minimum(op, request))


def _num(x: float) -> Any:
    return int(x) if float(x).is_integer() else x


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class Limits:
    """A rate in units per second for each direction."""

    read: float
    write: float

    def __post_init__(self) -> None:
        for name in ("read", "write"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(
                    f"Limits.{name} must be a positive number of units per second, got {value!r}."
                )


@dataclass(frozen=True)
class Faults:
    """Injected faults: probabilities per eligible request (the first five exclude each other)."""

    throttle: float = 0.0
    internal_error: float = 0.0
    unavailable: float = 0.0
    drop: float = 0.0
    drop_after: float = 0.0
    unprocessed: float = 0.0
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    #: Operations the faults apply to; None means every metered operation.
    operations: Optional[FrozenSet[str]] = None
    #: Tables the faults apply to; None means all.
    tables: Optional[FrozenSet[str]] = None

    EXCLUSIVE = ("throttle", "internal_error", "unavailable", "drop", "drop_after")

    def __post_init__(self) -> None:
        for name in (*self.EXCLUSIVE, "unprocessed"):
            p = getattr(self, name)
            if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1], got {p!r}.")
        total = sum(getattr(self, n) for n in self.EXCLUSIVE)
        if total > 1.0 + 1e-9:
            raise ValueError(
                f"Faults {', '.join(self.EXCLUSIVE)} add up to {total}; "
                "their sum must not exceed 1."
            )
        for name in ("latency_ms", "latency_jitter_ms"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or v < 0:
                raise ValueError(f"Faults.{name} must be >= 0 milliseconds, got {v!r}.")
        if self.operations is not None:
            object.__setattr__(self, "operations", frozenset(self.operations))
            unknown = sorted(set(self.operations) - METERED_OPS)
            if unknown:
                raise ValueError(
                    f"Faults.operations has unknown operations {unknown}; "
                    f"known: {sorted(METERED_OPS)}."
                )
        if self.tables is not None:
            object.__setattr__(self, "tables", frozenset(self.tables))

    def applies(self, op: str, tables: Sequence[str]) -> bool:
        if op not in (self.operations if self.operations is not None else METERED_OPS):
            return False
        return self.tables is None or any(t in self.tables for t in tables)

    @property
    def active(self) -> bool:
        return any(
            getattr(self, n)
            for n in (*self.EXCLUSIVE, "unprocessed", "latency_ms", "latency_jitter_ms")
        )

    def to_dict(self) -> Dict[str, Any]:
        out = asdict(self)
        for key in ("operations", "tables"):
            out[key] = sorted(out[key]) if out[key] is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"Unknown fault settings {unknown}; known: {sorted(known)}.")
        values = dict(data)
        for key in ("operations", "tables"):
            if values.get(key) is not None:
                values[key] = frozenset(values[key])
        return cls(**values)


@dataclass(frozen=True)
class ProxyConfig:
    """How the proxy meters, throttles and misbehaves. Validated on construction."""

    #: Seconds of unused capacity a bucket keeps (DynamoDB: 300).
    burst_seconds: float = 1.0
    #: Buckets start with a full burst (False: empty).
    start_full: bool = True
    #: False meters only: nothing is throttled for capacity.
    enforce: bool = True
    #: Ceiling of on-demand tables without a per-table value.
    on_demand: Limits = field(
        default_factory=lambda: Limits(DEFAULT_ON_DEMAND_CEILING, DEFAULT_ON_DEMAND_CEILING)
    )
    #: Per-table ceilings of on-demand tables.
    table_on_demand: Mapping[str, Limits] = field(default_factory=dict)
    #: Error code of on-demand throttles.
    on_demand_error: str = "ProvisionedThroughputExceededException"
    #: Seconds a DescribeTable answer is trusted.
    describe_ttl: float = 30.0
    #: Seed of the fault draws (None: not repeatable).
    seed: Optional[int] = 0
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if not isinstance(self.burst_seconds, (int, float)) or self.burst_seconds <= 0:
            raise ValueError(f"burst_seconds must be > 0, got {self.burst_seconds!r}.")
        if not isinstance(self.describe_ttl, (int, float)) or self.describe_ttl < 0:
            raise ValueError(f"describe_ttl must be >= 0 seconds, got {self.describe_ttl!r}.")
        if self.on_demand_error not in THROTTLE_CODES:
            raise ValueError(
                f"on_demand_error must be one of {THROTTLE_CODES}, got {self.on_demand_error!r}."
            )
        if not isinstance(self.on_demand, Limits):
            raise ValueError(f"on_demand must be Limits, got {self.on_demand!r}.")
        for table, limits in self.table_on_demand.items():
            if not isinstance(limits, Limits):
                raise ValueError(f"table_on_demand[{table!r}] must be Limits, got {limits!r}.")
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}.")
        object.__setattr__(self, "table_on_demand", dict(self.table_on_demand))

    def to_dict(self) -> Dict[str, Any]:
        return {
            "burst_seconds": self.burst_seconds,
            "start_full": self.start_full,
            "enforce": self.enforce,
            "on_demand": asdict(self.on_demand),
            "table_on_demand": {t: asdict(v) for t, v in self.table_on_demand.items()},
            "on_demand_error": self.on_demand_error,
            "describe_ttl": self.describe_ttl,
            "seed": self.seed,
            "faults": self.faults.to_dict(),
        }

    def updated(self, changes: Mapping[str, Any]) -> ProxyConfig:
        """A copy with the given top-level keys changed; accepts the JSON form of to_dict()."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"Unknown proxy settings {unknown}; known: {sorted(known)}.")
        values = dict(changes)
        if isinstance(values.get("on_demand"), Mapping):
            values["on_demand"] = Limits(**values["on_demand"])
        if "table_on_demand" in values:
            values["table_on_demand"] = {
                t: v if isinstance(v, Limits) else Limits(**v)
                for t, v in (values["table_on_demand"] or {}).items()
            }
        if isinstance(values.get("faults"), Mapping):
            values["faults"] = Faults.from_dict(values["faults"])
        return replace(self, **values)


# --------------------------------------------------------------------------- state


class _Bucket:
    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst_seconds: float, now: float, full: bool) -> None:
        self.rate = rate
        self.capacity = rate * burst_seconds
        self.tokens = self.capacity if full else 0.0
        self.stamp = now

    def refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def retune(self, rate: float, burst_seconds: float, now: float) -> None:
        self.refill(now)
        self.rate = rate
        self.capacity = rate * burst_seconds
        self.tokens = min(self.tokens, self.capacity)


@dataclass
class _Table:
    name: str
    exists: bool = False
    on_demand: bool = False
    provisioned: Tuple[float, float] = (0.0, 0.0)
    table_ceiling: Optional[Tuple[float, float]] = None
    arn: str = ""
    expires: float = 0.0
    buckets: Dict[str, _Bucket] = field(default_factory=dict)

    def limits(self, cfg: ProxyConfig) -> Tuple[float, float]:
        if not self.on_demand:
            return self.provisioned
        own = cfg.table_on_demand.get(self.name)
        if own is not None:
            return own.read, own.write
        if self.table_ceiling is not None:
            return self.table_ceiling
        return cfg.on_demand.read, cfg.on_demand.write

    @property
    def billing_mode(self) -> str:
        if not self.exists:
            return ""
        return "PAY_PER_REQUEST" if self.on_demand else "PROVISIONED"


class _Row:
    __slots__ = (
        "billing_mode",
        "faults",
        "read_limit",
        "read_units",
        "requests",
        "throttled",
        "write_limit",
        "write_units",
    )

    def __init__(self) -> None:
        self.requests = 0
        self.read_units = 0.0
        self.write_units = 0.0
        self.throttled = 0
        self.faults = 0
        self.read_limit: Optional[float] = None
        self.write_limit: Optional[float] = None
        self.billing_mode = ""


SERIES_FIELDS = (
    "second",
    "elapsed",
    "table",
    "requests",
    "read_units",
    "write_units",
    "throttled",
    "faults",
    "read_limit",
    "write_limit",
    "billing_mode",
)


@dataclass
class Reply:
    """What the proxy answers: a response, or ``drop`` to close the connection without one."""

    status: int = 200
    headers: List[Tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    drop: bool = False


# --------------------------------------------------------------------------- upstream


class _Upstream:
    """One keep-alive connection to the upstream endpoint, owned by one client connection."""

    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"upstream must be an http(s) URL like http://127.0.0.1:8000, got {url!r}."
            )
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        self.conn: Optional[http.client.HTTPConnection] = None

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=self.timeout)
        conn.connect()
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def request(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> Tuple[int, List[Tuple[str, str]], bytes]:
        for attempt in range(2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, path, body=body, headers=dict(headers))
                resp = self.conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # An idle keep-alive connection the upstream closed: retry once on a new one.
                self.close()
                if attempt or not reused:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if resp.will_close:
                self.close()
            return resp.status, resp.getheaders(), data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --------------------------------------------------------------------------- the proxy


class CapacityProxy:
    """The proxy: ``start()``, send DynamoDB clients to ``url``, ``stop()``."""

    def __init__(
        self,
        upstream: str,
        *,
        port: int = 0,
        config: Optional[ProxyConfig] = None,
        timeseries_paths: Sequence[Path] = (),
    ) -> None:
        _Upstream(upstream)  # validates the URL
        self.upstream = upstream.rstrip("/")
        self._port = port
        self._config = config or ProxyConfig()
        self.timeseries_paths = [Path(p) for p in timeseries_paths]
        self._lock = threading.Lock()
        self._rng = random.Random(self._config.seed)
        self._tables: Dict[str, _Table] = {}
        self._rows: Dict[Tuple[int, str], _Row] = {}
        self._totals: Dict[str, float] = {}
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._started_wall = time.time()

    # -- lifecycle

    @property
    def port(self) -> int:
        if self._server is None:
            return self._port
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> CapacityProxy:
        if self._server is not None:
            return self
        self._server = _Server((HOST, self._port), _Handler, self)
        self._started_wall = time.time()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"capacity-proxy-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close client connections and write the time series files."""
        server, self._server = self._server, None
        if server is None:
            return
        self._port = int(server.server_address[1])
        server.shutdown()
        server.close_clients()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for path in self.timeseries_paths:
            self.write_timeseries(path)

    def __enter__(self) -> CapacityProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- run-time configuration

    @property
    def config(self) -> ProxyConfig:
        return self._config

    def configure(self, config: Optional[ProxyConfig] = None, **changes: Any) -> ProxyConfig:
        """Replace the configuration and/or change some fields (named as in ProxyConfig).

        The fault draws restart from the seed whenever a whole config, ``seed`` or ``faults`` is
        given, so a test that sets its faults sees the same sequence every run.
        """
        new = (config or self._config).updated(changes)
        with self._lock:
            self._config = new
            if config is not None or "seed" in changes or "faults" in changes:
                self._rng = random.Random(new.seed)
            now = time.monotonic()
            for table in self._tables.values():
                read, write = table.limits(new)
                for direction, rate in (("read", read), ("write", write)):
                    bucket = table.buckets.get(direction)
                    if bucket is not None and rate > 0:
                        bucket.retune(rate, new.burst_seconds, now)
        return new

    def set_faults(self, faults: Optional[Faults] = None, **settings: Any) -> Faults:
        """Replace the fault set: ``set_faults(throttle=0.1)``; ``set_faults()`` clears it."""
        new = faults if faults is not None else Faults.from_dict(settings)
        self.configure(faults=new)
        return new

    # -- results

    def timeseries(self, table: Optional[str] = None) -> List[Dict[str, Any]]:
        """Rows per second and table, oldest first, gaps between a table's rows filled."""
        with self._lock:
            snapshot = {
                k: (
                    r.requests,
                    r.read_units,
                    r.write_units,
                    r.throttled,
                    r.faults,
                    r.read_limit,
                    r.write_limit,
                    r.billing_mode,
                )
                for k, r in self._rows.items()
                if table is None or k[1] == table
            }
        start = int(self._started_wall)
        by_table: Dict[str, Dict[int, Tuple[Any, ...]]] = {}
        for (second, name), counters in snapshot.items():
            by_table.setdefault(name, {})[second] = counters
        rows: List[Dict[str, Any]] = []
        for name, seconds in by_table.items():
            known = [seconds[s][5:] for s in sorted(seconds) if seconds[s][5] is not None]
            limits: Tuple[Any, ...] = known[0] if known else (None, None, "")
            for second in range(min(seconds), max(seconds) + 1):
                found = seconds.get(second)
                if found is None:
                    values: Tuple[Any, ...] = (0, 0.0, 0.0, 0, 0, *limits)
                elif found[5] is not None:
                    values = found
                    limits = found[5:]
                else:
                    values = (*found[:5], *limits)
                rows.append(dict(zip(SERIES_FIELDS, (second, second - start, name, *values))))
        rows.sort(key=lambda r: (r["second"], r["table"]))
        return rows

    def totals(self) -> Dict[str, float]:
        """Counters since start or reset: requests, units, throttles, faults by kind, errors."""
        with self._lock:
            return dict(self._totals)

    def table_states(self) -> Dict[str, Dict[str, Any]]:
        now = time.monotonic()
        out: Dict[str, Dict[str, Any]] = {}
        with self._lock:
            cfg = self._config
            for name, t in self._tables.items():
                read, write = t.limits(cfg)
                tokens = {}
                for direction, bucket in t.buckets.items():
                    bucket.refill(now)
                    tokens[f"{direction}_tokens"] = round(bucket.tokens, 3)
                out[name] = {
                    "exists": t.exists,
                    "billing_mode": t.billing_mode,
                    "read_limit": read,
                    "write_limit": write,
                    **tokens,
                }
        return out

    def stats(self) -> Dict[str, Any]:
        return {
            "url": self.url,
            "upstream": self.upstream,
            "totals": self.totals(),
            "tables": self.table_states(),
            "config": self._config.to_dict(),
            "series": self.timeseries(),
        }

    def reset_stats(self) -> None:
        with self._lock:
            self._rows.clear()
            self._totals.clear()

    def write_timeseries(self, path: Path) -> None:
        """Write the time series as JSON (``.json``) or CSV (anything else)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = self.timeseries()
        if path.suffix.lower() == ".json":
            path.write_text(json.dumps(rows, indent=1) + "\n")
            return
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=SERIES_FIELDS)
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})

    # -- bookkeeping (callers hold no lock)

    def _count(self, key: str, amount: float = 1) -> None:
        self._totals[key] = self._totals.get(key, 0) + amount

    def _row(self, table: str, wall: float) -> _Row:
        key = (int(wall), table)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = _Row()
        state = self._tables.get(table)
        if state is not None and state.exists:
            row.read_limit, row.write_limit = state.limits(self._config)
            row.billing_mode = state.billing_mode
        return row

    def _record(
        self,
        tables: Sequence[str],
        *,
        requests: int = 0,
        throttled: int = 0,
        faults: int = 0,
        fault_kind: str = "",
    ) -> None:
        wall = time.time()
        with self._lock:
            for table in tables:
                row = self._row(table, wall)
                row.requests += requests
                row.throttled += throttled
                row.faults += faults
            if requests:
                self._count("requests", requests)
            if throttled:
                self._count("throttled", throttled)
            if faults:
                self._count("faults")
                self._count(f"fault_{fault_kind}")

    # -- table states and buckets

    def _state(self, name: str, headers: Mapping[str, str], upstream: _Upstream) -> _Table:
        now = time.monotonic()
        with self._lock:
            state = self._tables.get(name)
            if state is not None and state.expires > now:
                return state
        fresh = self._describe(name, headers, upstream)
        with self._lock:
            state = self._tables.setdefault(name, _Table(name))
            if fresh is not None:
                state.exists, state.on_demand = fresh.exists, fresh.on_demand
                state.provisioned, state.table_ceiling = fresh.provisioned, fresh.table_ceiling
                state.arn, state.expires = fresh.arn, fresh.expires
            return state

    def _describe(
        self, name: str, headers: Mapping[str, str], upstream: _Upstream
    ) -> Optional[_Table]:
        """The table as upstream describes it; None when upstream could not say."""
        now = time.monotonic()
        body = json.dumps({"TableName": name}).encode()
        send = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("authorization", "x-amz-date", "x-amz-security-token", "host")
        }
        send.update(
            {
                "Content-Type": JSON_TYPE,
                "X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                "Content-Length": str(len(body)),
            }
        )
        try:
            status, _, data = upstream.request("POST", "/", send, body)
            answer = json.loads(data or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as err:
            log.warning("DescribeTable %s failed: %s", name, err)
            return None
        with self._lock:
            self._count("describe_calls")
        if status == 400 and str(answer.get("__type", "")).endswith("ResourceNotFoundException"):
            return _Table(name, exists=False, expires=now + 1.0)
        if status != 200 or "Table" not in answer:
            return None
        desc = answer["Table"]
        throughput = desc.get("ProvisionedThroughput") or {}
        mode = (desc.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
        ceiling = None
        odt = desc.get("OnDemandThroughput") or {}
        if odt.get("MaxReadRequestUnits", -1) > 0 and odt.get("MaxWriteRequestUnits", -1) > 0:
            ceiling = (float(odt["MaxReadRequestUnits"]), float(odt["MaxWriteRequestUnits"]))
        settled = desc.get("TableStatus", "ACTIVE") == "ACTIVE"
        return _Table(
            name,
            exists=True,
            on_demand=mode == "PAY_PER_REQUEST",
            provisioned=(
                float(throughput.get("ReadCapacityUnits") or 0),
                float(throughput.get("WriteCapacityUnits") or 0),
            ),
            table_ceiling=ceiling,
            arn=str(desc.get("TableArn") or ""),
            expires=now + (self._config.describe_ttl if settled else 0.5),
        )

    def _bucket(self, state: _Table, direction: str, now: float) -> Optional[_Bucket]:
        """The table's bucket for a direction (lock held); None when nothing is enforced."""
        cfg = self._config
        if not cfg.enforce or not state.exists:
            return None
        read, write = state.limits(cfg)
        rate = read if direction == "read" else write
        if rate <= 0:
            return None
        bucket = state.buckets.get(direction)
        if bucket is None:
            bucket = state.buckets[direction] = _Bucket(
                rate, cfg.burst_seconds, now, cfg.start_full
            )
        elif bucket.rate != rate or bucket.capacity != rate * cfg.burst_seconds:
            bucket.retune(rate, cfg.burst_seconds, now)
        return bucket

    def _admit(self, states: Mapping[str, _Table], direction: str) -> List[str]:
        """The tables whose bucket is empty (the request is throttled for them)."""
        now = time.monotonic()
        blocked = []
        with self._lock:
            for name, state in states.items():
                bucket = self._bucket(state, direction, now)
                if bucket is not None:
                    bucket.refill(now)
                    if bucket.tokens <= 0:
                        blocked.append(name)
        return blocked

    def _charge(self, units: Mapping[str, float], direction: str) -> None:
        now, wall = time.monotonic(), time.time()
        with self._lock:
            for name, amount in units.items():
                state = self._tables.get(name)
                bucket = self._bucket(state, direction, now) if state is not None else None
                if bucket is not None:
                    bucket.refill(now)
                    bucket.tokens -= amount
                row = self._row(name, wall)
                if direction == "read":
                    row.read_units += amount
                else:
                    row.write_units += amount
                self._count(f"{direction}_units", amount)

    def _table_changed(self, op: str, request: Mapping[str, Any]) -> None:
        name = request.get("TableName")
        if not isinstance(name, str):
            return
        name = _table_name(name)
        with self._lock:
            state = self._tables.get(name)
            if op != "UpdateTable" or state is None:
                self._tables.pop(name, None)
                return
            # Apply what was asked right away; DescribeTable confirms it shortly after.
            mode = request.get("BillingMode")
            if mode in ("PAY_PER_REQUEST", "PROVISIONED"):
                state.on_demand = mode == "PAY_PER_REQUEST"
            throughput = request.get("ProvisionedThroughput") or {}
            if throughput:
                state.provisioned = (
                    float(throughput.get("ReadCapacityUnits", 0)),
                    float(throughput.get("WriteCapacityUnits", 0)),
                )
            state.expires = time.monotonic() + 0.5

    # -- faults

    def _draw(self, op: str, tables: Sequence[str]) -> Tuple[str, float]:
        """The injected fault for this request ("" for none) and the latency to add (seconds)."""
        faults = self._config.faults
        if not faults.active or not faults.applies(op, tables):
            return "", 0.0
        with self._lock:
            u = self._rng.random()
            batch_draw = self._rng.random() if op in BATCH_OPS and faults.unprocessed else 1.0
            jitter = self._rng.random() if faults.latency_jitter_ms else 0.0
        delay = (faults.latency_ms + jitter * faults.latency_jitter_ms) / 1000.0
        edge = 0.0
        for kind in Faults.EXCLUSIVE:
            edge += getattr(faults, kind)
            if u < edge:
                return kind, delay
        if batch_draw < faults.unprocessed:
            return "unprocessed", delay
        return "", delay

    # -- replies

    def _error(self, status: int, code: str, message: str, **extra: Any) -> Reply:
        body = json.dumps(
            {"__type": ERROR_PREFIX + code, "message": message, **extra}, separators=(",", ":")
        ).encode()
        return Reply(
            status,
            [
                ("Content-Type", JSON_TYPE),
                ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
                ("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)),
            ],
            body,
        )

    def _throttle(self, state: Optional[_Table], name: str, direction: str) -> Reply:
        on_demand = state is not None and state.on_demand
        code = (
            self._config.on_demand_error
            if on_demand
            else ("ProvisionedThroughputExceededException")
        )
        kind = "MaxOnDemandThroughputExceeded" if on_demand else "ProvisionedThroughputExceeded"
        arn = (
            state.arn
            if state is not None and state.arn
            else f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
        )
        message = (
            "Throughput exceeds the maximum throughput configured for the on-demand table."
            if on_demand
            else "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API."
        )
        reasons = [{"reason": f"Table{direction.title()}{kind}", "resource": arn}]
        return self._error(400, code, message, ThrottlingReasons=reasons)

    def _fault_reply(self, kind: str, name: str, direction: str) -> Reply:
        if kind == "throttle":
            return self._throttle(None, name, direction)
        if kind == "internal_error":
            return self._error(
                500, "InternalServerError", "Internal server error (injected by the capacity proxy)"
            )
        if kind == "unavailable":
            return self._error(
                503,
                "ServiceUnavailable",
                "The service is currently unavailable or busy (injected by the capacity proxy)",
            )
        return Reply(drop=True)

    # -- the request path

    def handle(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, upstream: _Upstream
    ) -> Reply:
        """Answer one client request (headers keyed as the client sent them)."""
        lower = {k.lower(): v for k, v in headers.items()}
        target = lower.get("x-amz-target", "")
        op = target.rpartition(".")[2] if target.startswith("DynamoDB_") else ""
        if method != "POST" or op not in METERED_OPS | TABLE_OPS:
            return self._forward(method, path, headers, body, upstream)
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return self._forward(method, path, headers, body, upstream)
        if op in TABLE_OPS:
            reply = self._forward(method, path, headers, body, upstream)
            if reply.status == 200:
                self._table_changed(op, request)
            return reply
        return self._metered(op, request, path, headers, body, upstream)

    def _forward(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes, upstream: _Upstream
    ) -> Reply:
        send = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
        if body or method in ("POST", "PUT"):
            send["Content-Length"] = str(len(body))
        try:
            status, resp_headers, data = upstream.request(method, path, send, body)
        except (OSError, http.client.HTTPException) as err:
            with self._lock:
                self._count("upstream_errors")
            return self._error(
                502, "BadGateway", f"capacity proxy: upstream {self.upstream} failed: {err}"
            )
        out = [(k, v) for k, v in resp_headers if k.lower() not in _HOP_BY_HOP]
        return Reply(status, out, data)

    def _metered(
        self,
        op: str,
        request: Dict[str, Any],
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        upstream: _Upstream,
    ) -> Reply:
        tables = request_tables(op, request)
        if not tables:
            return self._forward("POST", path, headers, body, upstream)
        self._record(tables, requests=1)
        direction = "read" if op in READ_OPS else "write"
        fault, delay = self._draw(op, tables)
        if delay > 0:
            time.sleep(delay)
        if fault in ("throttle", "internal_error", "unavailable", "drop"):
            self._record(tables, faults=1, fault_kind=fault)
            return self._fault_reply(fault, tables[0], direction)

        states = {t: self._state(t, headers, upstream) for t in tables}
        blocked = self._admit(states, direction)
        held: Dict[str, Any] = {}
        if blocked:
            self._record(blocked, throttled=1)
            if len(blocked) == len(tables):
                return self._throttle(states[blocked[0]], blocked[0], direction)
            request, held = _hold_back(op, request, blocked)
        if fault == "unprocessed":
            request, more = _hold_half(op, request)
            if more:
                self._record(tables, faults=1, fault_kind=fault)
                held = _merge_held(op, held, more)

        asked = request.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES")
        send_body = body
        if held or (not asked and "ReturnConsumedCapacity" in request):
            sent = dict(request)
            if not asked:
                sent["ReturnConsumedCapacity"] = "TOTAL"
            send_body = json.dumps(sent, separators=(",", ":")).encode()
        elif not asked:
            end = body.rindex(b"}")
            send_body = body[:end] + b',"ReturnConsumedCapacity":"TOTAL"' + body[end:]
        reply = self._forward("POST", path, headers, send_body, upstream)

        charged = self._meter(op, request, send_body, reply, asked, held)
        self._charge(charged, direction)
        if fault == "drop_after":
            self._record(tables, faults=1, fault_kind=fault)
            return Reply(drop=True)
        return reply

    def _meter(
        self,
        op: str,
        request: Mapping[str, Any],
        sent: bytes,
        reply: Reply,
        asked: bool,
        held: Mapping[str, Any],
    ) -> Dict[str, float]:
        """Units by table for the answered request; reshapes ``reply`` for the client."""
        if reply.status != 200:
            if (
                reply.status == 400
                and op in ("PutItem", "UpdateItem", "DeleteItem")
                and (b"ConditionalCheckFailedException" in reply.body)
            ):
                return {_table_name(request["TableName"]): 1.0}
            return {}
        data = reply.body
        found = _locate_consumed(data)
        if found is not None and _plain(sent) and _plain(data) and not held:
            cut_from, value_from, value_to, consumed = found
            upstream_units = _units_by_table(consumed)
            units = {t: _fix_upstream(op, request, u) for t, u in upstream_units.items()}
            with self._lock:
                self._count("fast_path")
            view = memoryview(data)
            if not asked:
                _set_body(reply, b"".join((view[:cut_from], view[value_to:])))
            elif units != upstream_units:
                value = json.dumps(_rewrite_consumed(consumed, units), separators=(",", ":"))
                _set_body(reply, b"".join((view[:value_from], value.encode(), view[value_to:])))
            return units

        answer = json.loads(data)
        consumed = answer.pop("ConsumedCapacity", None)
        upstream_units = _units_by_table(consumed)
        seen = visible_units(op, request, answer)
        units = {
            t: max(_fix_upstream(op, request, upstream_units.get(t, 0.0)), u)
            for t, u in seen.items()
        }
        for t, u in upstream_units.items():
            units.setdefault(t, _fix_upstream(op, request, u))
        with self._lock:
            self._count("slow_path")
        if held:
            key = "UnprocessedKeys" if op == "BatchGetItem" else "UnprocessedItems"
            answer[key] = _merge_held(op, answer.get(key) or {}, held)
        if asked and consumed is not None:
            answer["ConsumedCapacity"] = _rewrite_consumed(consumed, units)
        _set_body(reply, json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode())
        return units


def _plain(body: bytes) -> bool:
    """True when every string in this JSON is ASCII without escapes, so dynalite sized it right.

    A one-byte search on purpose: looking for the two bytes of a ``\\u`` escape instead is some
    400 times slower on a 1 MB page (4 ms against 0.01 ms).
    """
    return body.isascii() and b"\\" not in body


def _locate_consumed(body: bytes) -> Optional[Tuple[int, int, int, Any]]:
    """Where the top-level ConsumedCapacity is, when it is the last key (as dynalite writes it).

    Returns (start of the text to cut, including the comma before it; start of the value; end of
    the value; the decoded value), or None when it is absent or not in that position.
    """
    start = body.rfind(_CC_KEY)
    if start <= 0 or body[start - 1 : start] not in (b",", b"{"):
        return None
    value_from = start + len(_CC_KEY)
    tail = body[value_from:]
    try:
        text = tail.decode("ascii")
        value, length = _DECODER.raw_decode(text)
    except (UnicodeDecodeError, ValueError):
        return None
    value_to = value_from + length
    if body[value_to:].strip() != b"}" or not _units_by_table(value):
        return None
    cut_from = start - 1 if body[start - 1 : start] == b"," else start
    return cut_from, value_from, value_to, value


def _rewrite_consumed(consumed: Any, units: Mapping[str, float]) -> Any:
    def one(entry: Any) -> Any:
        if not isinstance(entry, dict):
            return entry
        name = _table_name(str(entry.get("TableName", "")))
        if name not in units:
            return entry
        entry = dict(entry, CapacityUnits=_num(units[name]))
        indexes = "GlobalSecondaryIndexes" in entry or "LocalSecondaryIndexes" in entry
        if isinstance(entry.get("Table"), dict) and not indexes:
            entry["Table"] = dict(entry["Table"], CapacityUnits=_num(units[name]))
        return entry

    return [one(e) for e in consumed] if isinstance(consumed, list) else one(consumed)


def _set_body(reply: Reply, body: bytes) -> None:
    reply.body = body
    reply.headers = [(k, v) for k, v in reply.headers if k.lower() != "x-amz-crc32"]
    reply.headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))


def _hold_back(
    op: str, request: Dict[str, Any], tables: Sequence[str]
) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Split a batch: the request without ``tables``, and those tables' part."""
    items = dict(request.get("RequestItems") or {})
    held = {k: items.pop(k) for k in list(items) if _table_name(k) in tables}
    return dict(request, RequestItems=items), held


def _hold_half(op: str, request: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Keep the first half (rounded up) of every table's items in a batch; return the rest."""
    items: Dict[str, Any] = {}
    held: Dict[str, Any] = {}
    for table, part in (request.get("RequestItems") or {}).items():
        entries = (part.get("Keys") or []) if op == "BatchGetItem" else part
        keep = (len(entries) + 1) // 2
        if keep == len(entries):
            items[table] = part
            continue
        if op == "BatchGetItem":
            items[table] = dict(part, Keys=entries[:keep])
            held[table] = dict(part, Keys=entries[keep:])
        else:
            items[table] = entries[:keep]
            held[table] = entries[keep:]
    return dict(request, RequestItems=items), held


def _merge_held(op: str, into: Mapping[str, Any], more: Mapping[str, Any]) -> Dict[str, Any]:
    merged = dict(into)
    for table, part in more.items():
        if table not in merged:
            merged[table] = part
        elif op == "BatchGetItem":
            merged[table] = dict(
                merged[table],
                Keys=list(merged[table].get("Keys") or []) + list(part.get("Keys") or []),
            )
        else:
            merged[table] = list(merged[table]) + list(part)
    return merged


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self, address: Tuple[str, int], handler: type[_Handler], proxy: CapacityProxy
    ) -> None:
        self.proxy = proxy
        self.clients: set[socket.socket] = set()
        self.clients_lock = threading.Lock()
        super().__init__(address, handler)

    def close_clients(self) -> None:
        with self.clients_lock:
            clients = list(self.clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.upstream = _Upstream(self.server.proxy.upstream)
        with self.server.clients_lock:
            self.server.clients.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.upstream.close()
            with self.server.clients_lock:
                self.server.clients.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: List[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        proxy = self.server.proxy
        try:
            body = self._read_body()
            if self.path.startswith("/__proxy/"):
                reply = _admin(proxy, method, self.path, body)
            else:
                reply = proxy.handle(
                    method, self.path, dict(self.headers.items()), body, self.upstream
                )
        except Exception:  # a bug of ours: tell the client and count it, keep serving
            traceback.print_exc()
            with proxy._lock:
                proxy._count("proxy_errors")
            reply = proxy._error(
                500, "InternalServerError", "capacity proxy failed; see its stderr"
            )
        if reply.drop:
            self.close_connection = True
            return
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        reason = self.responses.get(reply.status, ("",))[0]
        lines = [f"HTTP/1.1 {reply.status} {reason}"]
        lines += [f"{k}: {v}" for k, v in reply.headers]
        lines.append(f"Content-Length: {len(reply.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if reply.body:
            self.wfile.write(reply.body)


def _admin(proxy: CapacityProxy, method: str, path: str, body: bytes) -> Reply:
    def answer(status: int, payload: Any) -> Reply:
        data = json.dumps(payload, indent=1).encode()
        return Reply(status, [("Content-Type", "application/json")], data)

    route = path.split("?", 1)[0].rstrip("/")
    try:
        if method == "GET" and route == "/__proxy/stats":
            return answer(200, proxy.stats())
        if route == "/__proxy/config":
            if method == "POST":
                changes = json.loads(body or b"{}")
                if not isinstance(changes, dict):
                    raise ValueError("POST /__proxy/config takes a JSON object.")
                proxy.configure(**changes)
            return answer(200, proxy.config.to_dict())
        if method == "POST" and route == "/__proxy/reset":
            proxy.reset_stats()
            return answer(200, {"reset": True})
    except (ValueError, TypeError) as err:
        return answer(400, {"error": str(err)})
    return answer(
        404,
        {
            "error": f"no admin route {method} {route}; try GET /__proxy/stats, "
            "GET|POST /__proxy/config, POST /__proxy/reset"
        },
    )


# --------------------------------------------------------------------------- command line


def _limits_arg(text: str) -> Tuple[str, Limits]:
    try:
        table, rates = text.split("=", 1)
        read, write = rates.split(":", 1)
        return table, Limits(float(read), float(write))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected TABLE=READ:WRITE, got {text!r} ({err})"
        ) from err


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.support.capacity_proxy",
        description="Meter and throttle DynamoDB traffic to an upstream endpoint (dynalite).",
    )
    p.add_argument(
        "--upstream", required=True, help="upstream endpoint, e.g. http://127.0.0.1:8000"
    )
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    p.add_argument(
        "--timeseries",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="write the per-second series here on exit (.json: JSON, else CSV); repeatable",
    )
    p.add_argument(
        "--burst-seconds",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds of unused capacity a table keeps (DynamoDB: 300)",
    )
    p.add_argument("--start-empty", action="store_true", help="buckets start empty, not full")
    p.add_argument("--meter-only", action="store_true", help="never throttle for capacity")
    for direction in ("read", "write"):
        p.add_argument(
            f"--on-demand-{direction}",
            type=float,
            default=DEFAULT_ON_DEMAND_CEILING,
            metavar="UNITS",
            help=f"{direction} ceiling of on-demand tables, units per second",
        )
    p.add_argument(
        "--on-demand-limit",
        action="append",
        type=_limits_arg,
        default=[],
        metavar="TABLE=READ:WRITE",
        help="ceiling of one on-demand table; repeatable",
    )
    p.add_argument(
        "--on-demand-error",
        choices=THROTTLE_CODES,
        default="ProvisionedThroughputExceededException",
        help="error code of on-demand throttles",
    )
    p.add_argument(
        "--describe-ttl",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a DescribeTable answer is trusted",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    faults = {
        "throttle": "answered ProvisionedThroughputExceededException",
        "internal-error": "answered HTTP 500 InternalServerError",
        "unavailable": "answered HTTP 503 ServiceUnavailable",
        "drop": "dropped (connection closed) before it reaches upstream",
        "drop-after": "executed upstream, then dropped",
        "unprocessed": "a batch with half its items returned unprocessed",
    }
    for name, what in faults.items():
        p.add_argument(
            f"--{name}",
            type=float,
            default=0.0,
            metavar="P",
            help=f"probability that a request is {what}",
        )
    p.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="latency added to every request the faults apply to",
    )
    p.add_argument(
        "--latency-jitter-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="plus a uniformly random 0..MS",
    )
    p.add_argument(
        "--fault-table",
        action="append",
        default=None,
        metavar="TABLE",
        help="inject faults only for this table; repeatable",
    )
    p.add_argument(
        "--fault-operation",
        action="append",
        default=None,
        metavar="OP",
        help="inject faults only for this operation; repeatable",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> ProxyConfig:
    faults = Faults(
        throttle=args.throttle,
        internal_error=args.internal_error,
        unavailable=args.unavailable,
        drop=args.drop,
        drop_after=args.drop_after,
        unprocessed=args.unprocessed,
        latency_ms=args.latency_ms,
        latency_jitter_ms=args.latency_jitter_ms,
        operations=frozenset(args.fault_operation) if args.fault_operation else None,
        tables=frozenset(args.fault_table) if args.fault_table else None,
    )
    return ProxyConfig(
        burst_seconds=args.burst_seconds,
        start_full=not args.start_empty,
        enforce=not args.meter_only,
        on_demand=Limits(args.on_demand_read, args.on_demand_write),
        table_on_demand=dict(args.on_demand_limit),
        on_demand_error=args.on_demand_error,
        describe_ttl=args.describe_ttl,
        seed=args.seed,
        faults=faults,
    )


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    try:
        config = config_from_args(args)
        proxy = CapacityProxy(
            args.upstream, port=args.port, config=config, timeseries_paths=args.timeseries
        )
    except ValueError as err:
        parser.error(str(err))
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    proxy.start()
    print(f"capacity proxy listening on {proxy.url} -> {proxy.upstream}", flush=True)
    while not stop.wait(0.5):
        pass
    proxy.stop()
    totals = proxy.totals()
    print("capacity proxy stopped: " + json.dumps(totals, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
