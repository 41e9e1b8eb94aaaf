"""Items for the benchmarks: deterministic, small (~190 bytes), a mix of DynamoDB types.

Items come in two forms: boto3's low-level format (``bytes`` for binary), used with boto3 clients,
and the wire format (binary as base64 text), pre-serialized into BatchWriteItem request bodies so
the raw writer spends no time on serialization.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Callable

Item = dict[str, Any]

KEY = "pk"


def bench_item(i: int) -> Item:
    """Item ``i``: S, N (integer and decimal), BOOL, SS, B, M, L and NULL; ~190 bytes by
    DynamoDB's size rules."""
    return {
        KEY: {"S": f"user#{i:09d}"},
        "n": {"N": str(i)},
        "price": {"N": f"{(i * 7919) % 100000 / 100:.2f}"},
        "name": {"S": f"customer {i} {'abcdefghij'[i % 10] * 12}"},
        "note": {"S": "lorem ipsum dolor sit amet, consectetur"},
        "active": {"BOOL": i % 3 == 0},
        "tags": {"SS": ["alpha", f"t{i % 97}"]},
        "blob": {"B": i.to_bytes(8, "big") * 2},
        "addr": {"M": {"city": {"S": "Springfield"}, "zip": {"N": str(10000 + i % 90000)}}},
        "hist": {"L": [{"N": str(i % 13)}, {"S": "x"}, {"NULL": True}]},
    }


def padded_item(i: int, size: int) -> Item:
    """A bench item grown with a string attribute to about ``size`` bytes (for throttled runs,
    where fewer, larger items make a run long enough without a long load)."""
    from ddbpipe.formats import item_size

    item = bench_item(i)
    pad = size - item_size(item) - len("pad")
    if pad > 0:
        item["pad"] = {"S": "p" * pad}
    return item


def to_wire(value: Any) -> Any:
    """boto3's low-level format to DynamoDB's JSON wire format (binary as base64)."""
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: to_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    return value


def wire_batches(count: int, start: int = 0, size: int = 25,
                 make: Callable[[int], Item] = bench_item) -> list[str]:
    """Items ``start..start+count`` as the JSON of BatchWriteItem request lists, ``size`` puts
    each (``[{"PutRequest": {"Item": ...}}, ...]``), ready to be wrapped with a table name."""
    out: list[str] = []
    for first in range(start, start + count, size):
        last = min(first + size, start + count)
        puts = [{"PutRequest": {"Item": to_wire(make(i))}} for i in range(first, last)]
        out.append(json.dumps(puts, separators=(",", ":")))
    return out


def boto3_batches(count: int, start: int = 0, size: int = 25) -> list[list[Item]]:
    """``count`` items as boto3 BatchWriteItem request lists of ``size`` puts."""
    out: list[list[Item]] = []
    for first in range(start, start + count, size):
        last = min(first + size, start + count)
        out.append([{"PutRequest": {"Item": bench_item(i)}} for i in range(first, last)])
    return out
