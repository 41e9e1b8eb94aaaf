import pytest

from ddbpipe import capacity
from ddbpipe.errors import ConfigError
from ddbpipe.tables import TableInfo


def table(rcu=1000, wcu=1000, size=10_000, count=100, on_demand=False):
    desc = {
        "TableName": "T",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 0 if on_demand else rcu,
                                  "WriteCapacityUnits": 0 if on_demand else wcu},
        "TableSizeBytes": size,
        "ItemCount": count,
    }
    if on_demand:
        desc["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
    return TableInfo.from_description(desc, "us-east-1")


def test_provisioned_plan():
    plan = capacity.plan_read(table(rcu=1000), 0.5, parallelism=8)
    assert (plan.capacity, plan.capacity_source, plan.budget) == (1000, "provisioned", 500)
    assert (plan.tasks, plan.segments) == (5, 5)
    assert plan.warnings == ()


def test_segments_follow_size_and_are_a_multiple_of_tasks():
    plan = capacity.plan_read(table(rcu=1000, size=7 * 1024**3), 0.5, parallelism=2)
    assert plan.tasks == 2
    # 7 GiB at 500 RCU scans for ~30 minutes: 8 splits a task; ceil(7 GiB / 1 GiB) = 7 segments
    # would do, rounded up to a whole number of segments per split.
    assert (plan.splits, plan.segments) == (16, 16)
    big = capacity.plan_read(table(rcu=1000, size=100 * 1024**3), 0.5, parallelism=2)
    assert (big.splits, big.segments) == (16, 112)  # 100 segments, a multiple of 16


def test_splits_last_long_enough_that_the_connector_bursts_do_not_count():
    # 500 RCU for 8 splits of >= 100 s: 8 x 100 x 500 x 8 KiB = 3.1 GiB; a smaller table gets
    # fewer splits a task, a new table (size 0 until DynamoDB updates it) one.
    assert capacity.plan_read(table(rcu=1000, size=0), 0.5, parallelism=2).splits == 2
    assert capacity.plan_read(table(rcu=1000, size=1024**3), 0.5, parallelism=2).splits == 4
    assert capacity.plan_read(table(rcu=1000, size=4 * 1024**3), 0.5, parallelism=2).splits == 16


def test_the_connector_is_told_a_capacity_that_gives_the_running_splits_the_whole_budget():
    plan = capacity.plan_read(table(rcu=1000, size=7 * 1024**3), 0.5, parallelism=2)
    conf = capacity.read_conf(table(rcu=1000, size=7 * 1024**3), plan, endpoint=None,
                              yarn=False)
    # The connector gives a split floor(told x 0.5) / 16 segments x 1 segment: 250 units, and
    # 2 run at once: the whole budget of 500.
    assert conf["dynamodb.throughput.read"] == "8000"
    assert conf["dynamodb.max.map.tasks"] == "16"
    per_split = int(int(conf["dynamodb.throughput.read"]) * 0.5) / 16
    assert per_split * plan.tasks == plan.budget
    # A resumed run with one split left gives it the whole budget, no more.
    last = capacity.read_conf(table(rcu=1000, size=7 * 1024**3), plan, endpoint=None,
                              yarn=False, running=1)
    assert int(int(last["dynamodb.throughput.read"]) * 0.5) / 16 == plan.budget


def test_splits_per_task_can_be_set_for_tests(monkeypatch):
    monkeypatch.setenv("DDBPIPE_SPLITS_PER_TASK", "5")
    assert capacity.plan_read(table(rcu=1000), 0.5, parallelism=2).splits == 10


def test_small_budget_reads_on_one_task_and_says_so():
    plan = capacity.plan_read(table(rcu=100), 0.5, parallelism=4)
    assert (plan.tasks, plan.segments, plan.budget) == (1, 1, 50)
    assert "one task" in plan.warnings[0]


def test_on_demand_default_spreads_over_tasks():
    plan = capacity.plan_read(table(on_demand=True), 0.5, parallelism=2)
    assert (plan.capacity, plan.budget, plan.tasks, plan.segments) == (4000, 2000, 2, 20)
    assert "on-demand" in plan.warnings[0]


def test_on_demand_ceiling_given_is_honoured_not_raised():
    plan = capacity.plan_read(table(on_demand=True), 0.5, parallelism=2, read_capacity=400)
    assert (plan.capacity, plan.budget, plan.tasks) == (400, 200, 2)
    tiny = capacity.plan_read(table(on_demand=True), 0.5, parallelism=2, read_capacity=50)
    assert (tiny.capacity, tiny.budget, tiny.tasks) == (50, 25, 1)
    assert "one task" in tiny.warnings[0]


def test_read_capacity_overrides_provisioned():
    plan = capacity.plan_read(table(rcu=10), 1.0, parallelism=2, read_capacity=400)
    assert (plan.capacity, plan.capacity_source, plan.tasks) == (400, "--read-capacity", 2)


@pytest.mark.parametrize("pct", [0.0, 0.09, 1.51, 2, float("nan")])
def test_percent_out_of_range(pct):
    with pytest.raises(ConfigError, match="--read-percent"):
        capacity.plan_read(table(), pct, parallelism=2)


def test_read_conf_sets_every_key():
    info = table(rcu=1000, size=12345, count=10)
    plan = capacity.plan_read(info, 0.5, parallelism=2)
    conf = capacity.read_conf(info, plan, endpoint="http://127.0.0.1:8000", yarn=False,
                              credentials=("AK", "SK", None))
    assert conf == {
        "dynamodb.input.tableName": "T",
        "dynamodb.region": "us-east-1",
        "dynamodb.throughput.read": "1000",
        "dynamodb.throughput.read.percent": "0.5",
        "dynamodb.throughput.read.autoscaling": "false",
        "dynamodb.scan.segments": "6",
        "dynamodb.max.map.tasks": "2",
        "dynamodb.table.size-bytes": "12345",
        "dynamodb.item.count": "10",
        "dynamodb.item.average.size": "1234.5",
        "dynamodb.yarn.enabled": "false",
        "ddbpipe.read.buffer.bytes": str(capacity.READ_BUFFER_BYTES),
        "ddbpipe.read.page.bytes": str(capacity.READ_PAGE_BYTES),
        "dynamodb.endpoint": "http://127.0.0.1:8000",
        "dynamodb.awsAccessKeyId": "AK",
        "dynamodb.awsSecretAccessKey": "SK",
    }
    on_emr = capacity.read_conf(info, plan, endpoint=None, yarn=True)
    assert on_emr["dynamodb.yarn.enabled"] == "true"
    assert not any(k.startswith("dynamodb.aws") or k == "dynamodb.endpoint" for k in on_emr)


def test_capacity_for_applies_the_on_demand_rule_once():
    assert capacity.capacity_for(table(rcu=700, wcu=30), "read") == (700, "provisioned")
    assert capacity.capacity_for(table(rcu=700, wcu=30), "write") == (30, "provisioned")
    assert capacity.capacity_for(table(on_demand=True), "read") == (4000, "on-demand default")
    assert capacity.capacity_for(table(rcu=0, wcu=0), "write") == (4000, "on-demand default")
    assert capacity.capacity_for(None, "write") == (4000, "on-demand default")
    assert capacity.capacity_for(table(rcu=700), "read", 50) == (50, "--read-capacity")
    assert capacity.capacity_for(None, "write", 9) == (9, "--write-capacity")
    with pytest.raises(ValueError):
        capacity.capacity_for(None, "export")
