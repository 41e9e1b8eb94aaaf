"""`ddbpipe iam` and `ddbpipe schedule` against moto server (IAM, STS, S3, EventBridge Scheduler).

The commands run as a user runs them, through ``ddbpipe.cli.main``: exit code and output.

IAM needs AWS's managed policies, which moto loads only when told: this module runs on its own
moto server with MOTO_IAM_LOAD_MANAGED_POLICIES=true (``iam_moto`` in tests/functional/conftest.py).
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ddbpipe.aws import AwsConfig, client
from ddbpipe.cli import main
from ddbpipe.cluster import deadletter, iam, schedule
from ddbpipe.cluster import definition as d
from ddbpipe.commands import emr as emr_cmd
from ddbpipe.errors import ConfigError, RoleMissing
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack
from tests.functional.conftest import MOTO_REGION

pytestmark = pytest.mark.functional

REGION = MOTO_REGION


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
    assert "instance profile ddbpipe-instance-role: created, role ddbpipe-instance-role added" \
        in first
    assert "created" not in second
    assert "role EMR_DefaultRole_V2: exists, left as is\n" in second
    assert "instance profile ddbpipe-instance-role: exists with role ddbpipe-instance-role" in \
        second

    assert attached(iam_client, "EMR_DefaultRole_V2") == [iam.EMR_SERVICE_POLICY]
    assert attached(iam_client, "ddbpipe-instance-role") == []  # until --table/--bucket
    service = iam_client.get_role(RoleName="EMR_DefaultRole_V2")["Role"]
    trust = service["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "elasticmapreduce.amazonaws.com"}
    profile = iam_client.get_instance_profile(
        InstanceProfileName="ddbpipe-instance-role")["InstanceProfile"]
    assert [r["RoleName"] for r in profile["Roles"]] == ["ddbpipe-instance-role"]
    assert "may read no table or bucket until `ddbpipe iam setup --table" in first
    assert "for-use-with-amazon-emr-managed-policies=true" in first


def test_iam_setup_with_the_old_services_names(moto_aws, iam_client, capsys):
    args = ["iam", "setup", "--datapipeline-roles", "--scheduler-role", *endpoint(moto_aws)]
    code, out, _ = cli(capsys, *args)
    assert code == 0
    assert cli(capsys, *args)[0] == 0
    assert attached(iam_client, "DataPipelineDefaultRole") == [iam.EMR_SERVICE_POLICY]
    assert attached(iam_client, "DataPipelineDefaultResourceRole") == []
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
    # Two tagged subnets and tagged groups: the request names one subnet and both groups.
    ec2 = client(AwsConfig(REGION, {"ec2": moto_aws.endpoint("iam") or ""}), "ec2")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24")["Subnet"]["SubnetId"]
               for i in (1, 2)]
    groups = [ec2.create_security_group(GroupName=f"{r}-{unique}", Description="emr",
                                        VpcId=vpc)["GroupId"] for r in ("leader", "core")]
    ec2.create_tags(Resources=[*subnets, *groups],
                    Tags=[{"Key": d.EMR_MANAGED_POLICY_TAG, "Value": "true"}])
    create[-4:-4] = ["--subnet-id", ",".join(subnets), "--skip-doctor",
                     "--security-groups", f"leader={groups[0]},core={groups[1]}"]
    code, out, _ = cli(capsys, *create)
    assert code == 0
    assert "created schedule arn:aws:scheduler" in out

    scheduler = client(moto_aws, "scheduler")
    got = scheduler.get_schedule(Name=name, GroupName="ddbpipe")
    assert got["ScheduleExpression"] == "cron(0 3 * * ? *)"
    target = got["Target"]
    assert target["Arn"] == "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"
    assert target["RoleArn"] == iam_client.get_role(RoleName=iam.SCHEDULER_ROLE)["Role"]["Arn"]
    # A launch that fails lands in ddbpipe's dead-letter queue, which the role may send to.
    sqs = client(moto_aws, "sqs")
    dlq_url = sqs.get_queue_url(QueueName=deadletter.QUEUE_NAME)["QueueUrl"]
    dlq_attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert target["DeadLetterConfig"] == {"Arn": dlq_attrs["QueueArn"]}
    assert dlq_attrs["MessageRetentionPeriod"] == "1209600"
    policy = iam_client.get_role_policy(RoleName=iam.SCHEDULER_ROLE,
                                        PolicyName=iam.SCHEDULER_POLICY_NAME)["PolicyDocument"]
    assert {"Sid": "SendToDeadLetterQueues", "Effect": "Allow", "Action": "sqs:SendMessage",
            "Resource": [dlq_attrs["QueueArn"]]} in policy["Statement"]
    request = json.loads(target["Input"])
    assert {"Key": "dynamodbdatapipeline", "Value": "true"} in request["Tags"]
    assert request["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert request["Instances"]["Ec2SubnetId"] in subnets
    assert (request["Instances"]["EmrManagedMasterSecurityGroup"],
            request["Instances"]["EmrManagedSlaveSecurityGroup"]) == tuple(groups)
    assert request["LogUri"] == f"s3://{bucket}/logs/"
    assert request["Instances"]["InstanceGroups"][1]["InstanceCount"] == 1
    step_args = request["Steps"][0]["HadoopJarStep"]["Args"]
    assert step_args[:4] == ["timeout", "--signal=TERM", "--kill-after=120s", "86400s"]
    assert request["Configurations"][0]["Properties"]["spark.executor.cores"] == "4"
    job_uri = f"s3://{bucket}/ddbpipe-staging/schedules/{name}/jobs/export_table.py"
    assert job_uri == d.schedule_staging(S3Uri(bucket, "ddbpipe-staging"), name,
                                         built[0].name).job_uri("export")
    assert step_args[step_args.index(job_uri) + 1:] == [
        "--table", "Orders", "--to", f"s3://{bucket}", "--read-percent", "0.5",
        "--read-capacity", "3000", "--region", REGION]
    staged = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"ddbpipe-staging/schedules/{name}/jobs/export_table.py" in staged
    assert f"ddbpipe-staging/schedules/{name}/wheelhouse/{built[0].name}" in staged
    assert not any(k.startswith("logs/") for k in staged)
    # The same request works as a one-off RunJobFlow (what the scheduler will send).
    cluster_id = client(moto_aws, "emr").run_job_flow(**request)["JobFlowId"]
    assert cluster_id.startswith("j-")

    code, out, _ = cli(capsys, "schedule", "list", *endpoint(moto_aws))
    assert code == 0
    assert f"{name}  ENABLED   cron(0 3 * * ? *) (UTC)  ddbpipe export Orders (schedule {name})" \
        in out

    def no_build(tmp):
        raise AssertionError("a taken name must be refused before anything is built")

    monkeypatch.setattr(emr_cmd, "build_artifacts", no_build)
    code, _, err = cli(capsys, *create)
    assert code == ConfigError.exit_code
    assert f"ddbpipe: error: A schedule named {name!r} already exists." in err

    delete = ["schedule", "delete", "--name", name, *endpoint(moto_aws)]
    code, out, _ = cli(capsys, *delete)
    assert code == 0
    assert f"s3://{bucket}/ddbpipe-staging/schedules/{name}/" in out
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
    assert '"Arn": "arn:aws:sqs:us-east-1:<ACCOUNT>:ddbpipe-schedules-dlq"' in text
    assert schedule.list_schedules(scheduler) == before


def test_a_scheduled_import_resumes_only_when_told_and_says_what_that_means(moto_aws, unique,
                                                                           capsys):
    from ddbpipe.commands.schedule import RESUME_NOTE

    argv = ["schedule", "create", "--name", f"res-{unique}", "--cron", "rate(1 day)",
            "--dry-run", "import", "--from", "s3://bkt/x/T/2025-01-01-00-00-00", "--table",
            "Target", "--write-capacity", "100", "--log-uri", "s3://bkt/logs"]
    code, text, _ = cli(capsys, *argv, *endpoint(moto_aws))
    assert code == 0 and RESUME_NOTE not in text and '"--resume"' not in text
    code, text, _ = cli(capsys, *argv, "--resume", *endpoint(moto_aws))
    assert code == 0 and RESUME_NOTE in text.splitlines()
    assert '"--resume"' in text  # in the step's argv


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


def _objects(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _queues(sqs: Any) -> list[str]:
    return sqs.list_queues().get("QueueUrls", [])


@pytest.mark.parametrize(("extra", "message"), [
    (["--dlq-arn", "arn:aws:sqs:us-east-1:123456789012:no-such-queue"],
     "ddbpipe: error: The dead-letter queue arn:aws:sqs:us-east-1:123456789012:no-such-queue "
     "does not exist."),
    (["--dlq-arn", "arn:aws:sqs:us-east-1:123456789012:q.fifo"], "is a FIFO queue"),
    (["--staging-uri", "s3://{bucket}/logs/staged"], "is inside --log-uri"),
    (["--timeout", "0"], "--timeout 0 is not a time limit."),
    (["--instance-type", "r6g.2xlarge"], "r6g.2xlarge is not one ddbpipe can size"),
])
def test_schedule_refusals_create_nothing(moto_aws, iam_client, built, unique, monkeypatch,
                                          capsys, extra, message):
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: built)
    iam.ensure_roles(iam_client, iam.RoleNames(), io.StringIO())
    s3, sqs = client(moto_aws, "s3"), client(moto_aws, "sqs")
    scheduler = client(moto_aws, "scheduler")
    bucket = f"refuse-{unique}"
    s3.create_bucket(Bucket=bucket)
    queues, schedules = _queues(sqs), schedule.list_schedules(scheduler)
    name = f"refused-{unique}"
    code, out, err = cli(capsys, "schedule", "create", "--name", name, "--cron", "rate(1 day)",
                         "export", "--table", "Orders", "--to", f"s3://{bucket}",
                         "--read-capacity", "1000", "--log-uri", f"s3://{bucket}/logs",
                         # the network is another test's subject: one subnet, not looked up
                         "--subnet-id", "subnet-0123456789abcdef0", "--skip-doctor",
                         *[a.format(bucket=bucket) for a in extra], *endpoint(moto_aws))
    assert code == ConfigError.exit_code
    assert message in err and len(err.strip().splitlines()) == 1
    assert _objects(s3, bucket) == []
    assert _queues(sqs) == queues
    assert schedule.list_schedules(scheduler) == schedules


def test_a_given_dlq_is_used_and_every_dlq_stays_granted(moto_aws, iam_client, built, unique,
                                                         monkeypatch, capsys):
    """Two schedules, two dead-letter queues: the second does not take the grant of the first."""
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: built)
    iam.ensure_roles(iam_client, iam.RoleNames(), io.StringIO())
    s3, sqs = client(moto_aws, "s3"), client(moto_aws, "sqs")
    bucket = f"dlq-{unique}"
    s3.create_bucket(Bucket=bucket)
    arns = []
    for i in (1, 2):
        url = sqs.create_queue(QueueName=f"own-dlq-{i}-{unique}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        arns.append(arn)
        code, out, _ = cli(capsys, "schedule", "create", "--name", f"own-{i}-{unique}", "--cron",
                           "rate(1 day)", "export", "--table", "Orders", "--to",
                           f"s3://{bucket}", "--read-capacity", "1000", "--log-uri",
                           f"s3://{bucket}/logs", "--dlq-arn", arn, "--timeout", "90",
                           "--staging-uri", f"s3://{bucket}/stage",
                           # the network is another test's subject: one subnet, not looked up
                           "--subnet-id", "subnet-0123456789abcdef0", "--skip-doctor",
                           *endpoint(moto_aws))
        assert code == 0, out
        target = client(moto_aws, "scheduler").get_schedule(
            Name=f"own-{i}-{unique}", GroupName="ddbpipe")["Target"]
        assert target["DeadLetterConfig"] == {"Arn": arn}
        args = json.loads(target["Input"])["Steps"][0]["HadoopJarStep"]["Args"]
        assert args[:4] == ["timeout", "--signal=TERM", "--kill-after=120s", "5400s"]
    assert f"stage/schedules/own-2-{unique}/jobs/export_table.py" in _objects(s3, bucket)
    policy = iam_client.get_role_policy(RoleName=iam.SCHEDULER_ROLE,
                                        PolicyName=iam.SCHEDULER_POLICY_NAME)["PolicyDocument"]
    granted = next(st for st in policy["Statement"] if st["Sid"] == "SendToDeadLetterQueues")
    assert set(arns) <= set(granted["Resource"])
    # `iam setup --scheduler-role` rewrites the policy and keeps the grants too.
    assert cli(capsys, "iam", "setup", "--scheduler-role", *endpoint(moto_aws))[0] == 0
    policy = iam_client.get_role_policy(RoleName=iam.SCHEDULER_ROLE,
                                        PolicyName=iam.SCHEDULER_POLICY_NAME)["PolicyDocument"]
    granted = next(st for st in policy["Statement"] if st["Sid"] == "SendToDeadLetterQueues")
    assert set(arns) <= set(granted["Resource"])


def test_a_china_schedule_uses_the_china_partition(moto_aws, capsys):
    """Dry run in cn-north-1: every ARN ddbpipe builds names aws-cn. The dry run only reads (the
    subnets it would launch into), from the local stand-in, never from the internet."""
    code, text, _ = cli(capsys, "schedule", "create", "--name", "cn", "--cron", "rate(1 day)",
                        "--dry-run", "export", "--table", "Orders", "--to", "s3://bkt-cn",
                        "--read-capacity", "1000", "--log-uri", "s3://bkt-cn/logs",
                        "--region", "cn-north-1",
                        "--endpoint-url", moto_aws.endpoint("iam") or "")
    assert code == 0
    request = json.loads(text[text.index("{", text.index("# CreateSchedule request")):])
    assert request["Target"]["Arn"] == "arn:aws-cn:scheduler:::aws-sdk:emr:runJobFlow"
    assert request["Target"]["RoleArn"] == "arn:aws-cn:iam::<ACCOUNT>:role/ddbpipe-scheduler"
    assert request["Target"]["DeadLetterConfig"] == {
        "Arn": "arn:aws-cn:sqs:cn-north-1:<ACCOUNT>:ddbpipe-schedules-dlq"}
    assert "arn:aws:" not in json.dumps(request)
