"""Executor sizing, the on-cluster step time limit, the staging folder, partition-aware schedule
ARNs and the dead-letter queue: the pure parts, by equality."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ddbpipe.cluster import awscli, deadletter, executors, iam, places, runlimits, schedule
from ddbpipe.cluster import definition as d
from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri

WHEEL = "ddbpipe-0.1.0-py3-none-any.whl"


def export_job() -> d.JobSpec:
    return d.JobSpec("export", ("--table", "Orders", "--to", "s3://bkt/exports"), ("Orders",),
                     "eu-west-1")


# --- executor sizing -------------------------------------------------------------------------


def test_the_read_buffer_bound_per_task():
    # (8 MiB buffer + 30 workers x 128 KiB waiting pages) on the wire x 20 (objects per byte)
    assert executors.TASK_WIRE_BYTES == 8 * 2**20 + 30 * 128 * 1024
    assert executors.TASK_BUFFER_MB == 235
    assert executors.container_mb(1) == 1408  # 747 heap + 640 overhead, rounded to 32
    assert executors.container_mb(4) == 2880  # 1,452 + 1,408 -> 2,860 -> 2,880


@pytest.mark.parametrize(("instance_type", "nodes", "expected"), [
    ("m5.xlarge", 2, {"instances": "2", "cores": "4", "memory": "1452m", "overhead": "1408m",
                      "parallelism": "8", "driver": "8g"}),
    ("m6g.xlarge", 1, {"instances": "1", "cores": "4", "memory": "1452m", "overhead": "1408m",
                       "parallelism": "4", "driver": "8g"}),
    ("m6g.2xlarge", 1, {"instances": "1", "cores": "8", "memory": "2392m",
                        "overhead": "2432m", "parallelism": "8", "driver": "16g"}),
    ("m5.4xlarge", 3, {"instances": "3", "cores": "16", "memory": "4272m", "overhead": "4524m",
                       "parallelism": "48", "driver": "16g"}),
    ("r5.xlarge", 1, {"instances": "1", "cores": "4", "memory": "1452m", "overhead": "1408m",
                      "parallelism": "4", "driver": "16g"}),
    ("c5.xlarge", 4, {"instances": "4", "cores": "4", "memory": "1452m", "overhead": "1408m",
                      "parallelism": "16", "driver": "4g"}),
])
def test_spark_defaults_per_instance_type(instance_type, nodes, expected):
    assert executors.plan(instance_type, nodes).configuration() == {
        "Classification": "spark-defaults",
        "Properties": {
            "spark.dynamicAllocation.enabled": "false",
            "spark.executor.instances": expected["instances"],
            "spark.executor.cores": expected["cores"],
            "spark.executor.memory": expected["memory"],
            # young: half the heap beyond the buffers, 512 / 2 for any bound-sized heap
            "spark.executor.extraJavaOptions": (f"-Xms{expected['memory']} -Xmn256m "
                                                "-XX:+AlwaysPreTouch"),
            "spark.executor.memoryOverhead": expected["overhead"],
            "spark.default.parallelism": expected["parallelism"],
            "spark.driver.memory": expected["driver"],
            "spark.yarn.am.memory": "512m",
        },
    }


@pytest.mark.parametrize("instance_type", sorted(executors.SHAPES))
def test_every_layout_fits_the_node_and_holds_the_buffer(instance_type):
    shape = executors.SHAPES[instance_type]
    p = executors.plan(instance_type, 1)
    assert p.heap_mb >= p.cores * executors.TASK_BUFFER_MB + executors.EXECUTOR_BASE_MB
    assert p.heap_mb <= executors.MAX_HEAP_MB  # compressed object pointers
    assert p.cores * p.executors_per_node <= shape.vcpus
    yarn_used = p.executors_per_node * executors.container_mb(p.cores)
    assert yarn_used + executors.AM_CONTAINER_MB <= shape.yarn_mb
    # no layout with more tasks per node would have fitted
    more = p.tasks_per_node + 1
    assert not any(
        c * min(shape.vcpus // c,
                (shape.yarn_mb - executors.AM_CONTAINER_MB) // executors.container_mb(c)) >= more
        for c in range(1, shape.vcpus + 1)
        if executors.executor_heap_mb(c) <= executors.MAX_HEAP_MB)


def test_the_arithmetic_is_spelled_out():
    assert executors.plan("m5.xlarge", 2).lines == (
        "read buffer per task: (8 MiB + 30 workers x 128 KiB) x 20 (objects per wire byte) = "
        "235 MiB",
        "executor of 4 tasks: heap 4 x 235 + 512 = 1,452 MiB, overhead 1,408 MiB, container "
        "2,880 MiB",
        "m5.xlarge: 12,288 MiB for YARN (EMR task configuration defaults) - 896 for the "
        "application master = 11,392 MiB, 4 vCPUs -> 1 executor, 4 tasks per node",
        "2 core nodes -> 2 executors, parallelism 8; driver 8g (half the leader's 16 GiB, at "
        "most 16)",
    )


def test_an_unknown_instance_type_is_refused_before_anything():
    with pytest.raises(ConfigError, match=r"r6g\.2xlarge is not one ddbpipe can size"):
        executors.plan("r6g.2xlarge", 1)
    with pytest.raises(ConfigError, match="m5, m6g, m7g, r5"):
        d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs", instance_type="t3.large"),
                   run="r", wheel_name=WHEEL)


def test_the_request_and_its_cli_carry_the_spark_defaults():
    plan = d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs", core_count=2), run="r",
                      wheel_name=WHEEL)
    configurations = plan.request["Configurations"]
    assert configurations == [executors.plan("m5.xlarge", 2).configuration()]
    cli = awscli.create_cluster_cli(plan.request)
    assert cli[cli.index("--configurations") + 1] == awscli._compact(configurations)
    assert any(n.startswith("executors: m5.xlarge: 12,288 MiB for YARN") for n in plan.notes)


# --- step time limit -------------------------------------------------------------------------


def test_a_launched_run_with_timeout_is_limited_on_the_cluster():
    plan = d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs"), run="r",
                      wheel_name=WHEEL, timeout_minutes=90)
    args = plan.request["Steps"][0]["HadoopJarStep"]["Args"]
    assert args[:5] == ["timeout", "--signal=TERM", "--kill-after=120s", "5400s", "spark-submit"]
    assert plan.notes[-1] == ("the step stops after 90 minutes on the cluster (timeout, then the "
                              "cluster terminates)")
    unlimited = d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs"), run="r",
                           wheel_name=WHEEL)
    assert unlimited.request["Steps"][0]["HadoopJarStep"]["Args"][0] == "spark-submit"
    on_running = d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs"), run="r",
                            wheel_name=WHEEL, cluster_id="j-ABC", timeout_minutes=0.5)
    assert on_running.request["Steps"][0]["HadoopJarStep"]["Args"][:4] == \
        ["timeout", "--signal=TERM", "--kill-after=120s", "30s"]


def test_a_schedule_is_limited_to_a_day_by_default():
    plan = d.plan_schedule(export_job(), d.ClusterOptions("s3://bkt/logs"), name="n",
                           wheel_name=WHEEL)
    assert plan.request["Steps"][0]["HadoopJarStep"]["Args"][:4] == \
        ["timeout", "--signal=TERM", "--kill-after=120s", "86400s"]
    assert plan.request["Steps"][0]["ActionOnFailure"] == "TERMINATE_CLUSTER"


@pytest.mark.parametrize("minutes", [0, -5, float("nan"), float("inf"), 7 * 24 * 60 + 1])
def test_a_time_limit_must_be_a_duration(minutes):
    with pytest.raises(ConfigError, match="is not a time limit"):
        runlimits.check_minutes(minutes)


def test_timeout_stops_the_whole_step_process_group(tmp_path: Path):
    """What the step's `timeout` does on the leader: the job's child processes get SIGTERM too.

    spark-submit starts the Python driver as a child; ddbpipe's handler there cancels the job.
    Here a parent starts a child that records the signal it receives, then both hang.
    """
    marker = tmp_path / "signal"
    child = ("import signal, sys, time, pathlib\n"
             f"p = pathlib.Path({str(marker)!r})\n"
             "def on(sig, frame):\n"
             "    p.write_text(signal.Signals(sig).name); sys.exit(143)\n"
             "signal.signal(signal.SIGTERM, on)\n"
             "p.write_text('ready')\n"
             "time.sleep(60)\n")
    parent = (f"import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, '-c', {child!r}])\n"
              "time.sleep(60)\n")
    argv = runlimits.limited([sys.executable, "-c", parent], 2 / 60)
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 124  # timeout's own code: the step fails
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while marker.read_text() != "SIGTERM" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "SIGTERM"
    assert signal.SIGTERM.name == "SIGTERM" and os.name == "posix"


# --- the staging folder ----------------------------------------------------------------------


def test_staging_defaults_beside_the_log_folder():
    log = S3Uri.parse("s3://bkt/logs")
    assert places.staging_root(None, log) == S3Uri("bkt", "ddbpipe-staging")
    assert places.staging_root("s3://other/stage/", log) == S3Uri("other", "stage")
    assert places.staging_root("s3://bkt/logs2", log) == S3Uri("bkt", "logs2")  # a sibling
    plan = d.plan_run(export_job(), d.ClusterOptions("s3://bkt/logs", staging_uri="s3://stage-bkt/x"),
                      run="r1", wheel_name=WHEEL)
    assert plan.staging.prefix == S3Uri("stage-bkt", "x/runs/r1")
    assert plan.request["LogUri"] == "s3://bkt/logs/"


@pytest.mark.parametrize(("uri", "match"), [
    ("s3://bkt/logs/staging", "is inside --log-uri"),
    ("s3://bkt/logs", "is inside --log-uri"),
    ("s3://bkt", "root of bucket"),
])
def test_staging_inside_the_log_folder_is_refused(uri, match):
    with pytest.raises(ConfigError, match=match):
        d.ClusterOptions("s3://bkt/logs", staging_uri=uri)


# --- schedules: partition-aware ARNs, dead-letter queue -------------------------------------


@pytest.mark.parametrize(("region", "arn"), [
    ("us-east-1", "arn:aws:scheduler:::aws-sdk:emr:runJobFlow"),
    ("cn-north-1", "arn:aws-cn:scheduler:::aws-sdk:emr:runJobFlow"),
    ("us-gov-west-1", "arn:aws-us-gov:scheduler:::aws-sdk:emr:runJobFlow"),
])
def test_the_universal_target_follows_the_partition(region, arn):
    assert schedule.run_job_flow_target(region) == arn
    assert schedule.is_run_job_flow_target(arn)
    assert deadletter.default_arn(region, "123456789012").partition == iam.partition(region)
    assert not schedule.is_run_job_flow_target("arn:aws:scheduler:::aws-sdk:emr:addTags")


def test_dead_letter_queue_arns():
    ok = deadletter.parse_arn("arn:aws-cn:sqs:cn-north-1:123456789012:my-dlq", "cn-north-1")
    assert str(ok) == "arn:aws-cn:sqs:cn-north-1:123456789012:my-dlq"
    gov = deadletter.parse_arn("arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q", "us-gov-west-1")
    assert (gov.partition, gov.region, gov.name) == ("aws-us-gov", "us-gov-west-1", "q")
    with pytest.raises(ConfigError, match="FIFO"):
        deadletter.parse_arn("arn:aws:sqs:us-east-1:123456789012:q.fifo", "us-east-1")
    with pytest.raises(ConfigError, match="partition aws-cn"):
        deadletter.parse_arn("arn:aws-cn:sqs:cn-north-1:123456789012:q", "eu-west-1")
    with pytest.raises(ConfigError, match="not an SQS queue ARN"):
        deadletter.parse_arn("arn:aws:sns:us-east-1:123456789012:topic", "us-east-1")


def test_the_scheduler_policy_grants_the_dead_letter_queues():
    doc = iam.scheduler_policy("arn:aws:iam::1:role/s", "arn:aws:iam::1:role/i",
                               ["arn:aws:sqs:r:1:b", "arn:aws:sqs:r:1:a", "arn:aws:sqs:r:1:b"])
    assert doc["Statement"][-1] == {"Sid": "SendToDeadLetterQueues", "Effect": "Allow",
                                    "Action": "sqs:SendMessage",
                                    "Resource": ["arn:aws:sqs:r:1:a", "arn:aws:sqs:r:1:b"]}
    assert len(iam.scheduler_policy("a", "b")["Statement"]) == 2
    assert "AddTags" not in json.dumps(iam.scheduler_policy("a", "b"))


@pytest.mark.parametrize(("master", "tasks", "heap"), [
    ("local[2]", 2, "1024m"),  # 2 x 235 + 512 = 982: Spark's 1g
    ("local[8]", 8, "2392m"),  # the tasks' read buffers, as an executor of 8 cores
    ("local[4,3]", 4, "1452m"),
    ("local", 1, "1024m"),
    ("yarn", 1, "1024m"),
])
def test_the_local_heap_holds_its_tasks_read_buffers(master, tasks, heap):
    from ddbpipe.spark import default_driver_memory, local_tasks

    assert local_tasks(master) == tasks
    assert default_driver_memory(master) == heap


def test_an_executor_commits_and_touches_its_whole_heap_at_start():
    props = executors.plan("m5.xlarge", 1).properties
    options = props["spark.executor.extraJavaOptions"].split()
    # -Xms equal to the heap Spark gives -Xmx; Spark refuses -Xmx in these options.
    # 4 tasks: a young generation of (1,452 - 4 x 235) / 2 MiB, fixed.
    assert options == ["-Xms1452m", "-Xmn256m", "-XX:+AlwaysPreTouch"]
    assert props["spark.executor.memory"] == "1452m"
    assert not any(o.startswith("-Xmx") for o in options)
    # EMR's own executor options live in spark.executor.defaultJavaOptions, which Spark puts
    # before extraJavaOptions: ddbpipe must not replace them.
    assert "spark.executor.defaultJavaOptions" not in props


@pytest.mark.parametrize(("master", "verbose", "expected"), [
    ("local[2]", True, "-Xms1024m -Xmn277m -XX:+AlwaysPreTouch"),  # (1,024 - 2 x 235) / 2
    ("local", True, "-Xms1024m -Xmn394m -XX:+AlwaysPreTouch"),
    ("local[2]", False,
     "-Xms1024m -Xmn277m -XX:+AlwaysPreTouch -Dlog4j2.configurationFile={quiet}"),
    # A heap set smaller than its tasks' buffers: young an eighth of it.
    ("local[16]", True, "-Xms1024m -Xmn128m -XX:+AlwaysPreTouch"),
    # Another master runs the tasks in executors of its own: this JVM is only the driver.
    ("spark://127.0.0.1:7077", False, "-Dlog4j2.configurationFile={quiet}"),
    ("yarn", True, ""),
])
def test_the_local_jvm_commits_its_heap_and_keeps_the_quiet_logging(master, verbose, expected):
    from ddbpipe.spark import QUIET_LOG4J, driver_java_options

    assert driver_java_options(master, "1024m", verbose) == expected.format(
        quiet=QUIET_LOG4J.as_uri())


@pytest.mark.parametrize(("size", "mb"), [
    ("1024m", 1024), ("2g", 2048), ("4G", 4096), ("1073741824", 1024), ("1536k", 1), ("1t", 2**20)])
def test_heap_sizes_in_mib(size, mb):
    from ddbpipe.spark import heap_mb

    assert heap_mb(size) == mb


@pytest.mark.parametrize(("value", "heap"), [
    ("", "2392m"), ("2g", "2g"), (" 1536m ", "1536m"), ("4G", "4G"),
    ("1073741824", "1073741824")])
def test_the_local_heap_comes_from_the_environment(monkeypatch, value, heap):
    from ddbpipe.spark import driver_memory

    monkeypatch.setenv("DDBPIPE_DRIVER_MEMORY", value)
    assert driver_memory("local[8]") == heap


@pytest.mark.parametrize("value", ["2gb", "1.5g", "-1g", "0", "lots", "2 g"])
def test_a_local_heap_that_is_no_jvm_size_is_refused_in_one_line(monkeypatch, value):
    from ddbpipe.errors import ConfigError
    from ddbpipe.spark import driver_memory

    monkeypatch.setenv("DDBPIPE_DRIVER_MEMORY", value)
    with pytest.raises(ConfigError) as err:
        driver_memory("local[2]")
    assert f"DDBPIPE_DRIVER_MEMORY={value.strip()} is not a JVM heap size" in str(err.value)
    assert "DDBPIPE_DRIVER_MEMORY=2g" in err.value.fix and "\n" not in str(err.value)
