"""The capacity proxy in front of dynalite: metering, throttling, faults and the time series.

Also pins what dynalite itself reports as ConsumedCapacity, right and wrong, so that the
corrections the proxy makes are re-examined if a dynalite upgrade changes it.
"""

from __future__ import annotations

import csv
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any, Dict, Iterator, List

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from ddbpipe_dev import localstack

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.support` is imported from the checkout, not installed
    sys.path.insert(0, str(ROOT))

from tests.support.capacity_proxy import (  # noqa: E402
    CapacityProxy,
    Faults,
    Limits,
    ProxyConfig,
    item_size,
    number_size,
    read_units,
    value_size,
    write_units,
)

#: Rate-measuring tests run one after another in one xdist worker (``make test`` runs several).
pytestmark = [pytest.mark.functional, pytest.mark.xdist_group("rates")]

REGION = "us-east-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=20)
WITH_RETRIES = Config(
    retries={"mode": "legacy", "total_max_attempts": 10}, connect_timeout=5, read_timeout=20
)


def client_for(url: str, config: Config = NO_RETRIES) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name=REGION, config=config)


def sized_item(key: str, size: int) -> Dict[str, Any]:
    """An item of exactly ``size`` bytes by DynamoDB's rules (ASCII only)."""
    item = {"pk": {"S": key}, "d": {"S": "x" * (size - 3 - len(key))}}
    assert item_size(item) == size
    return item


def create_table(
    client: Any, name: str, rcu: int = 1000, wcu: int = 1000, on_demand: bool = False
) -> str:
    args: Dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    }
    if on_demand:
        args["BillingMode"] = "PAY_PER_REQUEST"
    else:
        args["ProvisionedThroughput"] = {"ReadCapacityUnits": rcu, "WriteCapacityUnits": wcu}
    client.create_table(**args)
    deadline = time.monotonic() + 10
    while client.describe_table(TableName=name)["Table"]["TableStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, f"{name} did not become ACTIVE"
        time.sleep(0.02)
    return name


def batch_put(client: Any, table: str, items: List[Dict[str, Any]]) -> float:
    """Write items 25 at a time; the consumed units as the client sees them."""
    units = 0.0
    for start in range(0, len(items), 25):
        chunk = [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]
        out = client.batch_write_item(RequestItems={table: chunk}, ReturnConsumedCapacity="TOTAL")
        assert not out["UnprocessedItems"]
        units += sum(c["CapacityUnits"] for c in out["ConsumedCapacity"])
    return units


def series_total(proxy: CapacityProxy, table: str, key: str) -> float:
    return sum(row[key] for row in proxy.timeseries(table=table))


def steady_rates(proxy: CapacityProxy, table: str, key: str) -> List[float]:
    """Per-second values once the burst is spent: the full seconds after the first throttle."""
    rows = [r for r in proxy.timeseries(table=table) if r["requests"]]
    first_throttle = next(i for i, r in enumerate(rows) if r["throttled"])
    steady = [r[key] for r in rows[first_throttle + 1 : -1]]
    assert len(steady) >= 2, rows
    return steady


@pytest.fixture(scope="module")
def server(dynalite: localstack.Server) -> Iterator[CapacityProxy]:
    proxy = CapacityProxy(
        dynalite.url, port=localstack.free_port(), config=ProxyConfig(burst_seconds=1.0)
    )
    proxy.start()
    yield proxy
    proxy.stop()
    assert proxy.totals().get("proxy_errors", 0) == 0


@pytest.fixture
def proxy(server: CapacityProxy) -> CapacityProxy:
    """The module's proxy, back to its defaults (no faults, seed 0) for each test."""
    server.configure(ProxyConfig(burst_seconds=1.0))
    return server


@pytest.fixture
def direct(dynalite: localstack.Server) -> Any:
    return client_for(dynalite.url)


@pytest.fixture
def client(proxy: CapacityProxy) -> Any:
    return client_for(proxy.url)


# --------------------------------------------------------------------------- sizing rules


def test_item_size_rules() -> None:
    assert value_size({"S": "abc"}) == 3
    assert value_size({"S": "é"}) == 2 and value_size({"S": "😀"}) == 4  # UTF-8 bytes
    assert value_size({"B": "AAEC"}) == 3 and value_size({"B": "AA=="}) == 1
    assert value_size({"BOOL": True}) == value_size({"NULL": True}) == 1
    assert [number_size(n) for n in ("0", "1", "10", "12", "123", "1.2", "1000", "-1")] == [
        1,
        2,
        2,
        2,
        3,
        3,
        2,
        3,
    ]
    assert number_size("1" * 38) == 1 + 19
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2
    assert value_size({"SS": ["a", "bc"]}) == 3
    assert item_size({"pk": {"S": "k1"}, "é": {"N": "7"}}) == 2 + 2 + 2 + 2
    assert (read_units(0, False), read_units(4096, False), read_units(4097, True)) == (0.5, 0.5, 2)
    assert (write_units(0), write_units(1024), write_units(2560)) == (1, 1, 3)


# --------------------------------------------------------------------------- dynalite itself


def test_dynalite_consumed_capacity_against_the_rules(direct: Any, unique: str) -> None:
    table = create_table(direct, f"cc-{unique}")

    def cc(response: Dict[str, Any]) -> float:
        consumed = response["ConsumedCapacity"]
        if isinstance(consumed, list):
            return float(sum(c["CapacityUnits"] for c in consumed))
        return float(consumed["CapacityUnits"])

    total = "TOTAL"
    # Right: writes per 1 KB of the larger of old and new item, deletes on the old item.
    assert (
        cc(
            direct.put_item(
                TableName=table, Item=sized_item("a", 2560), ReturnConsumedCapacity=total
            )
        )
        == 3
    )
    assert (
        cc(
            direct.put_item(
                TableName=table, Item=sized_item("a", 500), ReturnConsumedCapacity=total
            )
        )
        == 3
    )
    assert (
        cc(
            direct.update_item(
                TableName=table,
                Key={"pk": {"S": "a"}},
                UpdateExpression="SET e = :e",
                ExpressionAttributeValues={":e": {"S": "y" * 3000}},
                ReturnConsumedCapacity=total,
            )
        )
        == 4
    )
    assert (
        cc(
            direct.delete_item(
                TableName=table, Key={"pk": {"S": "a"}}, ReturnConsumedCapacity=total
            )
        )
        == 4
    )
    assert (
        cc(
            direct.delete_item(
                TableName=table, Key={"pk": {"S": "a"}}, ReturnConsumedCapacity=total
            )
        )
        == 1
    )
    items = [sized_item(f"k{i:02d}", 2560) for i in range(10)]
    writes = [{"PutRequest": {"Item": i}} for i in items]
    out = direct.batch_write_item(RequestItems={table: writes}, ReturnConsumedCapacity=total)
    assert cc(out) == 30
    # Right: reads per 4 KB, half when eventually consistent, missing items at the minimum.
    direct.put_item(TableName=table, Item=sized_item("big", 5000))
    key = {"pk": {"S": "big"}}
    assert cc(direct.get_item(TableName=table, Key=key, ReturnConsumedCapacity=total)) == 1
    assert (
        cc(
            direct.get_item(
                TableName=table, Key=key, ConsistentRead=True, ReturnConsumedCapacity=total
            )
        )
        == 2
    )
    assert (
        cc(
            direct.get_item(
                TableName=table, Key={"pk": {"S": "none"}}, ReturnConsumedCapacity=total
            )
        )
        == 0.5
    )
    keys = [key, {"pk": {"S": "k00"}}, {"pk": {"S": "none"}}]
    assert (
        cc(
            direct.batch_get_item(
                RequestItems={table: {"Keys": keys}}, ReturnConsumedCapacity=total
            )
        )
        == 1 + 0.5 + 0.5
    )
    query = {
        "TableName": table,
        "KeyConditionExpression": "pk = :k",
        "ExpressionAttributeValues": {":k": {"S": "big"}},
        "ReturnConsumedCapacity": total,
    }
    assert cc(direct.query(**query)) == 1 and cc(direct.query(**query, ConsistentRead=True)) == 2
    # 10 x 2560 + 5000 bytes = 30,600 -> 8 units of 4 KB.
    assert cc(direct.scan(TableName=table, ReturnConsumedCapacity=total)) == 4

    # Wrong (the proxy corrects these): Scan ignores ConsistentRead...
    assert cc(direct.scan(TableName=table, ConsistentRead=True, ReturnConsumedCapacity=total)) == 4
    # ...strings are sized in UTF-16 code units (2,004 UTF-8 bytes here, so 2 units)...
    utf8 = {"pk": {"S": "u"}, "d": {"S": "é" * 1000}}
    assert item_size(utf8) == 2004
    assert cc(direct.put_item(TableName=table, Item=utf8, ReturnConsumedCapacity=total)) == 1
    # ...and an empty page is free.
    query["ExpressionAttributeValues"] = {":k": {"S": "none"}}
    assert cc(direct.query(**query)) == 0


# --------------------------------------------------------------------------- metering


def test_scan_metering_matches_the_rules(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"scan-{unique}")
    batch_put(direct, table, [sized_item(f"i{i:03d}", 1024) for i in range(100)])  # 25 x 4 KB

    eventual = client.scan(TableName=table, ReturnConsumedCapacity="TOTAL")
    assert eventual["Count"] == 100 and eventual["ConsumedCapacity"]["CapacityUnits"] == 12.5
    strong = client.scan(TableName=table, ConsistentRead=True, ReturnConsumedCapacity="INDEXES")
    assert strong["ConsumedCapacity"]["CapacityUnits"] == 25  # dynalite says 12.5
    assert strong["ConsumedCapacity"]["Table"]["CapacityUnits"] == 25
    # Pages of 10 items (10 KB -> 3 units of 4 KB, 1.5 eventually consistent), then the empty
    # last page that still costs the minimum.
    pages, units, start = 0, 0.0, None
    while True:
        args: Dict[str, Any] = {"TableName": table, "Limit": 10, "ReturnConsumedCapacity": "TOTAL"}
        if start:
            args["ExclusiveStartKey"] = start
        page = client.scan(**args)
        pages, units = pages + 1, units + page["ConsumedCapacity"]["CapacityUnits"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert (pages, units) == (11, 10 * 1.5 + 0.5)
    unasked = client.scan(TableName=table)
    assert unasked["Count"] == 100 and "ConsumedCapacity" not in unasked

    assert series_total(proxy, table, "read_units") == 12.5 + 25 + 15.5 + 12.5
    assert series_total(proxy, table, "requests") == 1 + 1 + 11 + 1


def test_write_metering_matches_the_rules(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"write-{unique}")
    items = [sized_item(f"w{i:02d}", 2560) for i in range(25)]
    assert batch_put(client, table, items) == 25 * 3
    out = client.put_item(
        TableName=table,
        Item={"pk": {"S": "u"}, "d": {"S": "é" * 1000}},
        ReturnConsumedCapacity="TOTAL",
    )
    assert out["ConsumedCapacity"]["CapacityUnits"] == 2  # dynalite says 1
    client.delete_item(TableName=table, Key={"pk": {"S": "w00"}})  # 3
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.put_item(
            TableName=table,
            Item={"pk": {"S": "w01"}},
            ConditionExpression="attribute_not_exists(pk)",
        )  # 1
    # A put of 1,205 UTF-8 bytes (604 UTF-16 units) and a delete of a missing key.
    out = client.batch_write_item(
        RequestItems={
            table: [
                {"DeleteRequest": {"Key": {"pk": {"S": "gone"}}}},
                {"PutRequest": {"Item": {"pk": {"S": "ü"}, "d": {"S": "ü" * 600}}}},
            ]
        },
        ReturnConsumedCapacity="TOTAL",
    )
    assert out["ConsumedCapacity"][0]["CapacityUnits"] == 1 + 2  # dynalite says 1 + 1
    assert series_total(proxy, table, "write_units") == 75 + 2 + 3 + 1 + 3
    assert series_total(proxy, table, "read_units") == 0


def test_consumed_capacity_only_when_asked(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"ask-{unique}")
    key = {"pk": {"S": "a"}}
    calls = {
        "put_item": {"TableName": table, "Item": sized_item("a", 100)},
        "get_item": {"TableName": table, "Key": key},
        "query": {
            "TableName": table,
            "KeyConditionExpression": "pk = :k",
            "ExpressionAttributeValues": {":k": {"S": "a"}},
        },
        "scan": {"TableName": table},
        "update_item": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET n = :n",
            "ExpressionAttributeValues": {":n": {"N": "1"}},
        },
        "batch_get_item": {"RequestItems": {table: {"Keys": [key]}}},
        "batch_write_item": {
            "RequestItems": {table: [{"PutRequest": {"Item": {"pk": {"S": "b"}}}}]}
        },
        "delete_item": {"TableName": table, "Key": key},
    }
    for method, args in calls.items():
        call = getattr(client, method)
        assert "ConsumedCapacity" not in call(**args), method
        assert "ConsumedCapacity" not in call(**args, ReturnConsumedCapacity="NONE"), method
        assert "ConsumedCapacity" in call(**args, ReturnConsumedCapacity="TOTAL"), method
        indexes = call(**args, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
        entry = indexes[0] if isinstance(indexes, list) else indexes
        assert entry["Table"]["CapacityUnits"] == entry["CapacityUnits"], method
    assert proxy.totals()["write_units"] > 0

    # On the wire: the body changed, so Content-Length and x-amz-crc32 are the new body's.
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
    body = json.dumps({"TableName": table, "Key": {"pk": {"S": "b"}}})
    conn.request(
        "POST",
        "/",
        body,
        {
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "DynamoDB_20120810.GetItem",
            "X-Amz-Date": "20250101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        },
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    assert resp.status == 200 and json.loads(data) == {"Item": {"pk": {"S": "b"}}}
    assert int(resp.headers["Content-Length"]) == len(data)
    assert int(resp.headers["x-amz-crc32"]) == zlib.crc32(data) & 0xFFFFFFFF


# --------------------------------------------------------------------------- throttling


def hammer_puts(client: Any, table: str, seconds: float, size: int = 1000) -> Dict[str, Any]:
    """PutItem as fast as one thread can for ``seconds``; what succeeded and what was refused."""
    done, throttled, units, error = 0, 0, 0.0, None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            out = client.put_item(
                TableName=table,
                Item=sized_item(f"p{done:06d}", size),
                ReturnConsumedCapacity="TOTAL",
            )
            done, units = done + 1, units + out["ConsumedCapacity"]["CapacityUnits"]
        except botocore.exceptions.ClientError as err:
            code = err.response["Error"]["Code"]
            if code not in ("ProvisionedThroughputExceededException", "RequestLimitExceeded"):
                raise
            throttled, error = throttled + 1, err
    return {"done": done, "throttled": throttled, "units": units, "error": error}


def test_provisioned_write_capacity_is_enforced(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"wcu50-{unique}", rcu=100, wcu=50)
    started = time.monotonic()
    result = hammer_puts(client, table, 4.5)
    elapsed = time.monotonic() - started

    err = result["error"]
    assert isinstance(err, client.exceptions.ProvisionedThroughputExceededException)
    reason = err.response["ThrottlingReasons"][0]["reason"]
    assert reason == "TableWriteProvisionedThroughputExceeded"
    assert result["throttled"] > result["done"]
    # Over the run: the burst (1 s of capacity) plus the rate, never more.
    assert result["units"] <= 50 * (elapsed + 1.0) + 1
    steady = steady_rates(proxy, table, "write_units")
    assert abs(sum(steady) / len(steady) - 50) <= 5, steady
    rows = proxy.timeseries(table=table)
    assert {(r["write_limit"], r["read_limit"], r["billing_mode"]) for r in rows} == {
        (50, 100, "PROVISIONED")
    }
    assert sum(r["throttled"] for r in rows) == result["throttled"]


def test_read_capacity_holds_under_concurrent_clients(
    proxy: CapacityProxy, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"rcu40-{unique}", rcu=40, wcu=100)
    direct.put_item(TableName=table, Item=sized_item("a", 4000))  # 1 unit strongly consistent
    errors: List[BaseException] = []
    counts = {"done": 0, "throttled": 0}
    lock = threading.Lock()

    def reader() -> None:
        client = client_for(proxy.url)
        deadline = time.monotonic() + 3.5
        try:
            while time.monotonic() < deadline:
                try:
                    client.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)
                    key = "done"
                except client.exceptions.ProvisionedThroughputExceededException as err:
                    reason = err.response["ThrottlingReasons"][0]["reason"]
                    assert reason == "TableReadProvisionedThroughputExceeded"
                    key = "throttled"
                with lock:
                    counts[key] += 1
        except BaseException as err:  # surfaced below, in the test's thread
            errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    steady = steady_rates(proxy, table, "read_units")
    assert abs(sum(steady) / len(steady) - 40) <= 4, steady
    rows = proxy.timeseries(table=table)
    assert sum(r["read_units"] for r in rows) == counts["done"]
    assert sum(r["throttled"] for r in rows) == counts["throttled"] > 0


def test_update_table_through_the_proxy_changes_the_rate(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"upd-{unique}", rcu=5, wcu=5)
    client.put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert proxy.table_states()[table]["write_limit"] == 5
    client.update_table(
        TableName=table, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 200}
    )
    client.put_item(TableName=table, Item={"pk": {"S": "b"}})
    assert proxy.table_states()[table]["write_limit"] == 200


def test_on_demand_ceiling_is_enforced(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    capped = create_table(direct, f"od-{unique}", on_demand=True)
    free = create_table(direct, f"od2-{unique}", on_demand=True)
    proxy.configure(table_on_demand={capped: Limits(read=1000, write=30)})

    result = hammer_puts(client, capped, 4.0)
    err = result["error"]
    assert isinstance(err, client.exceptions.ProvisionedThroughputExceededException)
    reason = err.response["ThrottlingReasons"][0]["reason"]
    assert reason == "TableWriteMaxOnDemandThroughputExceeded"
    steady = steady_rates(proxy, capped, "write_units")
    assert abs(sum(steady) / len(steady) - 30) <= 3, steady
    assert {(r["write_limit"], r["billing_mode"]) for r in proxy.timeseries(table=capped)} == {
        (30, "PAY_PER_REQUEST")
    }

    # Without a per-table value the default ceiling (40,000/s) applies: nothing is throttled.
    assert hammer_puts(client, free, 0.5)["throttled"] == 0
    # The code of on-demand throttles is configurable.
    proxy.configure(
        on_demand_error="RequestLimitExceeded", table_on_demand={free: Limits(read=1, write=1)}
    )
    result = hammer_puts(client, free, 0.3)
    assert isinstance(result["error"], client.exceptions.RequestLimitExceeded)


def test_batch_over_two_tables_returns_the_exhausted_one_unprocessed(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    slow = create_table(direct, f"slow-{unique}", wcu=1)
    fast = create_table(direct, f"fast-{unique}", wcu=1000)
    while hammer_puts(client, slow, 0.05)["throttled"] == 0:
        pass  # drain the slow table's bucket
    out = client.batch_write_item(
        RequestItems={
            slow: [{"PutRequest": {"Item": {"pk": {"S": "s"}}}}],
            fast: [{"PutRequest": {"Item": {"pk": {"S": "f"}}}}],
        }
    )
    assert out["UnprocessedItems"] == {slow: [{"PutRequest": {"Item": {"pk": {"S": "s"}}}}]}
    assert "Item" in direct.get_item(TableName=fast, Key={"pk": {"S": "f"}})
    assert "Item" not in direct.get_item(TableName=slow, Key={"pk": {"S": "s"}})


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    "kind", ["throttle", "internal_error", "unavailable", "drop", "drop_after"]
)
def test_each_fault_reaches_boto3_as_the_right_error(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str, kind: str
) -> None:
    table = create_table(direct, f"f-{kind.replace('_', '')}-{unique}")
    proxy.set_faults(**{kind: 1.0})
    item = {"pk": {"S": "a"}}
    with pytest.raises(Exception) as caught:
        client.put_item(TableName=table, Item=item)
    err = caught.value
    if kind == "throttle":
        assert isinstance(err, client.exceptions.ProvisionedThroughputExceededException)
    elif kind == "internal_error":
        assert isinstance(err, client.exceptions.InternalServerError)
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    elif kind == "unavailable":
        assert isinstance(err, botocore.exceptions.ClientError)
        assert err.response["Error"]["Code"] == "ServiceUnavailable"
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    else:
        assert isinstance(err, botocore.exceptions.ConnectionClosedError)
    written = "Item" in direct.get_item(TableName=table, Key=item)
    assert written == (kind == "drop_after")  # dropped after upstream executed it
    rows = proxy.timeseries(table=table)
    assert sum(r["faults"] for r in rows) == 1 and sum(r["requests"] for r in rows) == 1
    assert proxy.totals()[f"fault_{kind}"] >= 1


def test_unprocessed_and_latency_faults(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"f-unproc-{unique}")
    proxy.set_faults(unprocessed=1.0, latency_ms=150)
    writes = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(5)]
    started = time.monotonic()
    out = client.batch_write_item(RequestItems={table: writes}, ReturnConsumedCapacity="TOTAL")
    assert time.monotonic() - started >= 0.15
    assert out["UnprocessedItems"] == {table: writes[3:]}
    assert out["ConsumedCapacity"][0]["CapacityUnits"] == 3
    keys = [w["PutRequest"]["Item"] for w in writes[:3]]
    got = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    assert len(got["Responses"][table]) == 2
    assert got["UnprocessedKeys"] == {table: {"Keys": keys[2:], "ConsistentRead": True}}


def test_fault_fractions_are_seeded_and_boto3_retries_them(
    proxy: CapacityProxy, client: Any, direct: Any, unique: str
) -> None:
    table = create_table(direct, f"seed-{unique}")

    def pattern() -> str:
        out = []
        for _ in range(200):
            try:
                client.get_item(TableName=table, Key={"pk": {"S": "a"}})
                out.append(".")
            except client.exceptions.ProvisionedThroughputExceededException:
                out.append("T")
        return "".join(out)

    proxy.configure(faults=Faults(throttle=0.3, tables=frozenset({table})), seed=11)
    first = pattern()
    proxy.configure(seed=11)
    assert pattern() == first
    assert 35 <= first.count("T") <= 85

    proxy.configure(faults=Faults(throttle=0.2, internal_error=0.1, unavailable=0.1))
    retrying = client_for(proxy.url, WITH_RETRIES)
    for i in range(20):
        retrying.put_item(TableName=table, Item={"pk": {"S": f"r{i}"}})
    assert direct.scan(TableName=table, Select="COUNT")["Count"] == 20
    assert sum(r["faults"] for r in proxy.timeseries(table=table)) > first.count("T")


# --------------------------------------------------------------------------- series and admin


def test_time_series_files_and_admin_endpoints(
    dynalite: localstack.Server, direct: Any, tmp_path: Path, unique: str
) -> None:
    table = create_table(direct, f"ts-{unique}", rcu=7, wcu=9)
    paths = [tmp_path / "series.csv", tmp_path / "series.json"]
    proxy = CapacityProxy(dynalite.url, port=localstack.free_port(), timeseries_paths=paths)
    with proxy:
        client = client_for(proxy.url)
        batch_put(client, table, [sized_item(f"t{i}", 1024) for i in range(10)])
        client.scan(TableName=table)

        def admin(path: str, payload: Any = None) -> Any:
            data = None if payload is None else json.dumps(payload).encode()
            with urllib.request.urlopen(urllib.request.Request(proxy.url + path, data=data)) as r:
                return json.loads(r.read())

        stats = admin("/__proxy/stats")
        assert stats["tables"][table]["write_limit"] == 9
        assert sum(r["write_units"] for r in stats["series"] if r["table"] == table) == 10
        assert admin("/__proxy/config", {"faults": {"throttle": 1.0}})["faults"]["throttle"] == 1
        with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
            client.scan(TableName=table)
        assert admin("/__proxy/config", {"faults": {}})["faults"]["throttle"] == 0
        client.scan(TableName=table)
        with pytest.raises(urllib.error.HTTPError) as bad:
            admin("/__proxy/config", {"burst_seconds": -1})
        assert bad.value.code == 400

    rows = json.loads(paths[1].read_text())
    assert rows == proxy.timeseries()
    assert {r["table"] for r in rows} == {table}
    assert sum(r["requests"] for r in rows) == 1 + 3
    assert sum(r["read_units"] for r in rows) == 2 * 1.5  # 10 KB twice; the throttled one free
    assert sum(r["faults"] for r in rows) == 1
    assert {(r["read_limit"], r["write_limit"]) for r in rows} == {(7, 9)}
    with paths[0].open() as f:
        table_rows = list(csv.DictReader(f))
    assert [float(r["read_units"]) for r in table_rows] == [r["read_units"] for r in rows]
    assert list(table_rows[0]) == [
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
    ]


def test_command_line(
    dynalite: localstack.Server, direct: Any, tmp_path: Path, unique: str
) -> None:
    table = create_table(direct, f"cli-{unique}")
    port = localstack.free_port()
    out = tmp_path / "cli.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.capacity_proxy",
            "--upstream",
            dynalite.url,
            "--port",
            str(port),
            "--timeseries",
            str(out),
            "--throttle",
            "1",
            "--fault-operation",
            "GetItem",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"listening on http://127.0.0.1:{port}" in proc.stdout.readline()
        client = client_for(f"http://127.0.0.1:{port}")
        client.put_item(TableName=table, Item={"pk": {"S": "a"}})
        with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
            client.get_item(TableName=table, Key={"pk": {"S": "a"}})
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["requests"]) for r in rows) == 2
    assert sum(float(r["write_units"]) for r in rows) == 1
    assert sum(int(r["faults"]) for r in rows) == 1


# --------------------------------------------------------------------------- overhead


@pytest.mark.skipif(
    not os.environ.get("DDBPIPE_PROXY_BENCH"),
    reason="benchmark; set DDBPIPE_PROXY_BENCH=1 (optionally =N items)",
)
def test_overhead_against_dynalite_directly(proxy: CapacityProxy, direct: Any, unique: str) -> None:
    count = (
        int(os.environ["DDBPIPE_PROXY_BENCH"])
        if os.environ["DDBPIPE_PROXY_BENCH"] != "1"
        else 20_000
    )
    via = client_for(proxy.url)
    items = [sized_item(f"b{i:06d}", 400) for i in range(count)]
    timings: Dict[str, List[float]] = {}

    def timed(label: str, fn: Any) -> None:
        started = time.perf_counter()
        fn()
        timings.setdefault(label, []).append(time.perf_counter() - started)

    def scan_all(c: Any, table: str) -> None:
        n, start = 0, None
        while True:
            page = c.scan(TableName=table, **({"ExclusiveStartKey": start} if start else {}))
            n += page["Count"]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        assert n == count

    a = create_table(direct, f"bench-a-{unique}", on_demand=True)
    b = create_table(direct, f"bench-b-{unique}", on_demand=True)
    timed("write direct", lambda: batch_put(direct, a, items))
    timed("write proxy", lambda: batch_put(via, b, items))
    for _ in range(2):
        timed("scan direct", lambda: scan_all(direct, a))
        timed("scan proxy", lambda: scan_all(via, a))
    best = {k: min(v) for k, v in timings.items()}
    report = {k: f"{v:.2f} s ({count / v:,.0f} items/s)" for k, v in best.items()}
    report["write ratio"] = f"{best['write proxy'] / best['write direct']:.3f}"
    report["scan ratio"] = f"{best['scan proxy'] / best['scan direct']:.3f}"
    print(json.dumps(report, indent=1), json.dumps(proxy.totals()))
