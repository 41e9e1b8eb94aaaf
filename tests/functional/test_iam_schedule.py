"""`ddbpipe iam` and `ddbpipe schedule` against moto server (IAM, STS, S3, EventBridge Scheduler).

The commands run as a user runs them, through ``ddbpipe.cli.main``: exit code and output.

IAM needs AWS's managed policies (the roles get AmazonEMRServicePolicy_v2 and
AmazonElasticMapReduceforEC2Role attached), which moto loads only when told: this module starts
its own moto server with MOTO_IAM_LOAD_MANAGED_POLICIES=true.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from ddbpipe.aws import AwsConfig, client
from ddbpipe.cli import main
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import iam, schedule
from ddbpipe.commands import emr as emr_cmd
from ddbpipe.errors import ConfigError, RoleMissing
from ddbpipe_dev import localstack

pytestmark = pytest.mark.functional

REGION = "us-east-1"


@pytest.fixture(scope="module")
def iam_moto(logs_dir: Path) -> Iterator[localstack.Server]:
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        server = localstack.start_moto(localstack.free_port(), logs_dir / "moto-iam.log")
    finally:
        if previous is None:
            del os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"]
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
    yield server
    localstack.stop(server)


@pytest.fixture(scope="module")
def moto_aws(iam_moto: localstack.Server) -> AwsConfig:
    return AwsConfig(REGION, {svc: iam_moto.url for svc in ("s3", "emr", "iam", "sts",
                                                            "scheduler")})


@pytest.fixture(scope="module")
def iam_client(moto_aws: AwsConfig) -> Any:
    return client(moto_aws, "iam")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``ddbpipe ARGV``: exit code, stdout, stderr."""
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def endpoint(moto_aws: AwsConfig) -> list[str]:
    return ["--region", REGION, "--endpoint-url", moto_aws.endpoint("iam") or ""]


def attached(iam_client: Any, role: str) -> list[str]:
    return [p["PolicyArn"] for p in
            iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]


def test_iam_setup_creates_the_roles_once(moto_aws, iam_client, capsys):
    code, first, _ = cli(capsys, "iam", "setup", *endpoint(moto_aws))
    assert code == 0
    code, second, _ = cli(capsys, "iam", "setup", *endpoint(moto_aws))
    assert code == 0  # idempotent

    assert "role EMR_DefaultRole_V2: created, trusts elasticmapreduce.amazonaws.com" in first
    assert "instance profile EMR_EC2_DefaultRole: created, role EMR_EC2_DefaultRole added" in \
        first
    assert "created" not in second
    assert "role EMR_DefaultRole_V2: exists, left as is\n" in second
    assert "instance profile EMR_EC2_DefaultRole: exists with role EMR_EC2_DefaultRole" in \
        second

    assert attached(iam_client, "EMR_DefaultRole_V2") == [iam.EMR_SERVICE_POLICY]
    assert attached(iam_client, "EMR_EC2_DefaultRole") == [iam.EMR_EC2_POLICY]
    service = iam_client.get_role(RoleName="EMR_DefaultRole_V2")["Role"]
    trust = service["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    profile = iam_client.get_instance_profile(
        InstanceProfileName="EMR_EC2_DefaultRole")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["EMR_EC2_DefaultRole"]
    assert "for-use-with-amazon-emr-managed-policies=true" in first


def test_iam_setup_with_the_old_services_names(moto_aws, iam_client, capsys):
    args = ["iam", "setup", "--datapipeline-roles", "--scheduler-role", *endpoint(moto_aws)]
    code, out, _ = cli(capsys, *args)
    assert code == 0
    assert cli(capsys, *args)[0] == 0
    assert attached(iam_client, "DataPipelineDefaultRole") == [iam.EMR_SERVICE_POLICY]
    assert attached(iam_client, "DataPipelineDefaultResourceRole") == [iam.EMR_EC2_POLICY]
    role = iam_client.get_role(RoleName=iam.SCHEDULER_ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == \
        {"Service": "scheduler.amazonaws.com"}
    doc = iam_client.get_role_policy(RoleName=iam.SCHEDULER_ROLE,
                                     PolicyName=iam.SCHEDULER_POLICY_NAME)["PolicyDocument"]
    assert doc["Statement"][0]["Condition"] == \
        {"StringEquals": {"aws:RequestTag/dynamodbdatapipeline": "true"}}
    assert doc["Statement"][1]["Resource"][0].endswith(":role/DataPipelineDefaultRole")
    assert f"scheduler role ARN: {role['Arn']}" in out


def test_an_existing_role_is_left_alone_but_checked(iam_client, unique):
    name = f"Existing-{unique}"
    iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        iam.trust_policy("datapipeline.amazonaws.com")))
    out = io.StringIO()
    iam.ensure_roles(iam_client, iam.RoleNames(name, f"Inst-{unique}"), out)
    assert f"role {name}: exists, left as is (WARNING: it does not trust " \
           "elasticmapreduce.amazonaws.com" in out.getvalue()
    assert attached(iam_client, name) == []


def test_iam_policy_names_the_tables_and_the_callers_account(moto_aws, capsys):
    code, out, _ = cli(capsys, "iam", "policy", "--table", "Forum", "--table", "Thread",
                       "--bucket", "my-bucket", *endpoint(moto_aws))
    assert code == 0
    doc = json.loads(out)
    account = client(moto_aws, "sts").get_caller_identity()["Account"]
    tables = next(s for s in doc["Statement"] if s["Sid"] == "DynamoDBTheseTables")
    assert tables["Resource"] == [f"arn:aws:dynamodb:{REGION}:{account}:table/Forum",
                                  f"arn:aws:dynamodb:{REGION}:{account}:table/Thread"]

    code, out, _ = cli(capsys, "iam", "policy", "--table", "Forum", "--bucket", "my-bucket",
                       "--region", "eu-west-1", "--account", "210987654321")
    assert code == 0
    assert "arn:aws:dynamodb:eu-west-1:210987654321:table/Forum" in out


def test_schedule_create_list_delete(moto_aws, iam_client, built, unique, monkeypatch, capsys):
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: built)  # built once above
    iam.ensure_roles(iam_client, iam.RoleNames(), io.StringIO())
    s3 = client(moto_aws, "s3")
    bucket = f"sched-{unique}"
    s3.create_bucket(Bucket=bucket)
    name = f"nightly-{unique}"
    create = ["schedule", "create", "--name", name, "--cron", "cron(0 3 * * ? *)", "export",
              "--table", "Orders", "--to", f"s3://{bucket}", "--read-capacity", "3000",
              "--log-uri", f"s3://{bucket}/logs", *endpoint(moto_aws)]
    code, out, _ = cli(capsys, *create)
    assert code == 0
    assert "created schedule arn:aws:scheduler" in out

    scheduler = client(moto_aws, "scheduler")
    got = scheduler.get_schedule(Name=name, GroupName="ddbpipe")
    assert got["ScheduleExpression"] == "cron(0 3 * * ? *)"
    target = got["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"
    assert target["RoleArn"] == iam_client.get_role(RoleName=iam.SCHEDULER_ROLE)["Role"]["Arn"]
    request = json.loads(target["Input"])
    assert {"Key": "dynamodbdatapipeline", "Value": "true"} in request["Tags"]
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["LogUri"] == f"s3://{bucket}/logs/"
    assert request["Instances"]["InstanceGroups"][1]["InstanceCount"] == 1
    step_args = request["Steps"][0]["HadoopJarStep"]["Args"]
    job_uri = f"s3://{bucket}/logs/ddbpipe-schedules/{name}/jobs/export_table.py"
    assert job_uri == d.schedule_staging(d.log_folder(f"s3://{bucket}/logs"), name,
                                         built[0].name).job_uri("export")
    assert step_args[step_args.index(job_uri) + 1:] == [
        "--table", "Orders", "--to", f"s3://{bucket}", "--read-percent", "0.5",
        "--read-capacity", "3000", "--region", REGION]
    staged = {o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=f"logs/ddbpipe-schedules/{name}/")["Contents"]}
    assert f"logs/ddbpipe-schedules/{name}/jobs/export_table.py" in staged
    assert f"logs/ddbpipe-schedules/{name}/wheelhouse/{built[0].name}" in staged
    # The same request works as a one-off RunJobFlow (what the scheduler will send).
    cluster_id = client(moto_aws, "emr").run_job_flow(**request)["JobFlowId"]
    assert cluster_id.startswith("j-")

    code, out, _ = cli(capsys, "schedule", "list", *endpoint(moto_aws))
    assert code == 0
    assert f"{name}  ENABLED   cron(0 3 * * ? *) (UTC)  ddbpipe export Orders (schedule {name})" \
        in out

    code, _, err = cli(capsys, *create)
    assert code == ConfigError.exit_code
    assert f"ddbpipe: error: A schedule named {name!r} already exists." in err

    delete = ["schedule", "delete", "--name", name, *endpoint(moto_aws)]
    code, out, _ = cli(capsys, *delete)
    assert code == 0
    assert f"s3://{bucket}/logs/ddbpipe-schedules/{name}/" in out
    assert name not in [r["Name"] for r in schedule.list_schedules(scheduler)]
    code, _, err = cli(capsys, *delete)
    assert code == ConfigError.exit_code
    assert f"ddbpipe: error: No schedule named {name!r}" in err


def test_schedule_dry_run_touches_nothing(moto_aws, unique, capsys):
    scheduler = client(moto_aws, "scheduler")
    before = schedule.list_schedules(scheduler)
    code, text, _ = cli(capsys, "schedule", "create", "--name", f"dry-{unique}", "--cron",
                        "rate(1 day)", "--dry-run", "import", "--from",
                        "s3://bkt/x/T/2025-01-01-00-00-00", "--table", "Target",
                        "--write-capacity", "100", "--log-uri", "s3://bkt/logs",
                        *endpoint(moto_aws))
    assert code == 0
    assert "# CreateSchedule request" in text
    assert '"Arn": "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"' in text
    assert schedule.list_schedules(scheduler) == before


def test_scheduler_role_needs_the_cluster_roles(iam_client, unique):
    with pytest.raises(RoleMissing, match="ddbpipe iam setup"):
        iam.ensure_scheduler_role(iam_client, iam.RoleNames(f"none-{unique}", "x"),
                                  io.StringIO(), name=f"sched-{unique}")


def test_a_half_done_setup_is_repaired(iam_client, unique):
    name = f"Half-{unique}"
    iam_client.create_role(RoleName=name, Tags=iam.ROLE_TAGS, AssumeRolePolicyDocument=json.dumps(
        iam.trust_policy(iam.EMR_PRINCIPAL)))
    out = io.StringIO()
    iam.ensure_roles(iam_client, iam.RoleNames(name, f"HalfInst-{unique}"), out)
    assert attached(iam_client, name) == [iam.EMR_SERVICE_POLICY]
    assert f"role {name}: exists, policy AmazonEMRServicePolicy_v2 attached" in out.getvalue()


def test_without_managed_policies_setup_says_why(logs_dir, unique, monkeypatch):
    """A moto server that does not load AWS managed policies: the error says so."""
    monkeypatch.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "false")
    server = localstack.start_moto(localstack.free_port(), logs_dir / f"moto-bare-{unique}.log")
    try:
        bare = client(AwsConfig(REGION, {"iam": server.url}), "iam")
        with pytest.raises(ConfigError, match="MOTO_IAM_LOAD_MANAGED_POLICIES"):
            iam.ensure_roles(bare, iam.RoleNames(f"S-{unique}", f"I-{unique}"), io.StringIO())
    finally:
        localstack.stop(server)
