"""A sample table of every DynamoDB type, for the demo, tests and benchmarks.

Items are deterministic functions of their number, so a test can rebuild any item it expects.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator, Optional

KEY = "pk"


def sample_item(i: int, payload: int = 0) -> dict[str, Any]:
    """Item ``i``: every attribute type, nested values, binary with all byte values."""
    item: dict[str, Any] = {
        KEY: {"S": f"item-{i:08d}"},
        "n": {"N": str(i)},
        "big": {"N": "1234567890123456789012345678901234567" + str(i % 10)},
        "neg": {"N": f"-{i}.125E-3"},
        "s": {"S": f"Ünïcødé ✓ {i} \"quoted\" \\ tab\t newline\n"},
        "empty": {"S": ""},
        "b": {"B": bytes((i + k) % 256 for k in range(256))},
        "ss": {"SS": [f"a{i}", f"b{i}", "c"]},
        "ns": {"NS": [str(i), "0.5", "-1E+10"]},
        "bs": {"BS": [bytes([i % 256]), b"\x00\xff"]},
        "bool": {"BOOL": i % 2 == 0},
        "null": {"NULL": True},
        "m": {"M": {"x": {"N": str(i * 2)}, "bin": {"B": b"\x01\x02"}, "e": {"M": {}},
                    "l": {"L": []}}},
        "l": {"L": [{"S": "one"}, {"N": "2"}, {"B": b"\x03"}, {"NULL": True},
                    {"L": [{"BOOL": False}]}, {"SS": ["z"]}]},
    }
    if payload:
        item["payload"] = {"S": "x" * payload}
    if i % 7 == 0:
        del item["bs"]  # not every item has every attribute
    return item


def sample_items(count: int, start: int = 0, payload: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + count):
        yield sample_item(i, payload)


def create_table(
    ddb: Any, name: str, *, read: Optional[int] = 1000, write: Optional[int] = 1000,
    key: str = KEY, key_type: str = "S", sort_key: Optional[tuple[str, str]] = None,
) -> None:
    """Create a table (on-demand when ``read`` is None) and wait until it is ACTIVE."""
    keys = [{"AttributeName": key, "KeyType": "HASH"}]
    attrs = [{"AttributeName": key, "AttributeType": key_type}]
    if sort_key:
        keys.append({"AttributeName": sort_key[0], "KeyType": "RANGE"})
        attrs.append({"AttributeName": sort_key[0], "AttributeType": sort_key[1]})
    args: dict[str, Any] = {"TableName": name, "KeySchema": keys, "AttributeDefinitions": attrs}
    if read is None:
        args["BillingMode"] = "PAY_PER_REQUEST"
    else:
        args["ProvisionedThroughput"] = {"ReadCapacityUnits": read, "WriteCapacityUnits": write}
    ddb.create_table(**args)
    ddb.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )


def put_items(ddb: Any, name: str, items: Iterator[dict[str, Any]], threads: int = 4) -> int:
    """BatchWriteItem ``items`` into ``name`` (retrying unprocessed items); returns the count."""
    batches: list[list[dict[str, Any]]] = []
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append({"PutRequest": {"Item": item}})
        if len(batch) == 25:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)

    def write(requests: list[dict[str, Any]]) -> int:
        pending, delay = requests, 0.05
        while pending:
            resp = ddb.batch_write_item(RequestItems={name: pending})
            pending = resp.get("UnprocessedItems", {}).get(name, [])
            if pending:
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
        return len(requests)

    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(write, batches))


def scan_all(ddb: Any, name: str) -> list[dict[str, Any]]:
    """Every item of ``name`` (consistent scan), in the boto3 low-level format."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
