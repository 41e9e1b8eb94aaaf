"""The throughput promise, held against a capacity-enforcing stand-in (tests/support).

The proxy in front of dynalite meters consumed units per second by DynamoDB's rules and throttles
at the table's capacity. Export and import must use P percent of it (+-10 % over the steady part
of the run) and still finish, every item exact, under injected faults.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from typing import Any, Iterator

import pytest

from ddbpipe import export, importer
from ddbpipe.aws import AwsConfig, client
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack, sample
from tests.support.capacity_proxy import CapacityProxy, Faults, Limits, ProxyConfig

#: Rate-measuring tests run one after another in one xdist worker (``make test`` runs several).
pytestmark = [pytest.mark.functional, pytest.mark.xdist_group("rates")]
#: The connector's token bucket starts with 5 s of its rate (RATE_CONTROLLER_WINDOW_SIZE_SEC): the
#: first seconds of an export run faster; the steady part starts after that burst has drained.
HEAD_TRIM = 8
TAIL_TRIM = 2
#: Seconds of its rate the connector may read at once at the start
#: (RATE_CONTROLLER_WINDOW_SIZE_SEC): a table sized for N steady seconds needs this many seconds'
#: worth of items more, or a run that starts slowly on a busy machine (the bucket fills meanwhile)
#: ends before N steady seconds.
CONNECTOR_BURST = 5
#: Steady seconds each throughput test judges (at least 4 are needed to judge at all).
STEADY = 12
#: DynamoDB keeps up to 300 s of unused capacity for bursts; the stand-in keeps 10 s: enough to
#: absorb the connector's 5-second start at 100 % of capacity, far less than a real table allows.
BURST_SECONDS = 10.0


@pytest.fixture(scope="module")
def proxy(dynalite: localstack.Server) -> Iterator[CapacityProxy]:
    with CapacityProxy(dynalite.url, port=localstack.free_port(),
                       config=ProxyConfig(burst_seconds=BURST_SECONDS)) as running:
        yield running


@pytest.fixture
def metered(aws: AwsConfig, proxy: CapacityProxy) -> AwsConfig:
    return replace(aws, endpoints={**aws.endpoints, "dynamodb": proxy.url})


def item(i: int, payload: int) -> dict[str, Any]:
    return {"pk": {"S": f"k{i:07d}"}, "n": {"N": str(i)}, "pad": {"S": "x" * payload}}


def steady(rows: list[dict[str, Any]], key: str, head: int = HEAD_TRIM) -> list[float]:
    """Units per second over the steady part: from the first busy second, drop ``head`` s and
    the last TAIL_TRIM s."""
    busy = [i for i, r in enumerate(rows) if r[key] > 0]
    if not busy:
        raise AssertionError("nothing was metered")
    series = [r[key] for r in rows[busy[0]:busy[-1] + 1]]
    if len(series) < head + TAIL_TRIM + 4:
        raise AssertionError(f"run too short to judge: {series}")
    return series[head:-TAIL_TRIM]


def throttles_allowed(rows: list[dict[str, Any]]) -> int:
    return max(8, sum(r["requests"] for r in rows) // 25)


def load(ddb: Any, name: str, count: int, payload: int, read: Any, write: int) -> None:
    sample.create_table(ddb, name, read=read, write=write)
    sample.put_items(ddb, name, (item(i, payload) for i in range(count)))


@pytest.mark.parametrize("percent", [0.25, 0.5, 1.0])
def test_export_uses_its_share_of_read_capacity(percent, aws, metered, proxy, spark, ddb, s3,
                                                bucket, unique):
    rcu, payload = 120, 4000  # ~0.5 RCU per item on an eventually consistent scan
    target = rcu * percent
    name = f"rthr-{unique}"
    count = int(target * (HEAD_TRIM + CONNECTOR_BURST + STEADY) / 0.5)
    load(ddb, name, count, payload, rcu, 1000)
    proxy.reset_stats()

    (result,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), metered,
                                                      read_percent=percent))

    rows = proxy.timeseries(table=name)
    rates = steady(rows, "read_units")
    mean = statistics.fmean(rates)
    assert abs(mean - target) <= 0.1 * target, (mean, target, rates)
    assert sum(r["throttled"] for r in rows) <= throttles_allowed(rows), rows
    assert result.items == count


@pytest.mark.parametrize("percent", [0.25, 0.5, 1.0])
def test_import_uses_its_share_of_write_capacity_across_tasks(percent, aws, metered, proxy,
                                                              spark, ddb, s3, bucket, unique):
    from tests.support import exports

    wcu, payload = 80, 900  # 1 WCU per item
    target = wcu * percent
    count = int(target * (2 + TAIL_TRIM + STEADY))  # imports start at their rate: no burst
    folder = S3Uri(bucket, "baseline")
    exports.write_datapipeline(s3, folder, [item(i, payload) for i in range(count)], per_file=50)
    name = f"wthr-{unique}"
    sample.create_table(ddb, name, read=1000, write=wcu)
    proxy.reset_stats()

    result = importer.run(spark, importer.ImportConfig(folder, name, metered,
                                                       write_percent=percent))

    assert result.plan.tasks == 2  # the budget is shared by every task at once
    rows = proxy.timeseries(table=name)
    rates = steady(rows, "write_units", head=2)
    mean = statistics.fmean(rates)
    assert abs(mean - target) <= 0.1 * target, (mean, target, rates)
    assert sum(r["throttled"] for r in rows) <= throttles_allowed(rows), rows
    assert result.written == count and len(sample.scan_all(ddb, name)) == count


def test_on_demand_ceiling_is_honoured_and_spread(aws, metered, proxy, spark, ddb, bucket,
                                                  unique):
    name = f"odthr-{unique}"
    ceiling = 400
    proxy.configure(table_on_demand={name: Limits(read=ceiling, write=ceiling)})
    try:
        count = int(ceiling * 0.5 * (2 + CONNECTOR_BURST + STEADY) / 0.5)
        load(ddb, name, count, 4000, None, 0)
        proxy.reset_stats()
        (result,) = export.run(spark, export.ExportConfig(
            (name,), S3Uri(bucket), metered, read_percent=0.5, read_capacity=ceiling))
    finally:
        proxy.configure(table_on_demand={})
    assert result.plan is not None and result.plan.tasks == 2 and len(result.files) == 2
    rows = proxy.timeseries(table=name)
    rates = steady(rows, "read_units", head=2)  # the burst is gone within a second here
    assert max(rates) <= ceiling  # past the stand-in's burst, never above the ceiling
    mean = statistics.fmean(rates)
    assert abs(mean - ceiling * 0.5) <= 0.1 * ceiling * 0.5, mean
    assert result.items == count


def test_export_and_import_survive_faults(aws, metered, proxy, spark, ddb, s3, bucket, unique):
    source, target = f"fsrc-{unique}", f"fdst-{unique}"
    load(ddb, source, 1500, 300, 5000, 5000)
    sample.create_table(ddb, target, read=5000, write=5000)
    proxy.set_faults(Faults(throttle=0.10, internal_error=0.03, unavailable=0.02, drop=0.02,
                            unprocessed=0.05))
    try:
        (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), metered))
        imp = importer.run(spark, importer.ImportConfig(exp.folder, target, metered))
        faults = sum(r["faults"] for r in proxy.timeseries())
    finally:
        proxy.set_faults(Faults())
    assert faults > 10
    assert exp.items == imp.written == 1500
    direct = client(aws, "dynamodb")
    assert ({i["pk"]["S"]: i for i in sample.scan_all(direct, target)}
            == {i["pk"]["S"]: i for i in sample.scan_all(direct, source)})
