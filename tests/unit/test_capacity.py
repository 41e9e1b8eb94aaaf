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
    assert plan.segments == 8  # ceil(7 GiB / 1 GiB) = 7, rounded up to a multiple of 2


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
