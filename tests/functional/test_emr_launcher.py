"""The EMR launcher against moto server: uploads, RunJobFlow, AddJobFlowSteps, waiting, failures.

moto runs nothing: its steps stay RUNNING. Where a test needs a step to end, botocore after-call
hooks overlay the state on moto's answer (:class:`Overlay`); every request still goes to moto.
"""

from __future__ import annotations

import argparse
import gzip
import io
from pathlib import Path
from typing import Any

import pytest

from ddbpipe.aws import AwsConfig, client
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import launcher, sizing, staging, wheelhouse
from ddbpipe.cluster.monitor import ENDED_CLUSTER, Monitor, RunHandle
from ddbpipe.commands import emr as emr_cmd
from ddbpipe.errors import (
    BucketError,
    ConfigError,
    JobFailed,
    RoleMissing,
    TimedOut,
)

pytestmark = pytest.mark.functional

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MOTO_SERVICES = ("s3", "emr", "iam", "sts", "scheduler")


@pytest.fixture(scope="module")
def moto_aws(moto_server: Any) -> AwsConfig:
    return AwsConfig(REGION, {svc: moto_server.url for svc in MOTO_SERVICES})


@pytest.fixture
def emr(moto_aws: AwsConfig) -> Any:
    # moto answers CancelSteps with HTTP 500: do not spend the standard retries on it.
    return client(moto_aws, "emr", retries={"mode": "standard", "max_attempts": 1})


@pytest.fixture
def s3(moto_aws: AwsConfig) -> Any:
    return client(moto_aws, "s3")


@pytest.fixture
def log_bucket(s3: Any, unique: str) -> str:
    name = f"emr-{unique}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def job_root() -> Path:
    """The checkout the wheel is built from; its bootstrap/ goes up with the run."""
    return ROOT


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.on_sleep: list[Any] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for hook in self.on_sleep:
            hook(self.now)


class Overlay:
    """State the test sets on top of moto's EMR answers (moto's steps never end)."""

    def __init__(self, emr: Any) -> None:
        self.steps: dict[str, dict[str, Any]] = {}
        self.cluster: dict[str, Any] = {}
        emr.meta.events.register("after-call.emr.ListSteps", self._list)
        emr.meta.events.register("after-call.emr.DescribeStep", self._describe)
        emr.meta.events.register("after-call.emr.DescribeCluster", self._cluster)

    def _list(self, parsed: dict[str, Any], **_: Any) -> None:
        for summary in parsed.get("Steps", []):
            summary["Status"].update(self.steps.get(summary["Id"], {}))

    def _describe(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Step" in parsed:
            parsed["Step"]["Status"].update(self.steps.get(parsed["Step"]["Id"], {}))

    def _cluster(self, parsed: dict[str, Any], **_: Any) -> None:
        if "Cluster" in parsed:
            parsed["Cluster"]["Status"].update(self.cluster)


def export_job(capacity: int = 4000, tables: tuple[str, ...] = ("Orders",),
               to: str = "s3://exports-bucket") -> d.JobSpec:
    args: list[str] = []
    for t in tables:
        args += ["--table", t]
    args += ["--to", to, "--read-percent", "0.5", "--read-capacity", str(capacity)]
    return d.JobSpec("export", tuple(args), tables, REGION, 0.5, capacity)


def monitor(emr: Any, s3: Any, clock: FakeClock, **kw: Any) -> Monitor:
    return Monitor(emr, s3, out=io.StringIO(), poll_seconds=30, clock=clock.time,
                            sleep=clock.sleep, log_wait_seconds=0, cancel_grace_seconds=0, **kw)


def launch(emr: Any, s3: Any, bucket: str, built: tuple[Path, str], root: Path,
           mon: Monitor, **options: Any) -> tuple[d.RunPlan, RunHandle]:
    job = export_job()
    opts = d.ClusterOptions(log_uri=f"s3://{bucket}/logs", **options)
    wheel, requirements = built
    plan = d.plan_run(job, opts, run=emr_cmd.new_run_id(), wheel_name=wheel.name,
                      capacities=sizing.table_capacities(None, job))
    uploads = staging.plan_uploads(plan, root, wheel=wheel, requirements=requirements)
    handle = launcher.execute(plan, launcher.Clients(emr, s3), uploads, mon, wait=False)
    return plan, handle


def out_of(mon: Monitor) -> str:
    assert isinstance(mon.out, io.StringIO)
    return mon.out.getvalue()


def test_launch_uploads_the_files_and_starts_the_defined_cluster(emr, s3, log_bucket, built,
                                                                  job_root):
    mon = monitor(emr, s3, FakeClock())
    plan, handle = launch(emr, s3, log_bucket, built, job_root, mon)

    prefix = plan.staging.prefix
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=log_bucket,
                                                Prefix=prefix.prefix)["Contents"]}
    wheel, requirements = built
    house = f"{prefix.key}/wheelhouse"
    pins = [line.split("==") for line in requirements.splitlines() if "==" in line]
    assert {k for k in keys if k.startswith(house)} == {
        f"{house}/{wheel.name}", f"{house}/requirements.txt", f"{house}/SHA256SUMS",
        f"{house}/pip-{wheelhouse.pip_version()}-py3-none-any.whl",
        *(f"{house}/{staging_wheel}" for staging_wheel in [
            wheelhouse.find_cached(wheelhouse.cache_for(wheelhouse.Target("x86_64")), n, v,
                                   wheelhouse.Target("x86_64")).name for n, v in pins])}
    assert keys - {k for k in keys if k.startswith(house)} == {
        f"{prefix.key}/bootstrap/install-ddbpipe.sh", f"{prefix.key}/jobs/export_table.py",
        f"{prefix.key}/lib/ddbpipe-reader.jar"}
    sent = s3.get_object(Bucket=log_bucket, Key=f"{house}/requirements.txt")
    assert sent["Body"].read().decode() == requirements
    job = s3.get_object(Bucket=log_bucket, Key=f"{prefix.key}/jobs/export_table.py")
    assert job["Body"].read() == (ROOT / "jobs" / "export_table.py").read_bytes()
    head = s3.head_object(Bucket=log_bucket, Key=f"{house}/{wheel.name}")
    assert head["Metadata"]["ddbpipe-digest"] == staging.wheel_digest(wheel)

    cluster = emr.describe_cluster(ClusterId=handle.cluster_id)["Cluster"]
    assert {"Key": "dynamodbdatapipeline", "Value": "true"} in cluster["Tags"]
    assert cluster["LogUri"] == f"s3://{log_bucket}/logs/"
    assert cluster["ServiceRole"] == "EMR_DefaultRole_V2"
    assert cluster["Ec2InstanceAttributes"]["IamInstanceProfile"] == "ddbpipe-instance-role"
    assert cluster["ReleaseLabel"] == "emr-7.12.0"
    groups = emr.list_instance_groups(ClusterId=handle.cluster_id)["InstanceGroups"]
    assert sorted((g["InstanceGroupType"], g["InstanceType"], g["RequestedInstanceCount"])
                  for g in groups) == [("CORE", "m5.xlarge", 2), ("MASTER", "m5.xlarge", 1)]
    (action,) = emr.list_bootstrap_actions(ClusterId=handle.cluster_id)["BootstrapActions"]
    assert action["ScriptPath"] == plan.staging.bootstrap_uri
    assert action["Args"][:4] == ["--wheelhouse", plan.staging.wheelhouse_uri, "--arch", "x86_64"]
    (step,) = emr.list_steps(ClusterId=handle.cluster_id)["Steps"]
    assert handle.step_ids == [step["Id"]]
    assert step["Config"]["Args"] == plan.request["Steps"][0]["HadoopJarStep"]["Args"]
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert f"started cluster {handle.cluster_id}" in out_of(mon)


def test_poll_to_completion_shows_cluster_and_step_states(emr, s3, log_bucket, built, job_root):
    clock = FakeClock()
    mon = monitor(emr, s3, clock)
    overlay = Overlay(emr)
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon)
    (step_id,) = handle.step_ids

    def progress(now: float) -> None:
        overlay.steps[step_id] = {"State": "RUNNING" if now < 90 else "COMPLETED"}
        overlay.cluster = {"State": "RUNNING" if now < 90 else "TERMINATING"}

    overlay.steps[step_id] = {"State": "PENDING"}
    overlay.cluster = {"State": "STARTING"}
    clock.on_sleep.append(progress)

    states = mon.wait(handle, timeout_minutes=60)

    assert states == {step_id: "COMPLETED"}
    text = out_of(mon)
    cid = handle.cluster_id
    assert f"cluster {cid} STARTING | {step_id} ddbpipe export Orders: PENDING" in text
    assert f"cluster {cid} RUNNING | {step_id} ddbpipe export Orders: RUNNING" in text
    assert "1 step(s) completed" in text
    assert text.count("RUNNING | ") == 1  # one line per change, not per poll
    assert clock.now == 90


def test_steps_are_added_to_a_running_cluster(emr, s3, log_bucket, built, job_root):
    clock = FakeClock()
    mon = monitor(emr, s3, clock)
    first, kept = launch(emr, s3, log_bucket, built, job_root, mon, keep_cluster=True)

    job = export_job(tables=("Orders", "Lines"))
    opts = d.ClusterOptions(log_uri=f"s3://{log_bucket}/logs")
    plan = d.plan_run(job, opts, run=emr_cmd.new_run_id(), wheel_name=built[0].name,
                      cluster_id=kept.cluster_id)
    uploads = staging.plan_uploads(plan, job_root)
    # no wheel, no bootstrap: the job and ddbpipe's reader jar
    assert [u.uri for u in uploads] == [plan.staging.job_uri("export"),
                                        plan.staging.reader_jar_uri]
    overlay = Overlay(emr)
    handle = launcher.execute(plan, launcher.Clients(emr, s3), uploads, mon, wait=False)

    assert handle.cluster_id == kept.cluster_id and not handle.owns_cluster
    steps = emr.list_steps(ClusterId=kept.cluster_id)["Steps"]
    assert len(steps) == 2
    added = next(s for s in steps if s["Id"] == handle.step_ids[0])
    assert added["ActionOnFailure"] == "CONTINUE"
    assert added["Config"]["Args"] == plan.request["Steps"][0]["HadoopJarStep"]["Args"]
    assert f"from {first.staging.wheelhouse_uri}" in out_of(mon)

    overlay.steps[handle.step_ids[0]] = {"State": "COMPLETED"}
    assert mon.wait(handle) == {handle.step_ids[0]: "COMPLETED"}
    assert emr.describe_cluster(ClusterId=kept.cluster_id)["Cluster"]["Status"]["State"] \
        not in ENDED_CLUSTER  # not ours to terminate


def test_a_cluster_without_ddbpipe_is_refused(emr, s3, log_bucket):
    bare = emr.run_job_flow(
        Name="not ddbpipe", ReleaseLabel="emr-7.12.0",
        Instances={"InstanceGroups": d.instance_groups("m5.xlarge", 1),
                   "KeepJobFlowAliveWhenNoSteps": True},
        ServiceRole="r", JobFlowRole="p")["JobFlowId"]
    with pytest.raises(ConfigError, match="not started by ddbpipe"):
        launcher.check_running_cluster(emr, bare, io.StringIO())
    emr.terminate_job_flows(JobFlowIds=[bare])
    with pytest.raises(ConfigError, match="TERMINATED"):
        launcher.check_running_cluster(emr, bare, io.StringIO())


def test_a_failed_step_prints_its_failure_details_and_stderr(emr, s3, log_bucket, built,
                                                             job_root):
    clock = FakeClock()
    mon = monitor(emr, s3, clock)
    overlay = Overlay(emr)
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon)
    (step_id,) = handle.step_ids
    lines = [f"log line {i}" for i in range(100)] + [
        "Traceback (most recent call last):",
        "ddbpipe: error: Table 'Orders' does not exist in us-east-1."]
    s3.put_object(Bucket=log_bucket, Key=f"logs/{handle.cluster_id}/steps/{step_id}/stderr.gz",
                  Body=gzip.compress("\n".join(lines).encode()))
    overlay.steps[step_id] = {
        "State": "FAILED",
        "FailureDetails": {"Reason": "Unknown Error.", "Message": "exit code 2",
                           "LogFile": f"s3://{log_bucket}/logs/{handle.cluster_id}/steps/"
                                      f"{step_id}/stderr.gz"}}
    overlay.cluster = {"State": "TERMINATING",
                       "StateChangeReason": {"Code": "STEP_FAILURE", "Message": "Shut down"}}

    with pytest.raises(JobFailed) as info:
        mon.wait(handle, timeout_minutes=60)

    assert info.value.exit_code != 0
    assert f"({step_id}) FAILED on cluster {handle.cluster_id}: Unknown Error." in str(info.value)
    assert f"s3://{log_bucket}/logs/{handle.cluster_id}/steps/{step_id}/" in info.value.fix
    text = out_of(mon)
    assert f"  {step_id}  FAILED" in text  # every step's state is listed
    assert "Message: exit code 2" in text
    assert "ddbpipe: error: Table 'Orders' does not exist in us-east-1." in text
    assert "log line 99" in text and "log line 50" not in text  # the tail only


def test_the_other_steps_are_listed_when_one_fails(emr, s3, log_bucket, built, job_root):
    mon = monitor(emr, s3, FakeClock())
    overlay = Overlay(emr)
    _, kept = launch(emr, s3, log_bucket, built, job_root, mon, keep_cluster=True)
    more = launcher.add_steps(emr, d.add_job_flow_steps_request(
        kept.cluster_id, [d.step("second", ["echo", "hi"], "CONTINUE")]))
    run = RunHandle(kept.cluster_id, kept.step_ids + more, kept.log, True, True)
    overlay.steps[kept.step_ids[0]] = {"State": "COMPLETED"}
    overlay.steps[more[0]] = {"State": "FAILED"}

    with pytest.raises(JobFailed, match="'second'"):
        mon.wait(run)
    text = out_of(mon)
    assert f"  {kept.step_ids[0]}  COMPLETED" in text and f"  {more[0]}  FAILED" in text
    assert "not in s3://" in text  # no stderr uploaded yet: says where to look later


def test_a_cluster_that_fails_to_bootstrap_shows_the_bootstrap_log(emr, s3, log_bucket, built,
                                                                   job_root):
    mon = monitor(emr, s3, FakeClock())
    overlay = Overlay(emr)
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon)
    s3.put_object(Bucket=log_bucket,
                  Key=f"logs/{handle.cluster_id}/node/i-0abc/bootstrap-actions/1/stderr.gz",
                  Body=gzip.compress(b"ddbpipe-bootstrap: error: cannot download s3://x\n"))
    overlay.cluster = {"State": "TERMINATED_WITH_ERRORS",
                       "StateChangeReason": {"Code": "BOOTSTRAP_FAILURE",
                                             "Message": "On the master instance, bootstrap "
                                                        "action 1 returned a non-zero code"}}
    overlay.steps[handle.step_ids[0]] = {"State": "CANCELLED"}

    with pytest.raises(JobFailed) as info:
        mon.wait(handle)
    assert "BOOTSTRAP_FAILURE" in str(info.value)
    assert "bootstrap action failed" in info.value.fix
    assert "cannot download s3://x" in out_of(mon)


def test_timeout_cancels_the_steps_and_terminates_the_cluster(emr, s3, log_bucket, built,
                                                             job_root):
    clock = FakeClock()
    mon = monitor(emr, s3, clock)
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon)

    with pytest.raises(TimedOut) as info:
        mon.wait(handle, timeout_minutes=1)

    assert "timed out after 1 minute;" in str(info.value)
    assert info.value.exit_code == 3
    assert clock.now == 60
    text = out_of(mon)
    assert "timed out after 1 minute: stopping the run" in text
    assert f"step(s) {handle.step_ids[0]}" in text  # cancel attempted (moto has no CancelSteps)
    state = emr.describe_cluster(ClusterId=handle.cluster_id)["Cluster"]["Status"]["State"]
    assert state == "TERMINATED"


def test_ctrl_c_terminates_the_cluster_it_created(emr, s3, log_bucket, built, job_root):
    clock = FakeClock()
    mon = monitor(emr, s3, clock)
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon)

    def interrupt(now: float) -> None:
        raise KeyboardInterrupt

    clock.on_sleep.append(interrupt)
    with pytest.raises(KeyboardInterrupt):
        mon.wait(handle, timeout_minutes=60)
    state = emr.describe_cluster(ClusterId=handle.cluster_id)["Cluster"]["Status"]["State"]
    assert state == "TERMINATED"
    assert "interrupted: stopping the run" in out_of(mon)


def test_kept_cluster_survives_a_timeout(emr, s3, log_bucket, built, job_root):
    mon = monitor(emr, s3, FakeClock())
    _, handle = launch(emr, s3, log_bucket, built, job_root, mon, keep_cluster=True)
    with pytest.raises(TimedOut):
        mon.wait(handle, timeout_minutes=0.5)
    state = emr.describe_cluster(ClusterId=handle.cluster_id)["Cluster"]["Status"]["State"]
    assert state not in ENDED_CLUSTER
    assert "kept cluster" in out_of(mon)
    emr.terminate_job_flows(JobFlowIds=[handle.cluster_id])


def test_missing_bucket_and_missing_roles_are_named(emr, s3, moto_aws, built, job_root, unique):
    upload = staging.Upload(f"s3://no-such-{unique}/logs/x", "x", body=b"x")
    with pytest.raises(BucketError, match="does not exist"):
        staging.upload(s3, [upload])
    with pytest.raises(RoleMissing, match="'NoSuchRole-") as info:
        launcher.check_roles(client(moto_aws, "iam"), f"NoSuchRole-{unique}", "profile")
    assert "ddbpipe iam setup" in info.value.fix


def emr_args(*argv: str) -> argparse.Namespace:
    top = argparse.ArgumentParser()
    sub = top.add_subparsers()
    emr_cmd.register(sub)
    return top.parse_args(["emr", *argv])


def test_bucket_root_log_uri_is_refused_before_anything_happens(moto_aws, emr, log_bucket,
                                                                monkeypatch):
    before = len(emr.list_clusters()["Clusters"])
    args = emr_args("export", "--table", "Orders", "--to", f"s3://{log_bucket}",
                    "--core-count", "1", "--log-uri", f"s3://{log_bucket}/",
                    "--region", REGION, "--endpoint-url", moto_aws.endpoint("emr") or "")
    with pytest.raises(ConfigError, match="root of bucket"):
        emr_cmd._run(args, io.StringIO())
    assert len(emr.list_clusters()["Clusters"]) == before


def test_the_cli_runs_a_whole_export_and_stops_it_at_the_timeout(moto_aws, emr, s3, log_bucket,
                                                                  built, monkeypatch):
    """`ddbpipe emr export` end to end on moto: upload, RunJobFlow, wait, time out."""
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: built)  # built once above
    real_client = emr_cmd.client
    monkeypatch.setattr(emr_cmd, "client", lambda aws, svc, **kw: real_client(
        aws, svc, retries={"mode": "standard", "max_attempts": 1}))
    args = emr_args("export", "--table", "Orders", "--to", f"s3://{log_bucket}/exports",
                    "--read-capacity", "6000", "--log-uri", f"s3://{log_bucket}/logs",
                    "--timeout", "0.01", "--poll-seconds", "0.2",
                    # the pre-flight checks have tests of their own (test_emr_network.py)
                    "--skip-doctor", "--subnet-id", "subnet-0123456789abcdef0",
                    "--region", REGION, "--endpoint-url", moto_aws.endpoint("emr") or "")
    # The roles exist, as `ddbpipe iam setup` leaves them (without their AWS managed policies).
    iam = client(moto_aws, "iam")
    for role in ("EMR_DefaultRole_V2", "ddbpipe-instance-role"):
        if role not in {r["RoleName"] for r in iam.list_roles()["Roles"]}:
            iam.create_role(RoleName=role, AssumeRolePolicyDocument="{}")
    if "ddbpipe-instance-role" not in {p["InstanceProfileName"] for p in
                                     iam.list_instance_profiles()["InstanceProfiles"]}:
        iam.create_instance_profile(InstanceProfileName="ddbpipe-instance-role")
    out = io.StringIO()

    with pytest.raises(TimedOut, match="timed out after 0.01 minutes"):
        emr_cmd._run(args, out)

    text = out.getvalue()
    assert "Orders: 6,000 RCU (--read-capacity) x 0.5 = 3,000 units/s" in text
    cluster_id = next(w for w in text.split() if w.startswith("j-"))
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster["Status"]["State"] == "TERMINATED"
    (step,) = emr.list_steps(ClusterId=cluster_id)["Steps"]
    assert step["Config"]["Args"][-10:] == [
        "--table", "Orders", "--to", f"s3://{log_bucket}/exports", "--read-percent", "0.5",
        "--read-capacity", "6000", "--region", REGION]
    assert not any("endpoint" in a or "secret" in a.lower() for a in step["Config"]["Args"])
    # --timeout holds on the cluster too; the files are staged beside the logs, not under them.
    assert step["Config"]["Args"][:5] == ["timeout", "--signal=TERM", "--kill-after=120s", "1s",
                                          "spark-submit"]
    staged = [o["Key"] for o in s3.list_objects_v2(Bucket=log_bucket).get("Contents", [])]
    assert any(k.startswith("ddbpipe-staging/runs/") and k.endswith("/jobs/export_table.py")
               for k in staged)
    assert not any(k.startswith("logs/") for k in staged)


def test_core_nodes_are_sized_from_the_table(aws, unique):
    """Sizing reads the table's provisioned capacity (dynalite)."""
    ddb = client(aws, "dynamodb")
    name = f"size-{unique}"
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 6000,
                                            "WriteCapacityUnits": 100})
    job = d.JobSpec("export", ("--table", name, "--to", "s3://bkt"), (name,), aws.region)
    (capacity,) = sizing.table_capacities(ddb, job, aws.endpoint("dynamodb"))
    assert capacity == d.TableCapacity(name, 6000, 0.5, "RCU", "provisioned")
    assert d.size_core_nodes([capacity]).count == 2

    imp = d.JobSpec("import", ("--from", "s3://bkt/x", "--table", name), (name,), aws.region)
    assert sizing.table_capacities(ddb, imp)[0].capacity == 100
    missing = d.JobSpec("import", ("--from", "s3://bkt/x", "--table", "absent-" + unique),
                        ("absent-" + unique,), aws.region, creates_table=True)
    assert sizing.table_capacities(ddb, missing)[0].source.startswith("to be created")
