"""`ddbpipe migrate --all / --pipeline-id / --apply` against moto server: pipelines read through
the Data Pipeline API, schedules created through EventBridge Scheduler.

The schedules --apply creates must be exactly what `ddbpipe schedule create` makes from the
command migrate prints: the test deletes one and creates it again from the printed line.
"""

from __future__ import annotations

import copy
import json
import shlex
from typing import Any

import pytest

from ddbpipe.aws import AwsConfig, client
from ddbpipe.cli import main
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import schedule
from ddbpipe.commands import emr as emr_cmd
from tests.functional.conftest import MOTO_REGION
from tests.support.pipelines import api_form, load

pytestmark = pytest.mark.functional


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def account(moto_aws: AwsConfig, built: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Any]:
    """What a real account has before migrating: the table, the bucket, the Data Pipeline
    roles (`ddbpipe iam setup --datapipeline-roles`), a subnet tagged for EMR."""
    url = moto_aws.endpoint("iam") or ""
    ddb = client(moto_aws, "dynamodb")
    ddb.create_table(TableName="Orders", BillingMode="PROVISIONED",
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 400, "WriteCapacityUnits": 200})
    client(moto_aws, "s3").create_bucket(Bucket="backups")
    assert main(["iam", "setup", "--datapipeline-roles", "--scheduler-role", "--region",
                 MOTO_REGION, "--endpoint-url", url]) == 0
    ec2 = client(AwsConfig(MOTO_REGION, {"ec2": url}), "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    ec2.create_tags(Resources=[subnet], Tags=[{"Key": d.EMR_MANAGED_POLICY_TAG,
                                               "Value": "true"}])
    return {"url": url, "subnet": subnet, "built": built}


def in_account(doc: dict[str, Any]) -> dict[str, Any]:
    """A fixture definition moved to the test's region and bucket."""
    doc = copy.deepcopy(doc)
    for obj in doc["objects"]:
        obj.pop("subnetId", None)
        if "region" in obj:
            obj["region"] = MOTO_REGION
        if "pipelineLogUri" in obj:
            obj["pipelineLogUri"] = "s3://backups/datapipeline-logs/"
    return doc


def create_pipeline(dp: Any, name: str, doc: dict[str, Any]) -> str:
    pid = str(dp.create_pipeline(name=name, uniqueId=name)["pipelineId"])
    form = api_form(doc)
    dp.put_pipeline_definition(pipelineId=pid, pipelineObjects=form["pipelineObjects"],
                               parameterObjects=form["parameterObjects"],
                               parameterValues=form["parameterValues"])
    return pid


#: moto keeps a definition's objects but not its parameters: the tests give their values.
VALUES = ["--parameter-value", "myDDBTableName=Orders",
          "--parameter-value", "myOutputS3Loc=s3://backups/dynamodb",
          "--parameter-value", "myInputS3Loc=s3://backups/dynamodb/Orders/2026-11-30-03-00-00",
          "--parameter-value", "myDDBReadThroughputRatio=0.2",
          "--parameter-value", "myDDBWriteThroughputRatio=0.3",
          "--parameter-value", f"myDDBRegion={MOTO_REGION}"]


def printed_command(out: str, start: str) -> list[str]:
    lines = [line for line in out.splitlines() if line.startswith(f"ddbpipe {start}")]
    assert len(lines) == 1, out
    return shlex.split(lines[0])[1:]


def test_all_migrates_every_pipeline_of_the_account_and_says_which_not(
        moto_aws, account, capsys):
    dp = client(moto_aws, "datapipeline")
    daily = create_pipeline(dp, "orders-daily", in_account(load("export-daily-2014.json")))
    restore = create_pipeline(dp, "orders-restore", in_account(load("import-template.json")))
    shell = create_pipeline(dp, "nightly-shell", load("shell-command.json"))
    code, out, _ = cli(capsys, "migrate", "--all", *VALUES, "--region", MOTO_REGION,
                       "--endpoint-url", account["url"])
    assert code == 2  # one was not migratable
    assert f"# {daily} (orders-daily): migrated (scheduled export)" in out
    assert printed_command(out, "schedule create --name orders-daily ")[:12] == [
        "schedule", "create", "--name", "orders-daily", "--cron", "rate(1 day)", "export",
        "--table", "Orders", "--to", "s3://backups/dynamodb", "--read-percent"]
    assert f"# {restore} (orders-restore): migrated (one-off import)" in out
    assert printed_command(out, "emr import ")[:6] == [
        "emr", "import", "--from", "s3://backups/dynamodb/Orders/2026-11-30-03-00-00", "--table",
        "Orders"]
    assert f"# {shell} (nightly-shell): not migratable: " in out
    assert "ShellCommandActivity" in out
    for pid in (daily, restore):  # the old pipelines are left running, with the way to stop them
        assert (f"# the old pipeline runs until you deactivate it: aws datapipeline "
                f"deactivate-pipeline --pipeline-id {pid} --region {MOTO_REGION}") in out
    assert f"--pipeline-id {shell}" not in out
    assert "# 2 of 3 pipelines migrated" in out
    assert "# " + f"{daily} (orders-daily): state PENDING" in out
    for pid in (daily, restore, shell):
        dp.delete_pipeline(pipelineId=pid)


def test_apply_creates_the_schedule_schedule_create_makes_from_the_printed_command(
        moto_aws, account, monkeypatch, capsys):
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: account["built"])
    dp = client(moto_aws, "datapipeline")
    doc = in_account(load("export-daily-2014.json"))
    pid = create_pipeline(dp, "orders backup (prod)", doc)
    argv = ["migrate", "--pipeline-id", pid, *VALUES, "--name-prefix", "dp-", "--apply",
            "--subnet-id", account["subnet"], "--skip-doctor", "--region", MOTO_REGION,
            "--endpoint-url", account["url"]]
    code, out, _ = cli(capsys, *argv)
    assert code == 0, out
    name = "dp-orders-backup-prod"
    printed = printed_command(out, f"schedule create --name {name} ")
    assert f"# --apply: creating schedule {name}" in out
    assert "created schedule arn:aws:scheduler" in out
    scheduler = client(moto_aws, "scheduler")
    applied = scheduler.get_schedule(Name=name, GroupName="ddbpipe")
    assert applied["ScheduleExpression"] == "rate(1 day)"
    assert applied["Target"]["RetryPolicy"]["MaximumRetryAttempts"] == 2  # maximumRetries
    run_job_flow = json.loads(applied["Target"]["Input"])
    step = run_job_flow["Steps"][0]["HadoopJarStep"]["Args"]
    assert step[:4] == ["timeout", "--signal=TERM", "--kill-after=120s", "7200s"]  # 2 Hours
    assert run_job_flow["ServiceRole"] == "DataPipelineDefaultRole"
    assert run_job_flow["Instances"]["Ec2SubnetId"] == account["subnet"]

    # Again: the schedule exists, nothing is created or changed, and that is no failure.
    code, again, _ = cli(capsys, *argv)
    assert code == 0
    assert f"# schedule {name} exists: left as it is" in again
    assert "created schedule" not in again
    assert scheduler.get_schedule(Name=name, GroupName="ddbpipe")["Target"]["Input"] == \
        applied["Target"]["Input"]

    # The printed command, run by hand, makes the very same RunJobFlow input.
    scheduler.delete_schedule(Name=name, GroupName="ddbpipe")
    code, out, _ = cli(capsys, *printed, "--endpoint-url", account["url"])
    assert code == 0, out
    by_hand = scheduler.get_schedule(Name=name, GroupName="ddbpipe")
    assert by_hand["Target"]["Input"] == applied["Target"]["Input"]
    assert {k: by_hand[k] for k in ("ScheduleExpression", "State", "FlexibleTimeWindow")} == \
        {k: applied[k] for k in ("ScheduleExpression", "State", "FlexibleTimeWindow")}
    assert by_hand["Target"] == applied["Target"]
    schedule.delete(scheduler, name)
    dp.delete_pipeline(pipelineId=pid)


def test_a_schedule_that_cannot_be_created_is_named_and_the_others_go_on(
        moto_aws, account, monkeypatch, capsys):
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: account["built"])
    dp = client(moto_aws, "datapipeline")
    missing = in_account(load("export-daily-2014.json"))
    for obj in missing["objects"]:
        if obj["id"] == "Default":
            obj["pipelineLogUri"] = "s3://no-such-bucket/logs/"
    bad = create_pipeline(dp, "gone", missing)
    good = create_pipeline(dp, "orders", in_account(load("export-daily-2014.json")))
    code, out, _ = cli(capsys, "migrate", "--pipeline-id", bad, "--pipeline-id", good, *VALUES,
                       "--apply", "--name-prefix", "x-", "--subnet-id", account["subnet"],
                       "--skip-doctor", "--region", MOTO_REGION, "--endpoint-url",
                       account["url"])
    assert code == 2, out
    assert "# schedule x-gone was not created: ddbpipe: error: " in out
    assert "no-such-bucket" in out
    assert "# 1 of 2 pipelines migrated and applied" in out
    scheduler = client(moto_aws, "scheduler")
    names = [r["Name"] for r in schedule.list_schedules(scheduler)]
    assert "x-orders" in names and "x-gone" not in names
    schedule.delete(scheduler, "x-orders")
    for pid in (bad, good):
        dp.delete_pipeline(pipelineId=pid)


def test_an_unknown_pipeline_id_is_one_line(moto_aws, account, capsys):
    code, _, err = cli(capsys, "migrate", "--pipeline-id", "df-0000000000000NOPE", "--region",
                       MOTO_REGION, "--endpoint-url", account["url"])
    assert code != 0
    assert err.count("\n") == 1 and "df-0000000000000NOPE" in err
