from typing import ClassVar

import pytest

from ddbpipe import errors, importer, throttle
from ddbpipe.importer import DataFile
from ddbpipe.tables import TableInfo


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_holds_the_rate_over_time():
    clock = FakeClock()
    bucket = throttle.TokenBucket(100, burst_seconds=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        bucket.take(5)  # 5000 units at 100/s
    assert 49.0 <= clock.now <= 50.5


def test_token_bucket_burst_is_bounded():
    clock = FakeClock()
    bucket = throttle.TokenBucket(10, burst_seconds=2.0, clock=clock, sleep=clock.sleep)
    clock.now = 1000.0  # idle for a long time: at most 2 s of burst is saved
    start = clock.now
    for _ in range(60):
        bucket.take(1)
    assert clock.now - start >= (60 - 20) / 10 - 0.2


def test_settle_gives_back_overestimates():
    clock = FakeClock()
    bucket = throttle.TokenBucket(10, clock=clock, sleep=clock.sleep)
    bucket.take(10)
    bucket.settle(10)  # it cost nothing after all
    waited = bucket.take(1)
    assert waited == 0.0


def test_backoff_is_full_jitter_and_capped():
    assert throttle.backoff(0, rng=lambda: 1.0) == pytest.approx(0.05)
    assert throttle.backoff(3, rng=lambda: 0.5) == pytest.approx(0.2)
    assert throttle.backoff(30, rng=lambda: 1.0) == 20.0
    assert throttle.backoff(5, rng=lambda: 0.0) == 0.0


class Throttled(Exception):
    response: ClassVar[dict] = {"Error": {"Code": "ProvisionedThroughputExceededException"}}


class Denied(Exception):
    response: ClassVar[dict] = {"Error": {"Code": "AccessDeniedException"}}


def test_call_with_retries_retries_one_call_on_throttle_only():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise Throttled()
        return "ok"

    stats = throttle.RetryStats()
    clock = FakeClock()
    patience = throttle.Patience("table T", max_wait=30, clock=clock, say=lambda t: None)
    assert throttle.call_with_retries(flaky, stats, patience, sleep=clock.sleep) == "ok"
    assert (stats.throttled, stats.retries, len(calls)) == (3, 3, 4)
    with pytest.raises(Denied):
        throttle.call_with_retries(lambda: (_ for _ in ()).throw(Denied()), stats, patience,
                                   sleep=clock.sleep)


def test_throttling_is_waited_for_up_to_the_max_retry_time_without_progress():
    clock, said = FakeClock(), []
    patience = throttle.Patience("table T", max_wait=120, clock=clock, say=said.append)
    stats = throttle.RetryStats()

    def always():
        clock.now += 0.01
        raise Throttled()

    with pytest.raises(errors.Throttled, match=r"table T throttled every request for 1[234]\d s "
                                               r"\(ProvisionedThroughputExceededException\)"):
        throttle.call_with_retries(always, stats, patience, sleep=clock.sleep)
    assert 120 <= clock.now < 145  # the last pause is at most 20 s
    assert said and all("retrying (gives up after 120 s without progress)" in t for t in said)
    assert len(said) <= 120 / throttle.SAY_EVERY_SECONDS  # a line now and then, not per retry


def test_progress_resets_the_wait():
    clock = FakeClock()
    patience = throttle.Patience("table T", max_wait=100, clock=clock, say=lambda t: None)
    for _ in range(10):  # 900 s of throttling, but some request succeeds every 90 s
        clock.now += 90
        patience.failed("throttle", Throttled())
        patience.progress()
    clock.now += 101
    with pytest.raises(errors.Throttled):
        patience.failed("throttle", Throttled())


def test_an_endpoint_that_does_not_answer_is_named_within_a_minute():
    import botocore.exceptions as bex

    clock = FakeClock()
    patience = throttle.Patience("DynamoDB table T (http://127.0.0.1:9)", max_wait=600,
                                 clock=clock, say=lambda t: None)
    down = bex.EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    def call():
        clock.now += 1
        raise down

    with pytest.raises(errors.EndpointUnreachable,
                       match=r"Nothing answers at DynamoDB table T \(http://127.0.0.1:9\): "
                             r"no connection for 6\d s"):
        throttle.call_with_retries(call, throttle.RetryStats(), patience, sleep=clock.sleep)
    assert clock.now < 70  # the minute, the last pause (<= 5 s) and the call


def info(wcu=1000, on_demand=False):
    desc = {"TableName": "T", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "ProvisionedThroughput": {"ReadCapacityUnits": 5,
                                      "WriteCapacityUnits": 0 if on_demand else wcu}}
    if on_demand:
        desc["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
    return TableInfo.from_description(desc, "us-east-1")


def test_write_budget_is_split_over_the_tasks_that_run_at_once():
    plan = importer.plan_write(info(wcu=1000), 0.5, slots=4, files=10)
    assert (plan.budget, plan.tasks, plan.per_task) == (500, 4, 125)
    few = importer.plan_write(info(wcu=1000), 0.5, slots=4, files=2)
    assert (few.tasks, few.per_task) == (2, 250)


def test_on_demand_write_budget():
    plan = importer.plan_write(info(on_demand=True), 0.5, slots=2, files=3)
    assert (plan.capacity, plan.capacity_source) == (4000, "on-demand default")
    assert plan.warnings
    given = importer.plan_write(info(on_demand=True), 1.0, slots=2, files=3, write_capacity=80)
    assert (given.budget, given.per_task, given.warnings) == (80, 40, ())


def test_group_files_balances_bytes():
    files = [DataFile(f"s3://b/{i}", size) for i, size in enumerate([90, 10, 50, 40, 30, 30])]
    groups = importer.group_files(files, 2)
    totals = sorted(sum(f.size for f in g) for g in groups)
    assert totals == [120, 130]  # largest-first greedy: within one file of even
    assert sorted(f.url for g in groups for f in g) == sorted(f.url for f in files)
    assert importer.group_files(files[:1], 4) == [[files[0]]]
    assert importer.group_files([], 3) == []


def test_shares_follow_bytes_and_add_up_to_the_budget():
    groups = [[DataFile("s3://b/a", 300)], [DataFile("s3://b/b", 100), DataFile("s3://b/c", 100)]]
    assert importer.shares(groups, 100.0) == pytest.approx([60.0, 40.0])


def test_the_unreachable_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(throttle.UNREACHABLE_ENV, raising=False)
    assert throttle.unreachable_seconds() == 60
    monkeypatch.setenv(throttle.UNREACHABLE_ENV, "15")
    assert throttle.unreachable_seconds() == 15
    for bad in ("0", "soon"):
        monkeypatch.setenv(throttle.UNREACHABLE_ENV, bad)
        with pytest.raises(errors.ConfigError, match="DDBPIPE_UNREACHABLE_SECONDS .* is too short"):
            throttle.unreachable_seconds()
