"""The EMR requests (RunJobFlow, AddJobFlowSteps, CreateSchedule) and policies, by equality."""

from __future__ import annotations

import argparse
import io
import json
import re

import pytest
from botocore.exceptions import ClientError

from ddbpipe.aws import AwsConfig
from ddbpipe.cluster import awscli, emr_errors, iam, schedule, staging
from ddbpipe.cluster import definition as d
from ddbpipe.commands import emr
from ddbpipe.errors import ConfigError, PermissionDenied, QuotaExceeded

RUN = "20250102-030405-abc123"
PREFIX = f"s3://bkt/ddbpipe-staging/runs/{RUN}"
WHEEL = "ddbpipe-0.1.0-py3-none-any.whl"
AWS = AwsConfig(region="eu-west-1")


def export_job(**kw) -> d.JobSpec:
    args = ("--table", "Orders", "--to", "s3://bkt/exports", "--read-percent", "0.5")
    return d.JobSpec("export", kw.pop("args", args), kw.pop("tables", ("Orders",)), "eu-west-1",
                     **kw)


def options(**kw) -> d.ClusterOptions:
    return d.ClusterOptions(log_uri=kw.pop("log_uri", "s3://bkt/logs"), **kw)


EXPECTED_ARGV = [
    "spark-submit", "--master", "yarn", "--deploy-mode", "client",
    "--jars", f"/usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar,{PREFIX}/lib/ddbpipe-reader.jar",
    "--conf", "spark.pyspark.python=/usr/bin/python3.11",
    "--conf", "spark.pyspark.driver.python=/usr/bin/python3.11",
    f"{PREFIX}/jobs/export_table.py",
    "--table", "Orders", "--to", "s3://bkt/exports", "--read-percent", "0.5",
    "--region", "eu-west-1",
]


def test_run_job_flow_request_is_exactly_the_cluster_definition():
    caps = [d.TableCapacity("Orders", 4000, 0.5, "RCU", "provisioned")]
    plan = d.plan_run(export_job(), options(), run=RUN, wheel_name=WHEEL, capacities=caps)

    assert plan.operation == "RunJobFlow"
    assert plan.request == {
        "Name": f"ddbpipe export Orders {RUN}",
        "LogUri": "s3://bkt/logs/",
        "ReleaseLabel": "emr-7.12.0",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "Leader", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
                 "InstanceType": "m5.xlarge", "InstanceCount": 1},
                {"Name": "Core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
                 "InstanceType": "m5.xlarge", "InstanceCount": 2},
            ],
            "KeepJobFlowAliveWhenNoSteps": False,
            "TerminationProtected": False,
        },
        "BootstrapActions": [{
            "Name": "ddbpipe-install",
            "ScriptBootstrapAction": {
                "Path": f"{PREFIX}/bootstrap/install-ddbpipe.sh",
                "Args": ["--wheelhouse", f"{PREFIX}/wheelhouse/", "--arch", "x86_64",
                         "--python", "/usr/bin/python3.11"],
            },
        }],
        "Steps": [{
            "Name": "ddbpipe export Orders",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": EXPECTED_ARGV},
        }],
        "StepConcurrencyLevel": 1,
        "ServiceRole": "EMR_DefaultRole_V2",
        "JobFlowRole": "ddbpipe-instance-role",
        "VisibleToAllUsers": True,
        "Tags": [
            {"Key": "dynamodbdatapipeline", "Value": "true"},
            {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"},
            {"Key": "ddbpipe-run-id", "Value": RUN},
        ],
        "Configurations": [{"Classification": "spark-defaults", "Properties": {
            "spark.dynamicAllocation.enabled": "false",
            "spark.executor.instances": "2",
            "spark.executor.cores": "4",
            "spark.executor.memory": "1452m",
            "spark.executor.extraJavaOptions": "-Xms1452m -Xmn256m -XX:+AlwaysPreTouch",
            "spark.executor.memoryOverhead": "1408m",
            "spark.default.parallelism": "8",
            "spark.driver.memory": "8g",
            "spark.yarn.am.memory": "512m",
        }}],
    }


def test_keep_cluster_keeps_it_alive_until_idle_and_continues_on_failure():
    plan = d.plan_run(export_job(), options(keep_cluster=True, idle_timeout_minutes=30,
                                           subnet_id="subnet-1", core_count=3),
                      run=RUN, wheel_name=WHEEL)
    req = plan.request
    assert req["Instances"]["KeepJobFlowAliveWhenNoSteps"] is True
    assert req["Instances"]["Ec2SubnetId"] == "subnet-1"
    assert req["Instances"]["InstanceGroups"][1]["InstanceCount"] == 3
    assert req["AutoTerminationPolicy"] == {"IdleTimeout": 1800}
    assert req["Steps"][0]["ActionOnFailure"] == "CONTINUE"


def test_the_tag_is_always_there_and_roles_follow_the_options():
    plan = d.plan_run(export_job(), options(service_role=d.DATAPIPELINE_SERVICE_ROLE,
                                           instance_profile=d.DATAPIPELINE_INSTANCE_ROLE),
                      run=RUN, wheel_name=WHEEL)
    assert {"Key": "dynamodbdatapipeline", "Value": "true"} in plan.request["Tags"]
    assert plan.request["ServiceRole"] == "DataPipelineDefaultRole"
    assert plan.request["JobFlowRole"] == "DataPipelineDefaultResourceRole"
    assert emr_errors.has_pipeline_tag(plan.request)


def test_add_job_flow_steps_request_for_a_running_cluster():
    plan = d.plan_run(export_job(), options(), run=RUN, wheel_name=WHEEL,
                      cluster_id="j-ABC123XYZ")
    assert plan.operation == "AddJobFlowSteps"
    assert not plan.uploads_wheel
    assert plan.request == {
        "JobFlowId": "j-ABC123XYZ",
        "Steps": [{
            "Name": f"ddbpipe export Orders ({RUN})",
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": EXPECTED_ARGV},
        }],
    }
    with pytest.raises(ConfigError, match="not an EMR cluster id"):
        d.plan_run(export_job(), options(), run=RUN, wheel_name=WHEEL, cluster_id="cluster-1")


def test_step_argv_keeps_every_value_whole():
    job = d.JobSpec("import", ("--from", "s3://bkt/my exports/Orders/2025-01-01-00-00-00",
                               "--table", "Orders"), ("Orders",), "us-east-1")
    argv = d.spark_submit_argv(job, "s3://bkt/j.py", "s3://bkt/lib/ddbpipe-reader.jar")
    assert "s3://bkt/my exports/Orders/2025-01-01-00-00-00" in argv
    assert argv[-2:] == ["--region", "us-east-1"]
    with pytest.raises(ValueError, match="region"):
        d.JobSpec("export", ("--region", "x"), ("Orders",), "us-east-1")


def test_connector_jar_is_staged_by_bootstrap_and_named_by_the_step():
    plan = d.plan_run(export_job(), options(connector_jar="s3://bkt/jars/emr-ddb-hadoop.jar"),
                      run=RUN, wheel_name=WHEEL)
    args = plan.request["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"]
    assert args[-2:] == ["--connector-jar", "s3://bkt/jars/emr-ddb-hadoop.jar"]
    step_args = plan.request["Steps"][0]["HadoopJarStep"]["Args"]
    assert step_args[step_args.index("--jars") + 1] == \
        f"/opt/ddbpipe/lib/emr-ddb-hadoop.jar,{PREFIX}/lib/ddbpipe-reader.jar"


@pytest.mark.parametrize("uri", ["s3://bkt", "s3://bkt/", "s3://bkt//"])
def test_log_uri_at_the_bucket_root_is_refused(uri):
    with pytest.raises(ConfigError) as info:
        options(log_uri=uri)
    assert "root of bucket 'bkt'" in str(info.value)
    assert "s3://bkt/logs/" in info.value.fix


def test_log_uri_becomes_a_folder():
    plan = d.plan_run(export_job(), options(log_uri="s3://bkt/a/b"), run=RUN, wheel_name=WHEEL)
    assert plan.request["LogUri"] == "s3://bkt/a/b/"


def test_retired_m3_maps_to_m5_with_a_note():
    plan = d.plan_run(export_job(), options(instance_type="m3.xlarge"), run=RUN,
                      wheel_name=WHEEL)
    groups = plan.request["Instances"]["InstanceGroups"]
    assert {g["InstanceType"] for g in groups} == {"m5.xlarge"}
    assert plan.notes[0] == "m3.xlarge is retired; using its current equivalent m5.xlarge."
    assert d.resolve_instance_type("r6g.2xlarge") == ("r6g.2xlarge", None)
    with pytest.raises(ConfigError):
        d.resolve_instance_type("big one")


def cap(capacity: int, percent: float, table: str = "T") -> d.TableCapacity:
    return d.TableCapacity(table, capacity, percent, "RCU", "provisioned")


@pytest.mark.parametrize(("capacity", "percent", "cores"), [
    (1000, 0.5, 1),    # 500 units: one core
    (3000, 0.5, 1),    # exactly 1,500
    (3001, 0.5, 2),
    (15000, 0.1, 1),   # 1,500 exactly, though 15000 * 0.1 is 1500.0000000000002 in floats
    (40000, 1.5, 40),
])
def test_core_count_rule(capacity, percent, cores):
    assert d.size_core_nodes([cap(capacity, percent)]).count == cores


def test_core_count_arithmetic_is_shown_and_the_largest_table_wins():
    sizing = d.size_core_nodes([cap(4000, 0.5, "A"), cap(10000, 0.5, "B")])
    assert sizing.count == 4
    assert sizing.lines == (
        "A: 4,000 RCU (provisioned) x 0.5 = 2,000 units/s; 2,000 / 1,500 per core = 1.33 -> "
        "2 core nodes",
        "B: 10,000 RCU (provisioned) x 0.5 = 5,000 units/s; 5,000 / 1,500 per core = 3.33 -> "
        "4 core nodes",
        "tables run one after another: the largest sets the size -> 4",
    )


def test_core_count_override_and_cap():
    assert d.size_core_nodes([cap(4000, 0.5)], override=7).count == 7
    assert d.size_core_nodes([], override=3).lines == ("--core-count 3",)
    huge = d.size_core_nodes([cap(1_000_000, 1.0)])
    assert huge.count == d.MAX_AUTO_CORES
    with pytest.raises(ConfigError):
        d.size_core_nodes([], override=0)


def test_create_cluster_cli_carries_the_whole_request():
    plan = d.plan_run(export_job(), options(keep_cluster=True, subnet_id="subnet-9"),
                      run=RUN, wheel_name=WHEEL)
    argv = awscli.create_cluster_cli(plan.request, "eu-west-1")
    assert argv[:5] == ["aws", "emr", "create-cluster", "--region", "eu-west-1"]

    def value(flag: str) -> str:
        return argv[argv.index(flag) + 1]

    assert json.loads(value("--steps")) == [{
        "Type": "CUSTOM_JAR", "Name": "ddbpipe export Orders", "ActionOnFailure": "CONTINUE",
        "Jar": "command-runner.jar", "Args": EXPECTED_ARGV}]
    assert json.loads(value("--ec2-attributes")) == {"InstanceProfile": "ddbpipe-instance-role",
                                                      "SubnetId": "subnet-9"}
    assert json.loads(value("--instance-groups"))[1] == {
        "Name": "Core", "InstanceGroupType": "CORE", "InstanceType": "m5.xlarge",
        "InstanceCount": 1}
    assert "dynamodbdatapipeline=true" in argv
    assert "--no-auto-terminate" in argv
    assert json.loads(value("--auto-termination-policy")) == {"IdleTimeout": 3600}
    assert value("--log-uri") == "s3://bkt/logs/"
    with pytest.raises(ValueError, match="SecurityConfiguration"):
        awscli.create_cluster_cli({**plan.request, "SecurityConfiguration": "x"})


def test_format_command_quotes_for_the_shell():
    text = awscli.format_command(["aws", "emr", "add-steps", "--cluster-id", "j-1", "--steps",
                             '[{"Name":"a b"}]'])
    assert text.splitlines() == ["aws emr add-steps \\", "    --cluster-id j-1 \\",
                                 "    --steps '[{\"Name\":\"a b\"}]'"]


# --- schedule --------------------------------------------------------------------------------


def test_create_schedule_request_targets_run_job_flow_itself():
    plan = d.plan_schedule(export_job(), options(), name="nightly", wheel_name=WHEEL,
                           capacities=[cap(1000, 0.5, "Orders")])
    req = schedule.create_schedule_request(
        name="nightly", expression="cron(0 3 * * ? *)", role_arn="arn:aws:iam::1:role/r",
        run_job_flow=plan.request, region="eu-west-1",
        dlq_arn="arn:aws:sqs:eu-west-1:123456789012:ddbpipe-schedules-dlq",
        description="ddbpipe export Orders on EMR")
    assert req == {
        "Name": "nightly",
        "GroupName": "ddbpipe",
        "ScheduleExpression": "cron(0 3 * * ? *)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Description": "ddbpipe export Orders on EMR",
        "Target": {
            "Arn": "arn:aws:scheduler:::aws-sdk:emr:runJobFlow",
            "RoleArn": "arn:aws:iam::1:role/r",
            "Input": json.dumps(plan.request, sort_keys=True),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
            "DeadLetterConfig": {
                "Arn": "arn:aws:sqs:eu-west-1:123456789012:ddbpipe-schedules-dlq"},
        },
    }
    sent = json.loads(req["Target"]["Input"])
    assert sent["Instances"]["KeepJobFlowAliveWhenNoSteps"] is False
    assert sent["Steps"][0]["ActionOnFailure"] == "TERMINATE_CLUSTER"
    assert {"Key": "dynamodbdatapipeline", "Value": "true"} in sent["Tags"]
    assert {"Key": "ddbpipe-schedule", "Value": "nightly"} in sent["Tags"]
    assert sent["BootstrapActions"][0]["ScriptBootstrapAction"]["Path"] == \
        "s3://bkt/ddbpipe-staging/schedules/nightly/bootstrap/install-ddbpipe.sh"
    # One request serves every run: no timestamp anywhere in it (the job takes its own).
    assert not re.search(r"\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d|\d{8}-\d{6}", req["Target"]["Input"])


def test_a_schedule_never_keeps_its_cluster():
    with pytest.raises(ConfigError, match="keep-cluster"):
        d.plan_schedule(export_job(), options(keep_cluster=True), name="n", wheel_name=WHEEL)


@pytest.mark.parametrize("expr", ["cron(0 3 * * ? *)", "cron(15 2 ? * MON-FRI *)",
                                  "rate(1 day)", "rate(12 hours)", "at(2030-01-01T00:00:00)"])
def test_schedule_expressions_accepted(expr):
    assert schedule.check_expression(expr) == expr


@pytest.mark.parametrize("expr", ["0 3 * * *", "cron(0 3 * * * *)", "cron(0 3 * *)",
                                  "rate(0 days)", "daily"])
def test_schedule_expressions_refused(expr):
    with pytest.raises(ConfigError, match="EventBridge Scheduler expression"):
        schedule.check_expression(expr)


# --- IAM -------------------------------------------------------------------------------------


def test_role_names():
    assert iam.role_names() == iam.RoleNames("EMR_DefaultRole_V2", "ddbpipe-instance-role")
    assert iam.role_names(True) == iam.RoleNames("DataPipelineDefaultRole",
                                                 "DataPipelineDefaultResourceRole")
    assert iam.role_names(True, instance_role="X").instance_profile == "X"


# --- errors by code --------------------------------------------------------------------------


def client_error(code: str, message: str = "boom", op: str = "RunJobFlow") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, op)


def test_emr_errors_are_explained_by_code():
    plan = d.plan_run(export_job(), options(), run=RUN, wheel_name=WHEEL)
    denied = emr_errors.explain_emr_error(client_error("AccessDeniedException"), "RunJobFlow",
                                        plan.request)
    assert isinstance(denied, PermissionDenied)
    assert "iam:PassRole on EMR_DefaultRole_V2 and ddbpipe-instance-role" in str(denied)

    untagged = {**plan.request, "Tags": []}
    missing_tag = emr_errors.explain_emr_error(client_error("AccessDeniedException"), "RunJobFlow",
                                             untagged)
    assert isinstance(missing_tag, PermissionDenied)
    assert "no dynamodbdatapipeline=true tag" in str(missing_tag)

    quota = emr_errors.explain_emr_error(client_error("LimitExceededException"), "RunJobFlow")
    assert isinstance(quota, QuotaExceeded) and "Service Quotas" in str(quota)

    invalid = emr_errors.explain_emr_error(
        client_error("ValidationException", "Invalid InstanceProfile: EMR_EC2_DefaultRole."),
        "RunJobFlow", plan.request)
    assert isinstance(invalid, ConfigError)
    assert "Invalid InstanceProfile" in str(invalid) and "ddbpipe iam setup" in str(invalid)

    creds = emr_errors.explain_emr_error(client_error("UnrecognizedClientException"), "RunJobFlow")
    assert isinstance(creds, PermissionDenied) and "credentials" in str(creds)
    assert emr_errors.explain_emr_error(client_error("InternalServerError"), "RunJobFlow") is None


# --- pinned requirements ---------------------------------------------------------------------


def test_pinned_requirements_follow_the_closure_for_the_cluster_python():
    versions = {"boto3": "1.40.0", "botocore": "1.40.0", "jmespath": "1.0.1",
                "s3transfer": "0.13.0", "urllib3": "2.5.0", "python-dateutil": "2.9.0",
                "six": "1.17.0"}
    requires = {
        "boto3": ["botocore (<1.41.0,>=1.40.0)", "jmespath (<2.0.0,>=0.7.1)",
                  "s3transfer (<0.14.0,>=0.13.0)", "botocore[crt] ; extra == 'crt'"],
        "botocore": ["jmespath", "python-dateutil (<3.0.0,>=2.1)",
                     'urllib3 (!=2.2.0,<3,>=1.25.4) ; python_version >= "3.10"',
                     'urllib3 (<1.27,>=1.25.4) ; python_version < "3.10"'],
        "python-dateutil": ["six >=1.5"],
    }
    pins = staging.pinned_requirements(
        ["boto3>=1.34", 'pyspark==3.5.9; extra == "local"'],
        version_of=lambda n: versions[n], requires_of=lambda n: requires.get(n, []))
    assert pins == ["boto3==1.40.0", "botocore==1.40.0", "jmespath==1.0.1",
                    "python-dateutil==2.9.0", "s3transfer==0.13.0", "six==1.17.0",
                    "urllib3==2.5.0"]


def test_requirements_of_this_checkout_are_pinned():
    pins = staging.pinned_requirements(staging.installed_requires())
    assert any(p.startswith("boto3==") for p in pins)
    assert all(re.match(r"^[a-z0-9.\-]+==\S+$", p) for p in pins), pins
    assert not any(p.startswith(("pyspark", "moto", "pytest")) for p in pins)


# --- the command line ------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="ddbpipe")
    sub = top.add_subparsers(dest="command")
    emr.register(sub)
    return top


def test_job_args_round_trip_through_the_jobs_own_parser():
    from ddbpipe import export, importer

    args = parser().parse_args([
        "emr", "export", "--table", "Alpha", "--table", "Beta", "--to", "s3://bkt/x",
        "--read-percent", "0.25", "--compress", "--log-uri", "s3://bkt/logs", "--region", "r"])
    argv = emr.job_args("export", args)
    assert argv == ["--table", "Alpha", "--table", "Beta", "--to", "s3://bkt/x", "--read-percent",
                    "0.25", "--compress"]
    job_parser = argparse.ArgumentParser()
    export.add_options(job_parser)
    again = job_parser.parse_args(argv)
    assert (again.table, again.to, again.read_percent, again.compress) == \
        (["Alpha", "Beta"], "s3://bkt/x", 0.25, True)

    args = parser().parse_args([
        "emr", "import", "--from", "s3://bkt/x/A/2025-01-01-00-00-00", "--table", "Alpha",
        "--mode", "replace", "--yes", "--create-table", "--log-uri", "s3://bkt/logs"])
    argv = emr.job_args("import", args)
    job_parser = argparse.ArgumentParser()
    importer.add_options(job_parser)
    again = job_parser.parse_args(argv)
    assert (again.source, again.table, again.mode, again.yes, again.create_table) == \
        ("s3://bkt/x/A/2025-01-01-00-00-00", "Alpha", "replace", True, True)
    job = emr.job_spec("import", args, AWS)
    assert job.creates_table and job.tables == ("Alpha",) and job.unit == "WCU"


def test_dry_run_prints_the_request_and_the_cli(monkeypatch):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EMR", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    args = parser().parse_args([
        "emr", "export", "--table", "Orders", "--to", "s3://bkt", "--read-capacity", "4000",
        "--log-uri", "s3://bkt/logs/", "--region", "eu-west-1", "--dry-run", "--offline"])
    out = io.StringIO()
    assert emr._run(args, out) == 0  # --offline: no AWS call (no endpoint is set here)
    text = out.getvalue()
    assert "Orders: 4,000 RCU (--read-capacity) x 0.5 = 2,000 units/s" in text
    assert "=> 1 leader + 2 core node(s) of m5.xlarge" in text
    start = text.index("\n{\n") + 1
    end = text.index("\n}\n", start) + 2
    request = json.loads(text[start:end])
    assert request["Tags"][0] == {"Key": "dynamodbdatapipeline", "Value": "true"}
    assert request["Steps"][0]["HadoopJarStep"]["Args"][-6:] == [
        "--read-percent", "0.5", "--read-capacity", "4000", "--region", "eu-west-1"]
    assert "aws emr create-cluster \\\n    --region eu-west-1" in text
    assert "/jobs/export_table.py" in text and "/wheelhouse/" in text
    assert "wheelhouse for cp311-manylinux_2_34-x86_64" in text
    # nothing secret travels in the request
    assert "AWS_SECRET" not in text and "awsSecretAccessKey" not in text


def test_a_failed_wheel_build_says_what_to_do(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project\n")  # not TOML: the build stops at once
    with pytest.raises(staging.WheelBuildFailed) as info:
        staging.build_wheel(tmp_path, tmp_path / "out")
    assert f"Building the ddbpipe wheel from {tmp_path} failed" in info.value.what
    assert "make wheel" in info.value.fix
