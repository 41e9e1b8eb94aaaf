"""The EMR cluster and its steps as plain data: pure functions, tested by equality.

Nothing here talks to AWS. ``plan_run`` turns a job (its argv, its tables) and the cluster options
into the exact RunJobFlow or AddJobFlowSteps request; ``plan_schedule`` does the same for a
scheduled run; :mod:`ddbpipe.cluster.awscli` translates a request into the equivalent ``aws emr``
command line for review.

Choices, each written down in docs/decisions.md:

* ``emr-7.12.0``: Spark 3.5.6, the same Spark minor as the local pyspark 3.5.9 (patch releases of
  one minor keep the API), Python 3.11 on the nodes like the local venv, the emr-ddb connector 5.x
  installed with Spark at :data:`EMR_CONNECTOR_JAR`.
* ``--deploy-mode client``: the driver runs in the step's own process on the leader, so its
  stderr (Python traceback, ddbpipe's one-line error) is the step's ``stderr.gz`` that the launcher
  prints on failure; cluster mode would bury it in YARN container logs.
* One core node per 1,500 units of capacity x percent (the old template's rule for m3.xlarge),
  at least one, ``--core-count`` overrides; m1 and m3 are retired, so they map to m5.*.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Optional, Sequence

from ddbpipe.capacity import READER_JAR
from ddbpipe.checks import check_table_name
from ddbpipe.cluster import executors, places, runlimits
from ddbpipe.cluster.wheelhouse import FOLDER as WHEELHOUSE_FOLDER
from ddbpipe.cluster.wheelhouse import architecture
from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri

#: The tag the old service's documented IAM policy requires on RunJobFlow; always present.
TAG_KEY = "dynamodbdatapipeline"
TAG_VALUE = "true"
#: The tag EMR's v2 managed policies (EMR_DefaultRole_V2) require on the cluster.
EMR_MANAGED_POLICY_TAG = "for-use-with-amazon-emr-managed-policies"
RUN_ID_TAG = "ddbpipe-run-id"
SCHEDULE_TAG = "ddbpipe-schedule"

RELEASE_LABEL = "emr-7.12.0"
DEFAULT_INSTANCE_TYPE = "m5.xlarge"
#: m1 and m3 are retired (Data Pipeline's templates and definitions name them); the current
#: general-purpose equivalent of each size (m5.large is the smallest EMR takes).
#: Each maps to the current m5 of at least its memory, and never below xlarge: the smallest
#: size ddbpipe sizes Spark executors for (``executors.SHAPES``; a test holds them together).
RETIRED_INSTANCE_TYPES = {
    "m1.small": "m5.xlarge",
    "m1.medium": "m5.xlarge",
    "m1.large": "m5.xlarge",
    "m1.xlarge": "m5.xlarge",
    "m3.medium": "m5.xlarge",
    "m3.large": "m5.xlarge",
    "m3.xlarge": "m5.xlarge",
    "m3.2xlarge": "m5.2xlarge",
}
#: The old template's rule of thumb: one m3.xlarge-class core node per this many units/s.
UNITS_PER_CORE = 1500
MAX_AUTO_CORES = 50

SERVICE_ROLE = "EMR_DefaultRole_V2"
INSTANCE_ROLE = "ddbpipe-instance-role"  # EMR_EC2_DefaultRole only when asked by name
DATAPIPELINE_SERVICE_ROLE = "DataPipelineDefaultRole"
DATAPIPELINE_INSTANCE_ROLE = "DataPipelineDefaultResourceRole"

COMMAND_RUNNER = "command-runner.jar"
DEPLOY_MODE = "client"
CLUSTER_PYTHON = "/usr/bin/python3.11"
#: Where EMR installs the emr-dynamodb-connector (component emr-ddb, installed with Spark).
EMR_CONNECTOR_JAR = "/usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar"
#: Where bootstrap/ puts a connector jar given with --connector-jar.
STAGED_CONNECTOR_JAR = "/opt/ddbpipe/lib/emr-ddb-hadoop.jar"
BOOTSTRAP_ACTION_NAME = "ddbpipe-install"
BOOTSTRAP_SCRIPT = "install-ddbpipe.sh"
REQUIREMENTS_FILE = "requirements.txt"
JobKind = Literal["export", "import"]
JOB_FILES: dict[JobKind, str] = {"export": "export_table.py", "import": "import_table.py"}

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9\-]*\.[a-z0-9]+$")
_CLUSTER_ID = re.compile(r"^j-[A-Z0-9]{1,255}$")


def log_folder(uri: str) -> S3Uri:
    """``--log-uri`` as a folder; the bucket root is refused as the old service refused it."""
    parsed = S3Uri.parse(uri, "--log-uri")
    if not parsed.key:
        raise ConfigError(
            f"--log-uri {uri!r} is the root of bucket {parsed.bucket!r}; EMR logs need a folder "
            "(the old service refused the bucket root too).",
            f"Give a folder, e.g. --log-uri s3://{parsed.bucket}/logs/.",
        )
    return parsed


def folder_uri(uri: S3Uri) -> str:
    """``s3://bucket/prefix/`` with the trailing slash EMR expects of a LogUri."""
    return f"s3://{uri.bucket}/{uri.prefix}"


def resolve_instance_type(name: str) -> tuple[str, Optional[str]]:
    """The instance type to request, and a note when a retired m1/m3 type was mapped."""
    name = name.strip().lower()
    if not _INSTANCE_TYPE.match(name):
        raise ConfigError(f"--instance-type {name!r} is not an EC2 instance type.",
                          f"Give one like {DEFAULT_INSTANCE_TYPE}.")
    mapped = RETIRED_INSTANCE_TYPES.get(name)
    if mapped:
        return mapped, f"{name} is retired; using its current equivalent {mapped}."
    return name, None


def check_cluster_id(cluster_id: str) -> str:
    if not _CLUSTER_ID.match(cluster_id):
        raise ConfigError(f"--cluster-id {cluster_id!r} is not an EMR cluster id.",
                          "Give one like j-2AXXXXXXGAPLF (aws emr list-clusters --active).")
    return cluster_id


# --- the job -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    """One run of a job: its own argv (as the local command would pass it) and what sizing needs."""

    kind: JobKind
    args: tuple[str, ...]
    tables: tuple[str, ...]
    region: str
    percent: float = 0.5
    capacity: Optional[int] = None  # --read-capacity / --write-capacity when given
    creates_table: bool = False  # import --create-table: the target may not exist yet

    def __post_init__(self) -> None:
        if self.kind not in JOB_FILES:
            raise ValueError(f"unknown job kind {self.kind!r}")
        if not self.tables:
            raise ConfigError("No table given.", "Pass --table NAME.")
        for table in self.tables:
            check_table_name(table)
        if "--region" in self.args:
            raise ValueError("the region is added by JobSpec.argv(); leave it out of args")

    @property
    def job_file(self) -> str:
        return JOB_FILES[self.kind]

    @property
    def unit(self) -> str:
        return "RCU" if self.kind == "export" else "WCU"

    def argv(self) -> list[str]:
        """The job's arguments; the region is explicit so the cluster's default never applies."""
        return [*self.args, "--region", self.region]

    def describe(self) -> str:
        return f"{self.kind} {', '.join(self.tables)}"


# --- core node sizing ----------------------------------------------------------------------


@dataclass(frozen=True)
class TableCapacity:
    """The capacity a table's step will use: ``capacity`` units/s x ``percent``."""

    table: str
    capacity: int
    percent: float
    unit: str  # RCU | WCU
    source: str  # "provisioned", "--read-capacity", "on-demand default", ...


@dataclass(frozen=True)
class CoreSizing:
    count: int
    lines: tuple[str, ...]


def size_core_nodes(
    capacities: Sequence[TableCapacity],
    override: Optional[int] = None,
    units_per_core: int = UNITS_PER_CORE,
) -> CoreSizing:
    """Core nodes for a run, with the arithmetic spelled out for the dry run.

    One core node of the m3.xlarge class per ``units_per_core`` units of capacity x percent, at
    least one. The tables of a run are processed one after another, so the largest sets the size.
    """
    lines: list[str] = []
    needed = 1
    for cap in capacities:
        units = Decimal(cap.capacity) * Decimal(repr(cap.percent))  # no float rounding up
        ratio = units / units_per_core
        cores = max(1, math.ceil(ratio))
        lines.append(
            f"{cap.table}: {cap.capacity:,} {cap.unit} ({cap.source}) x {cap.percent:g} = "
            f"{_num(units)} units/s; {_num(units)} / {units_per_core:,} per core = "
            f"{_num(ratio.quantize(Decimal('0.01')))} -> {cores} core "
            f"node{'s' if cores > 1 else ''}"
        )
        needed = max(needed, cores)
    if len(capacities) > 1:
        lines.append(f"tables run one after another: the largest sets the size -> {needed}")
    if needed > MAX_AUTO_CORES:
        lines.append(f"capped at {MAX_AUTO_CORES} core nodes; pass --core-count for more")
        needed = MAX_AUTO_CORES
    if override is not None:
        if override < 1:
            raise ConfigError(f"--core-count {override} is not a node count.",
                              "Give a whole number >= 1.")
        lines.append(f"--core-count {override}" + (
            f" overrides the rule (which gives {needed})" if capacities else ""))
        needed = override
    elif not capacities:
        lines.append("no table capacity to size from: 1 core node (the minimum)")
    return CoreSizing(needed, tuple(lines))


def _num(value: Decimal) -> str:
    text = f"{value:,.2f}"
    return text[:-3] if text.endswith(".00") else text


# --- where the run's files go ---------------------------------------------------------------


def run_id(now: datetime, suffix: str) -> str:
    """``YYYYMMDD-HHMMSS-xxxxxx``: sorts by start time, unique with a random suffix."""
    return f"{now:%Y%m%d-%H%M%S}-{suffix}"


@dataclass(frozen=True)
class Staging:
    """The S3 folder holding a run's (or a schedule's) wheel, requirements, bootstrap and jobs."""

    prefix: S3Uri
    wheel_name: str
    connector_jar: Optional[str] = None  # an s3:// URI given with --connector-jar

    @property
    def wheelhouse_uri(self) -> str:
        """The folder of wheels the nodes install from with no index (see cluster/wheelhouse)."""
        return str(self.prefix.join(WHEELHOUSE_FOLDER)) + "/"

    @property
    def wheel_uri(self) -> str:
        return str(self.prefix.join(WHEELHOUSE_FOLDER, self.wheel_name))

    @property
    def requirements_uri(self) -> str:
        return str(self.prefix.join(WHEELHOUSE_FOLDER, REQUIREMENTS_FILE))

    @property
    def bootstrap_uri(self) -> str:
        return str(self.prefix.join("bootstrap", BOOTSTRAP_SCRIPT))

    def job_uri(self, kind: JobKind) -> str:
        return str(self.prefix.join("jobs", JOB_FILES[kind]))

    @property
    def reader_jar_uri(self) -> str:
        return str(self.prefix.join("lib", READER_JAR))


def run_staging(root: S3Uri, run: str, wheel_name: str,
                connector_jar: Optional[str] = None) -> Staging:
    """A run's files under the staging folder ``root`` (see :mod:`ddbpipe.cluster.places`)."""
    return Staging(places.run_folder(root, run), wheel_name, connector_jar)


def schedule_staging(root: S3Uri, name: str, wheel_name: str,
                     connector_jar: Optional[str] = None) -> Staging:
    return Staging(places.schedule_folder(root, name), wheel_name, connector_jar)


# --- pieces of the request ------------------------------------------------------------------


def bootstrap_action(staging: Staging, python: str = CLUSTER_PYTHON,
                     instance_type: str = DEFAULT_INSTANCE_TYPE) -> dict[str, Any]:
    """Install ddbpipe from the staged wheelhouse, built for the nodes' architecture."""
    args = ["--wheelhouse", staging.wheelhouse_uri, "--arch", architecture(instance_type),
            "--python", python]
    if staging.connector_jar:
        args += ["--connector-jar", staging.connector_jar]
    return {
        "Name": BOOTSTRAP_ACTION_NAME,
        "ScriptBootstrapAction": {"Path": staging.bootstrap_uri, "Args": args},
    }


def spark_submit_argv(job: JobSpec, job_uri: str, reader_jar: str, *,
                      connector_jar: str = EMR_CONNECTOR_JAR, python: str = CLUSTER_PYTHON,
                      deploy_mode: str = DEPLOY_MODE) -> list[str]:
    """spark-submit as an argv list: every value its own element, nothing split on spaces.
    ``--jars``: the connector, then ddbpipe's reader jar (an s3:// URI Spark fetches itself)."""
    return [
        "spark-submit",
        "--master", "yarn",
        "--deploy-mode", deploy_mode,
        "--jars", f"{connector_jar},{reader_jar}",
        "--conf", f"spark.pyspark.python={python}",
        "--conf", f"spark.pyspark.driver.python={python}",
        job_uri,
        *job.argv(),
    ]


def step(name: str, argv: Sequence[str], action_on_failure: str) -> dict[str, Any]:
    """An EMR step running ``argv`` through command-runner.jar."""
    return {
        "Name": name[:256],
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": COMMAND_RUNNER, "Args": list(argv)},
    }


def job_step(job: JobSpec, staging: Staging, action_on_failure: str,
             label: str = "", timeout_minutes: Optional[float] = None) -> dict[str, Any]:
    connector = STAGED_CONNECTOR_JAR if staging.connector_jar else EMR_CONNECTOR_JAR
    argv = runlimits.limited(
        spark_submit_argv(job, staging.job_uri(job.kind), staging.reader_jar_uri,
                          connector_jar=connector),
        timeout_minutes)
    name = f"ddbpipe {job.describe()}" + (f" ({label})" if label else "")
    return step(name, argv, action_on_failure)


def instance_groups(instance_type: str, core_count: int) -> list[dict[str, Any]]:
    return [
        {"Name": "Leader", "InstanceRole": "MASTER", "Market": "ON_DEMAND",
         "InstanceType": instance_type, "InstanceCount": 1},
        {"Name": "Core", "InstanceRole": "CORE", "Market": "ON_DEMAND",
         "InstanceType": instance_type, "InstanceCount": core_count},
    ]


def tags(extra: Sequence[tuple[str, str]] = ()) -> list[dict[str, str]]:
    pairs = [(TAG_KEY, TAG_VALUE), (EMR_MANAGED_POLICY_TAG, "true"), *extra]
    return [{"Key": k, "Value": v} for k, v in pairs]


@dataclass(frozen=True)
class ClusterOptions:
    """What the user chose about the cluster (the ``emr`` commands' cluster options)."""

    log_uri: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    core_count: Optional[int] = None
    release_label: str = RELEASE_LABEL
    service_role: str = SERVICE_ROLE
    instance_profile: str = INSTANCE_ROLE
    subnet_id: Optional[str] = None
    keep_cluster: bool = False
    idle_timeout_minutes: int = 60
    connector_jar: Optional[str] = None
    staging_uri: Optional[str] = None  # default: s3://<log bucket>/ddbpipe-staging/
    #: EMR-managed security groups as Instances fields, from ddbpipe.cluster.network.
    security_groups: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        places.staging_root(self.staging_uri, log_folder(self.log_uri))
        if not re.match(r"^emr-\d+\.\d+\.\d+$", self.release_label):
            raise ConfigError(f"--release-label {self.release_label!r} is not an EMR release.",
                              f"Give one like {RELEASE_LABEL}.")
        if not 1 <= self.idle_timeout_minutes <= 7 * 24 * 60:
            raise ConfigError(f"--idle-timeout {self.idle_timeout_minutes} is out of range.",
                              "Give minutes between 1 and 10080 (7 days).")
        if self.connector_jar is not None:
            S3Uri.parse(self.connector_jar, "--connector-jar")

    @property
    def log(self) -> S3Uri:
        return log_folder(self.log_uri)

    @property
    def staging_root(self) -> S3Uri:
        return places.staging_root(self.staging_uri, self.log)


def run_job_flow_request(
    *,
    name: str,
    options: ClusterOptions,
    instance_type: str,
    core_count: int,
    staging: Staging,
    steps: Sequence[dict[str, Any]],
    extra_tags: Sequence[tuple[str, str]] = (),
    configurations: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The RunJobFlow request: Spark, leader + core groups, bootstrap, steps, roles, tags."""
    instances: dict[str, Any] = {
        "InstanceGroups": instance_groups(instance_type, core_count),
        "KeepJobFlowAliveWhenNoSteps": options.keep_cluster,
        "TerminationProtected": False,
    }
    if options.subnet_id:
        instances["Ec2SubnetId"] = options.subnet_id
    instances.update(options.security_groups)
    request: dict[str, Any] = {
        "Name": name[:256],
        "LogUri": folder_uri(options.log),
        "ReleaseLabel": options.release_label,
        "Applications": [{"Name": "Spark"}],
        "Instances": instances,
        "BootstrapActions": [bootstrap_action(staging, instance_type=instance_type)],
        "Steps": list(steps),
        "StepConcurrencyLevel": 1,
        "ServiceRole": options.service_role,
        "JobFlowRole": options.instance_profile,
        "VisibleToAllUsers": True,
        "Tags": tags(extra_tags),
    }
    if configurations:
        request["Configurations"] = list(configurations)
    if options.keep_cluster:
        # A kept cluster still goes away once idle, so a forgotten one does not bill for days.
        request["AutoTerminationPolicy"] = {"IdleTimeout": options.idle_timeout_minutes * 60}
    return request


def add_job_flow_steps_request(cluster_id: str, steps: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"JobFlowId": check_cluster_id(cluster_id), "Steps": list(steps)}


# --- plans ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """Everything a run will do, decided before anything is touched (what --dry-run prints)."""

    run_id: str
    job: JobSpec
    staging: Staging
    log: S3Uri
    operation: str  # "RunJobFlow" | "AddJobFlowSteps"
    request: dict[str, Any]
    sizing: Optional[CoreSizing] = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    cluster_id: Optional[str] = None

    @property
    def creates_cluster(self) -> bool:
        return self.operation == "RunJobFlow"

    @property
    def uploads_wheel(self) -> bool:
        """A running cluster already has ddbpipe from its bootstrap; only the job file goes up."""
        return self.creates_cluster


def plan_run(
    job: JobSpec,
    options: ClusterOptions,
    *,
    run: str,
    wheel_name: str,
    capacities: Sequence[TableCapacity] = (),
    cluster_id: Optional[str] = None,
    timeout_minutes: Optional[float] = None,
) -> RunPlan:
    """A run on a new cluster (RunJobFlow), or steps added to ``cluster_id`` (AddJobFlowSteps).

    ``timeout_minutes`` limits the step on the cluster itself (:mod:`ddbpipe.cluster.runlimits`).
    """
    staging = run_staging(options.staging_root, run, wheel_name, options.connector_jar)
    if cluster_id:
        steps = [job_step(job, staging, "CONTINUE", run, timeout_minutes)]
        return RunPlan(run, job, staging, options.log, "AddJobFlowSteps",
                       add_job_flow_steps_request(cluster_id, steps), cluster_id=cluster_id)
    instance_type, note = resolve_instance_type(options.instance_type)
    sizing = size_core_nodes(capacities, options.core_count)
    # A cluster of its own goes away when the step fails; a kept one stays for inspection.
    on_failure = "CONTINUE" if options.keep_cluster else "TERMINATE_CLUSTER"
    steps = [job_step(job, staging, on_failure, timeout_minutes=timeout_minutes)]
    spark = executors.plan(instance_type, sizing.count)
    request = run_job_flow_request(
        name=f"ddbpipe {job.describe()} {run}", options=options, instance_type=instance_type,
        core_count=sizing.count, staging=staging, steps=steps, extra_tags=[(RUN_ID_TAG, run)],
        configurations=[spark.configuration()],
    )
    return RunPlan(run, job, staging, options.log, "RunJobFlow", request, sizing,
                   _notes(note, spark, timeout_minutes))


def plan_schedule(
    job: JobSpec,
    options: ClusterOptions,
    *,
    name: str,
    wheel_name: str,
    capacities: Sequence[TableCapacity] = (),
    timeout_minutes: Optional[float] = runlimits.DEFAULT_SCHEDULE_MINUTES,
) -> RunPlan:
    """The RunJobFlow request a schedule fires: same cluster, auto-terminating, no timestamp.

    The export job takes its run timestamp when it starts, so one request serves every run and
    each run still writes its own folder.
    """
    if options.keep_cluster:
        raise ConfigError("--keep-cluster makes no sense for a schedule: every run would leave "
                          "a cluster behind.", "Drop --keep-cluster.")
    staging = schedule_staging(options.staging_root, name, wheel_name, options.connector_jar)
    instance_type, note = resolve_instance_type(options.instance_type)
    sizing = size_core_nodes(capacities, options.core_count)
    steps = [job_step(job, staging, "TERMINATE_CLUSTER", timeout_minutes=timeout_minutes)]
    spark = executors.plan(instance_type, sizing.count)
    request = run_job_flow_request(
        name=f"ddbpipe {job.describe()} (schedule {name})", options=options,
        instance_type=instance_type, core_count=sizing.count, staging=staging, steps=steps,
        extra_tags=[(SCHEDULE_TAG, name)], configurations=[spark.configuration()],
    )
    return RunPlan(name, job, staging, options.log, "RunJobFlow", request, sizing,
                   _notes(note, spark, timeout_minutes))


def _notes(note: Optional[str], spark: executors.ExecutorPlan,
           timeout_minutes: Optional[float]) -> tuple[str, ...]:
    limit = (f"the step stops after {timeout_minutes:g} minutes on the cluster (timeout, then "
             "the cluster terminates)" if timeout_minutes else "the step has no time limit")
    return (*((note,) if note else ()), *(f"executors: {line}" for line in spark.lines), limit)
