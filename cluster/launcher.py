"""Run a :class:`~ddbpipe.cluster.definition.RunPlan` on EMR: upload, launch, wait, report.

Clients are passed in (``emr``, ``s3``, ``iam``), never made here, so tests point them at moto
server and inject a clock. The waiter follows the Airflow/dagster models: named terminal state
sets, one status line per change, ``FailureDetails`` and the tail of the failed step's
``stderr.gz`` (from ``<LogUri>/<cluster-id>/steps/<step-id>/``) on failure, and on timeout or
Ctrl-C the run's active steps are cancelled and the cluster it created is terminated.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from ddbpipe import __version__
from ddbpipe.aws import error_code
from ddbpipe.cluster import definition as d
from ddbpipe.errors import (
    BucketError,
    ConfigError,
    DdbpipeError,
    EndpointUnreachable,
    JobFailed,
    PermissionDenied,
    QuotaExceeded,
    RoleMissing,
    TableNotFound,
    TimedOut,
)
from ddbpipe.s3uri import S3Uri

log = logging.getLogger(__name__)

#: Step states, as EMR names them.
ACTIVE_STEP = frozenset({"PENDING", "CANCEL_PENDING", "RUNNING"})
FAILED_STEP = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})
TERMINAL_STEP = FAILED_STEP | {"COMPLETED"}
#: Cluster states in which no further step will run.
ENDED_CLUSTER = frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"})
USABLE_CLUSTER = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})

ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
                           "UnauthorizedException", "Forbidden", "403"})
BAD_CREDENTIALS = frozenset({"UnrecognizedClientException", "InvalidClientTokenId",
                             "ExpiredToken", "ExpiredTokenException", "InvalidSignatureException",
                             "SignatureDoesNotMatch", "InvalidAccessKeyId"})
QUOTA = frozenset({"LimitExceeded", "LimitExceededException", "ServiceQuotaExceededException",
                   "InstanceLimitExceeded", "VcpuLimitExceeded", "TooManyClusters"})
INVALID = frozenset({"ValidationException", "InvalidRequestException"})
NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})

#: What to do when the cluster ended before its steps did, by StateChangeReason code.
CLUSTER_FIXES = {
    "VALIDATION_ERROR": "EMR refused the cluster as the message says. Usual causes: a missing role "
    "or instance profile (`ddbpipe iam setup`), a subnet without the tag "
    "for-use-with-amazon-emr-managed-policies=true (needed by EMR_DefaultRole_V2), or an EC2 "
    "quota (Service Quotas > EC2 > Running On-Demand Standard instances).",
    "INSTANCE_FAILURE": "EC2 could not provide the instances (capacity or quota): run again, try "
    "another --instance-type or --subnet-id, or raise the EC2 instance quota.",
    "INSTANCE_FLEET_TIMEOUT": "EC2 could not provide the instances in time: run again or try "
    "another --instance-type.",
    "BOOTSTRAP_FAILURE": "The bootstrap action failed on a node; its stderr is above.",
    "INTERNAL_ERROR": "EMR failed internally; run again.",
    "USER_REQUEST": "Someone terminated the cluster (console, CLI or another command).",
}


def _message(err: BaseException) -> str:
    response = getattr(err, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")).strip()


# --- the files a run needs -------------------------------------------------------------------

#: What a wheel build needs from the checkout; copied so no build/ or egg-info lands in it.
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg",
                  "setup.py", "ddbpipe", "cluster", "jobs")


def checkout_root() -> Path:
    from ddbpipe.localstack import project_root

    return project_root()


def predicted_wheel_name(version: str = __version__) -> str:
    return f"ddbpipe-{version}-py3-none-any.whl"


def build_wheel(root: Path, outdir: Path) -> Path:
    """``python -m build --wheel`` on a clean copy of the checkout; returns the wheel's path."""
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"{root} is not a ddbpipe checkout (no pyproject.toml).",
                          "Run ddbpipe emr from a checkout, or set DDBPIPE_HOME to one.")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ddbpipe-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        for name in SOURCE_ENTRIES:
            path = root / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=ignore)
            elif path.is_file():
                shutil.copy2(path, src / name)
        try:
            import build  # noqa: F401

            cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(src)]
        except ImportError:
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                   str(outdir), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise ConfigError(f"Building the ddbpipe wheel failed:\n{tail}",
                              "Fix the build (try `python -m build --wheel` in the checkout).")
    wheels = sorted(outdir.glob("ddbpipe-*.whl"))
    if len(wheels) != 1:
        raise ConfigError(f"Expected one ddbpipe wheel in {outdir}, found {len(wheels)}.", "")
    return wheels[0]


def wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def installed_requires() -> list[str]:
    import importlib.metadata

    try:
        return list(importlib.metadata.requires("ddbpipe") or [])
    except importlib.metadata.PackageNotFoundError:
        return ["boto3"]


def _packaging() -> Any:
    try:
        import packaging.requirements as requirements
    except ImportError:  # pip vendors it
        from pip._vendor.packaging import requirements  # type: ignore[no-redef]
    return requirements


def cluster_marker_env(python_version: str = "3.11") -> dict[str, str]:
    """PEP 508 marker values of the cluster's Python (Amazon Linux 2023, x86_64)."""
    return {
        "python_version": python_version, "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython", "implementation_version": f"{python_version}.0",
        "platform_python_implementation": "CPython", "os_name": "posix",
        "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
        "platform_release": "", "platform_version": "", "extra": "",
    }


def pinned_requirements(
    roots: Iterable[str],
    version_of: Optional[Callable[[str], str]] = None,
    requires_of: Optional[Callable[[str], Iterable[str]]] = None,
    python_version: str = "3.11",
) -> list[str]:
    """``NAME==VERSION`` for ``roots`` and everything they pull in, as installed here.

    The cluster gets exactly the versions this machine ran the tests with. Markers are evaluated
    for the cluster's Python; extras are not followed.
    """
    import importlib.metadata

    requirements = _packaging()
    version_of = version_of or importlib.metadata.version
    requires_of = requires_of or (lambda name: importlib.metadata.requires(name) or [])
    env = cluster_marker_env(python_version)
    pins: dict[str, str] = {}
    queue = list(roots)
    while queue:
        req = requirements.Requirement(queue.pop(0))
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        key = req.name.lower().replace("_", "-").replace(".", "-")
        if key in pins:
            continue
        try:
            version = version_of(req.name)
        except importlib.metadata.PackageNotFoundError as err:
            raise ConfigError(
                f"{req.name}, a dependency of ddbpipe, is not installed here, so it cannot be "
                "pinned for the cluster.",
                "Install ddbpipe with its dependencies first (pip install -e .).",
            ) from err
        pins[key] = version
        queue.extend(requires_of(req.name))
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def requirements_text(pins: Iterable[str]) -> str:
    lines = [f"# ddbpipe {__version__}: dependencies pinned as installed where the run started",
             *pins]
    return "\n".join(lines) + "\n"


def wheel_digest(wheel: Path) -> str:
    """sha256 of the wheel's file names and contents (zip timestamps left out)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class Upload:
    """One object the run puts in S3: from a local file, or generated bytes."""

    uri: str
    what: str  # shown by --dry-run
    path: Optional[Path] = None
    body: Optional[bytes] = None
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


def plan_uploads(plan: d.RunPlan, root: Path, *, wheel: Optional[Path] = None,
                 requirements: Optional[str] = None, for_dry_run: bool = False) -> list[Upload]:
    """The run's uploads. Without ``wheel``/``requirements`` (a dry run) they are described only."""
    job_path = root / "jobs" / plan.job.job_file
    if not job_path.is_file() and not for_dry_run:
        raise ConfigError(f"The job file {job_path} is missing from the checkout.",
                          "Run from a complete ddbpipe checkout (or set DDBPIPE_HOME).")
    uploads = []
    if plan.uploads_wheel:
        bootstrap = root / "bootstrap" / d.BOOTSTRAP_SCRIPT
        if not bootstrap.is_file() and not for_dry_run:
            raise ConfigError(f"The bootstrap script {bootstrap} is missing.",
                              "Run from a complete ddbpipe checkout (or set DDBPIPE_HOME).")
        if wheel is not None:
            uploads.append(Upload(plan.staging.wheel_uri, str(wheel), path=wheel,
                                  metadata={"ddbpipe-digest": wheel_digest(wheel)}))
        else:
            uploads.append(Upload(plan.staging.wheel_uri,
                                  f"wheel built from {root} with `python -m build --wheel`"))
        if requirements is not None:
            uploads.append(Upload(plan.staging.requirements_uri, "pinned requirements",
                                  body=requirements.encode(), content_type="text/plain"))
        else:
            uploads.append(Upload(plan.staging.requirements_uri,
                                  "ddbpipe's dependencies pinned as installed here"))
        uploads.append(Upload(plan.staging.bootstrap_uri, str(bootstrap), path=bootstrap,
                              content_type="text/x-shellscript"))
    uploads.append(Upload(plan.staging.job_uri(plan.job.kind), str(job_path), path=job_path,
                          content_type="text/x-python"))
    return uploads


def upload(s3: Any, uploads: Iterable[Upload], out: Optional[TextIO] = None) -> None:
    """Put every upload; a missing or unwritable bucket is told as such."""
    import botocore.exceptions

    for item in uploads:
        uri = S3Uri.parse(item.uri)
        body = item.body if item.body is not None else (item.path.read_bytes() if item.path
                                                        else None)
        if body is None:
            raise ValueError(f"nothing to upload for {item.uri}")
        try:
            s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body,
                          ContentType=item.content_type, Metadata=item.metadata)
        except botocore.exceptions.ClientError as err:
            code = error_code(err)
            if code in ("NoSuchBucket", "404"):
                raise BucketError(f"Bucket {uri.bucket!r} does not exist.",
                                  "Create it, or fix --log-uri (the run's files are staged "
                                  "under it).") from err
            if code in ACCESS_DENIED or code == "AllAccessDisabled":
                raise BucketError(f"Cannot write {item.uri} ({code}).",
                                  "Grant s3:PutObject on the log folder (`ddbpipe iam policy` "
                                  "prints a policy that does).") from err
            raise
        except botocore.exceptions.EndpointConnectionError as err:
            raise EndpointUnreachable(f"Cannot reach S3 ({err}).",
                                      "Fix --endpoint-url / AWS_ENDPOINT_URL_S3.") from err
        if out:
            print(f"uploaded {item.uri}", file=out)


# --- sizing from the tables ----------------------------------------------------------------


def table_capacities(ddb: Any, job: d.JobSpec, endpoint: Optional[str] = None
                     ) -> list[d.TableCapacity]:
    """The capacity each table's step will use, as the job will plan it."""
    from ddbpipe.capacity import capacity_for
    from ddbpipe.tables import describe

    kind = "read" if job.kind == "export" else "write"
    out = []
    for table in job.tables:
        if job.capacity is not None:  # the job will not look at the table either
            units, source = capacity_for(None, kind, job.capacity)
        else:
            try:
                units, source = capacity_for(describe(ddb, table, job.region, endpoint), kind)
            except TableNotFound:
                if not job.creates_table:
                    raise
                units, source = capacity_for(None, kind)
                source = f"to be created; {source}"
        out.append(d.TableCapacity(table, units, job.percent, job.unit, source))
    return out


# --- EMR calls -----------------------------------------------------------------------------


def has_pipeline_tag(request: dict[str, Any]) -> bool:
    return {"Key": d.TAG_KEY, "Value": d.TAG_VALUE} in request.get("Tags", [])


def explain_emr_error(err: BaseException, operation: str, request: Optional[dict[str, Any]] = None
                      ) -> Optional[DdbpipeError]:
    """A ddbpipe error naming the cause and the fix, chosen by the botocore error code."""
    code, message = error_code(err), _message(err)
    detail = f" ({code}: {message})" if message else f" ({code})"
    if code in ACCESS_DENIED:
        if operation == "RunJobFlow" and request is not None and not has_pipeline_tag(request):
            return PermissionDenied(
                f"EMR refused RunJobFlow{detail}: the request has no {d.TAG_KEY}={d.TAG_VALUE} "
                "tag, and the documented policy only lets tagged clusters through.",
                f"Add the tag {d.TAG_KEY}={d.TAG_VALUE} to the request (ddbpipe's own requests "
                "always carry it).",
            )
        roles = ""
        if request is not None and "ServiceRole" in request:
            roles = f" and iam:PassRole on {request['ServiceRole']} and {request['JobFlowRole']}"
        return PermissionDenied(
            f"EMR refused {operation}{detail}.",
            f"The request carries the tag {d.TAG_KEY}={d.TAG_VALUE}, so a policy that demands it "
            f"is met; the caller also needs elasticmapreduce:{operation}{roles}. "
            "`ddbpipe iam policy --table T --bucket B` prints a policy that grants them.",
        )
    if code in BAD_CREDENTIALS:
        return PermissionDenied(f"AWS did not accept the credentials{detail}.",
                                "Check AWS_PROFILE or the keys (`aws sts get-caller-identity`).")
    if code in QUOTA:
        return QuotaExceeded(
            f"{operation} hit an account quota{detail}.",
            "Terminate clusters you no longer need (`aws emr list-clusters --active`) or ask for "
            "a higher quota in Service Quotas (Amazon EMR; EC2 Running On-Demand Standard "
            "instances).",
        )
    if code in INVALID:
        return ConfigError(
            f"EMR rejected {operation}{detail}.",
            "If it names a role or instance profile, create them with `ddbpipe iam setup`; with "
            "EMR_DefaultRole_V2 the subnet (--subnet-id) and security groups must carry the tag "
            "for-use-with-amazon-emr-managed-policies=true; check --release-label and "
            "--instance-type against the message.",
        )
    return None


@contextmanager
def _emr_errors(operation: str, request: Optional[dict[str, Any]] = None) -> Iterator[None]:
    import botocore.exceptions

    try:
        yield
    except botocore.exceptions.ClientError as err:
        mapped = explain_emr_error(err, operation, request)
        if mapped is None:
            raise
        raise mapped from err
    except botocore.exceptions.EndpointConnectionError as err:
        raise EndpointUnreachable(f"Cannot reach EMR ({err}).",
                                  "Fix --endpoint-url / AWS_ENDPOINT_URL_EMR.") from err


def check_roles(iam: Any, service_role: str, instance_profile: str) -> None:
    """Fail before uploading when a role is missing; skip quietly when IAM may not be read."""
    import botocore.exceptions

    checks = [("role", service_role, lambda: iam.get_role(RoleName=service_role)),
              ("instance profile", instance_profile,
               lambda: iam.get_instance_profile(InstanceProfileName=instance_profile))]
    for kind, name, call in checks:
        try:
            call()
        except botocore.exceptions.ClientError as err:
            code = error_code(err)
            if code == "NoSuchEntity":
                raise RoleMissing(
                    f"The EMR {kind} {name!r} does not exist in this account.",
                    "Create the roles with `ddbpipe iam setup` (or name existing ones with "
                    "--service-role / --instance-profile).",
                ) from err
            if code in ACCESS_DENIED:
                log.debug("cannot check the %s %s (%s); EMR will", kind, name, code)
                return
            raise
        except botocore.exceptions.EndpointConnectionError:
            log.debug("IAM unreachable; EMR will check the roles")
            return


def start_cluster(emr: Any, request: dict[str, Any]) -> str:
    with _emr_errors("RunJobFlow", request):
        return str(emr.run_job_flow(**request)["JobFlowId"])


def add_steps(emr: Any, request: dict[str, Any]) -> list[str]:
    with _emr_errors("AddJobFlowSteps", request):
        return [str(s) for s in emr.add_job_flow_steps(**request)["StepIds"]]


def check_running_cluster(emr: Any, cluster_id: str, out: TextIO) -> dict[str, Any]:
    """A cluster to add steps to must be alive and have ddbpipe installed by our bootstrap."""
    with _emr_errors("DescribeCluster"):
        cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
        actions = emr.list_bootstrap_actions(ClusterId=cluster_id).get("BootstrapActions", [])
    state = cluster["Status"]["State"]
    if state not in USABLE_CLUSTER:
        raise ConfigError(f"Cluster {cluster_id} is {state}: it takes no more steps.",
                          "Drop --cluster-id to start a new cluster.")
    ours = [a for a in actions if a.get("Name") == d.BOOTSTRAP_ACTION_NAME]
    if not ours:
        raise ConfigError(
            f"Cluster {cluster_id} was not started by ddbpipe: it has no "
            f"{d.BOOTSTRAP_ACTION_NAME} bootstrap action, so ddbpipe is not on its nodes.",
            "Start one with `ddbpipe emr export|import ... --keep-cluster` and reuse its id, "
            "or drop --cluster-id.",
        )
    args = ours[0].get("Args", [])
    wheel = args[args.index("--wheel") + 1] if "--wheel" in args[:-1] else "its bootstrap"
    print(f"note: the steps run ddbpipe as installed on {cluster_id} from {wheel}; start a new "
          "cluster to run this checkout's code.", file=out)
    if {"Key": d.TAG_KEY, "Value": d.TAG_VALUE} not in cluster.get("Tags", []):
        print(f"warning: cluster {cluster_id} lacks the tag {d.TAG_KEY}={d.TAG_VALUE}; a policy "
              "conditioned on it will refuse the steps.", file=out)
    return dict(cluster)


# --- waiting -------------------------------------------------------------------------------


@dataclass
class RunHandle:
    """A run in flight: its cluster, its steps, where EMR writes the logs."""

    cluster_id: str
    step_ids: list[str]
    log: S3Uri
    owns_cluster: bool
    keep_cluster: bool = False

    def step_log_folder(self, step_id: str) -> S3Uri:
        return self.log.join(self.cluster_id, "steps", step_id)


def _fmt_elapsed(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _fmt_minutes(minutes: float) -> str:
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


@dataclass
class Monitor:
    """Polls a run to its end and says why it failed. Clock and sleep are injectable."""

    emr: Any
    s3: Any
    out: TextIO = field(default_factory=lambda: sys.stdout)
    poll_seconds: float = 30.0
    heartbeat_seconds: float = 300.0
    log_wait_seconds: float = 300.0
    #: After cancelling, how long the steps get to stop (the jobs clean up their partial output
    #: on the interrupt) before the cluster is terminated under them.
    cancel_grace_seconds: float = 120.0
    tail_lines: int = 40
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    # -- polling
    def poll(self, run: RunHandle) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        with _emr_errors("DescribeCluster"):
            cluster = self.emr.describe_cluster(ClusterId=run.cluster_id)["Cluster"]
            steps: dict[str, dict[str, Any]] = {}
            for start in range(0, len(run.step_ids), 10):
                ids = run.step_ids[start:start + 10]
                for page in self.emr.get_paginator("list_steps").paginate(
                        ClusterId=run.cluster_id, StepIds=ids):
                    for summary in page.get("Steps", []):
                        steps[summary["Id"]] = summary
        return cluster, steps

    @staticmethod
    def status_line(cluster: dict[str, Any], steps: dict[str, dict[str, Any]],
                    order: list[str]) -> str:
        parts = [f"cluster {cluster['Id']} {cluster['Status']['State']}"]
        for step_id in order:
            summary = steps.get(step_id)
            state = summary["Status"]["State"] if summary else "UNKNOWN"
            name = summary["Name"] if summary else step_id
            parts.append(f"{step_id} {name}: {state}")
        return " | ".join(parts)

    def wait(self, run: RunHandle, timeout_minutes: Optional[float] = None) -> dict[str, str]:
        """Wait for the run's steps; returns their states when all COMPLETED.

        Raises :class:`JobFailed` (with the report printed) when a step or the cluster fails,
        :class:`TimedOut` after ``timeout_minutes`` (active steps cancelled, own cluster
        terminated); on KeyboardInterrupt does the same clean-up and re-raises.
        """
        started = self.clock()
        last_line, last_print = "", started
        try:
            while True:
                cluster, steps = self.poll(run)
                now = self.clock()
                line = self.status_line(cluster, steps, run.step_ids)
                if line != last_line or now - last_print >= self.heartbeat_seconds:
                    self.say(f"[{_fmt_elapsed(now - started)}] {line}")
                    last_line, last_print = line, now
                states = {i: steps[i]["Status"]["State"] if i in steps else "UNKNOWN"
                          for i in run.step_ids}
                done = all(s in TERMINAL_STEP for s in states.values())
                ended = cluster["Status"]["State"] in ENDED_CLUSTER
                if done or ended:
                    self.check_outcome(run, cluster, steps, states, done)
                    return states
                if timeout_minutes is not None and now - started >= timeout_minutes * 60:
                    self.stop(run, f"timed out after {_fmt_minutes(timeout_minutes)}")
                    raise TimedOut(
                        f"Run on cluster {run.cluster_id} timed out after "
                        f"{_fmt_minutes(timeout_minutes)}; its steps were cancelled"
                        + (" and the cluster terminated." if run.owns_cluster
                           and not run.keep_cluster else "."),
                        "Give a longer --timeout, or more core nodes (--core-count) or a higher "
                        "--read-percent / --write-percent to finish sooner.",
                    )
                self.sleep(self.poll_seconds)
        except KeyboardInterrupt:
            with _ignore_sigint():
                self.stop(run, "interrupted")
            raise

    def check_outcome(self, run: RunHandle, cluster: dict[str, Any],
                      steps: dict[str, dict[str, Any]], states: dict[str, str],
                      done: bool) -> None:
        if all(s == "COMPLETED" for s in states.values()):
            self.say(f"done: {len(states)} step(s) completed on cluster {run.cluster_id}"
                     + ("; the cluster terminates by itself." if run.owns_cluster
                        and not run.keep_cluster else "."))
            return
        failed = [i for i in run.step_ids if states[i] == "FAILED"]
        reason = (cluster["Status"].get("StateChangeReason") or {}).get("Code")
        if not failed and (not done or reason not in (None, "ALL_STEPS_COMPLETED",
                                                      "STEP_FAILURE")):
            raise self.cluster_failure(run, cluster, steps)
        culprit = failed[0] if failed else next(i for i in run.step_ids
                                                if states[i] != "COMPLETED")
        raise self.step_failure(run, culprit, steps)

    # -- failure reports
    def list_steps_report(self, run: RunHandle, steps: dict[str, dict[str, Any]]) -> None:
        self.say(f"steps on cluster {run.cluster_id}:")
        for step_id in run.step_ids:
            summary = steps.get(step_id, {})
            state = summary.get("Status", {}).get("State", "UNKNOWN")
            self.say(f"  {step_id}  {state:<12} {summary.get('Name', '')}")

    def step_failure(self, run: RunHandle, step_id: str,
                     steps: dict[str, dict[str, Any]]) -> JobFailed:
        self.list_steps_report(run, steps)
        with _emr_errors("DescribeStep"):
            described = self.emr.describe_step(ClusterId=run.cluster_id, StepId=step_id)["Step"]
        status = described["Status"]
        details = status.get("FailureDetails") or {}
        name, state = described.get("Name", step_id), status["State"]
        self.say(f"step {step_id} ({name}) {state}")
        for key in ("Reason", "Message", "LogFile"):
            if details.get(key):
                self.say(f"  {key}: {details[key]}")
        folder = run.step_log_folder(step_id)
        tail = self.log_tail([folder.join("stderr.gz"), folder.join("stderr")])
        if tail is None:
            self.say(f"  stderr: not in {folder}/ yet (EMR copies step logs to S3 every few "
                     "minutes); look there later.")
        else:
            self.say(f"--- last {len(tail)} lines of {tail.source} ---")
            for text in tail.lines:
                self.say(f"  {text}")
            self.say("---")
        what = f"Step {name!r} ({step_id}) {state} on cluster {run.cluster_id}"
        if details.get("Reason"):
            what += f": {details['Reason']}"
        return JobFailed(what + ".", f"Its stderr is above; all its logs are in {folder}/.")

    def cluster_failure(self, run: RunHandle, cluster: dict[str, Any],
                        steps: dict[str, dict[str, Any]]) -> JobFailed:
        status = cluster["Status"]
        change = status.get("StateChangeReason") or {}
        code, message = change.get("Code", "UNKNOWN"), change.get("Message", "")
        self.say(f"cluster {run.cluster_id} {status['State']}: {code} {message}".rstrip())
        self.list_steps_report(run, steps)
        if code == "BOOTSTRAP_FAILURE":
            self.say_bootstrap_log(run)
        fix = CLUSTER_FIXES.get(code, f"See the cluster's logs in {run.log.join(run.cluster_id)}/.")
        return JobFailed(f"Cluster {run.cluster_id} ended {status['State']} before its steps "
                         f"finished ({code}{': ' + message if message else ''}).", fix)

    def say_bootstrap_log(self, run: RunHandle) -> None:
        folder = run.log.join(run.cluster_id, "node")
        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=folder.bucket, Prefix=folder.prefix):
                keys += [o["Key"] for o in page.get("Contents", [])
                         if "/bootstrap-actions/" in o["Key"] and o["Key"].endswith("stderr.gz")]
        except Exception as err:  # a report helper: say why and go on
            self.say(f"  (cannot list {folder}/: {err})")
        if not keys:
            self.say(f"  bootstrap stderr: not in {folder}/ yet; look there later.")
            return
        tail = self.log_tail([S3Uri(folder.bucket, sorted(keys)[0])])
        if tail:
            self.say(f"--- last {len(tail)} lines of {tail.source} ---")
            for text in tail.lines:
                self.say(f"  {text}")
            self.say("---")

    def log_tail(self, candidates: list[S3Uri]) -> Optional[LogTail]:
        """The last lines of the first candidate object that exists, waiting for EMR's upload."""
        import botocore.exceptions

        deadline = self.clock() + self.log_wait_seconds
        while True:
            for uri in candidates:
                try:
                    data = self.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
                except botocore.exceptions.ClientError as err:
                    if error_code(err) in NOT_FOUND:
                        continue
                    self.say(f"  (cannot read {uri}: {error_code(err)})")
                    return None
                if uri.key.endswith(".gz"):
                    with suppress(OSError, EOFError):  # not gzipped after all
                        data = gzip.decompress(data)
                lines = data.decode("utf-8", "replace").splitlines()[-self.tail_lines:]
                return LogTail(str(uri), lines)
            remaining = deadline - self.clock()
            if remaining <= 0:
                return None
            self.sleep(min(15.0, remaining))

    # -- stopping
    def stop(self, run: RunHandle, why: str) -> None:
        """Cancel the run's active steps; terminate the cluster when the run created it."""
        import botocore.exceptions

        self.say(f"{why}: stopping the run on cluster {run.cluster_id}")
        try:
            _, steps = self.poll(run)
            active = [i for i in run.step_ids
                      if steps.get(i, {}).get("Status", {}).get("State", "RUNNING") in ACTIVE_STEP]
        except (DdbpipeError, botocore.exceptions.BotoCoreError):
            active = list(run.step_ids)
        if active:
            try:
                self.emr.cancel_steps(ClusterId=run.cluster_id, StepIds=active,
                                      StepCancellationOption="SEND_INTERRUPT")
                self.say(f"cancelled step(s) {', '.join(active)}")
                self.await_steps_end(run, active)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
                self.say(f"could not cancel step(s) {', '.join(active)}: {error_code(err) or err}")
        if run.owns_cluster and not run.keep_cluster:
            try:
                self.emr.terminate_job_flows(JobFlowIds=[run.cluster_id])
                self.say(f"terminating cluster {run.cluster_id}")
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
                self.say(f"COULD NOT TERMINATE cluster {run.cluster_id} "
                         f"({error_code(err) or err}): run `aws emr terminate-clusters "
                         f"--cluster-ids {run.cluster_id}`")
        elif run.owns_cluster:
            self.say(f"kept cluster {run.cluster_id} (--keep-cluster); terminate it with "
                     f"`aws emr terminate-clusters --cluster-ids {run.cluster_id}`")

    def await_steps_end(self, run: RunHandle, step_ids: list[str]) -> None:
        deadline = self.clock() + self.cancel_grace_seconds
        while self.clock() < deadline:
            _, steps = self.poll(run)
            if all(steps.get(i, {}).get("Status", {}).get("State") in TERMINAL_STEP
                   for i in step_ids):
                return
            self.sleep(min(self.poll_seconds, max(0.0, deadline - self.clock())))


@dataclass(frozen=True)
class LogTail:
    source: str
    lines: list[str]

    def __len__(self) -> int:
        return len(self.lines)


@contextmanager
def _ignore_sigint() -> Iterator[None]:
    """A second Ctrl-C must not cut the clean-up short (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- a whole run ---------------------------------------------------------------------------


@dataclass
class Clients:
    emr: Any
    s3: Any
    iam: Any = None


def execute(plan: d.RunPlan, clients: Clients, uploads: list[Upload], monitor: Monitor,
            *, timeout_minutes: Optional[float] = None, wait: bool = True) -> RunHandle:
    """Check, upload, launch (or add the steps), then wait for the end."""
    if plan.creates_cluster:
        if clients.iam is not None:
            check_roles(clients.iam, plan.request["ServiceRole"], plan.request["JobFlowRole"])
    else:
        assert plan.cluster_id
        check_running_cluster(clients.emr, plan.cluster_id, monitor.out)
    upload(clients.s3, uploads)
    monitor.say(f"uploaded {len(uploads)} file(s) under {plan.staging.prefix}/")
    if plan.creates_cluster:
        cluster_id = start_cluster(clients.emr, plan.request)
        keep = bool(plan.request["Instances"]["KeepJobFlowAliveWhenNoSteps"])
        handle = RunHandle(cluster_id, [], plan.log, True, keep)
        try:  # from here on, Ctrl-C must not leave the new cluster running
            handle.step_ids = _step_ids(clients.emr, cluster_id)
            monitor.say(f"started cluster {cluster_id} ({plan.request['Name']})")
        except KeyboardInterrupt:
            with _ignore_sigint():
                monitor.stop(handle, "interrupted")
            raise
    else:
        assert plan.cluster_id
        step_ids = add_steps(clients.emr, plan.request)
        log_uri = _cluster_log(clients.emr, plan.cluster_id) or plan.log
        handle = RunHandle(plan.cluster_id, step_ids, log_uri, False, True)
        monitor.say(f"added step(s) {', '.join(step_ids)} to cluster {plan.cluster_id}")
    monitor.say(f"logs: {d.folder_uri(handle.log.join(handle.cluster_id))}")
    if wait:
        monitor.wait(handle, timeout_minutes)
    return handle


def _step_ids(emr: Any, cluster_id: str) -> list[str]:
    with _emr_errors("ListSteps"):
        ids = [s["Id"] for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id)
               for s in page.get("Steps", [])]
    return list(reversed(ids))  # ListSteps lists the newest first


def _cluster_log(emr: Any, cluster_id: str) -> Optional[S3Uri]:
    with _emr_errors("DescribeCluster"):
        uri = emr.describe_cluster(ClusterId=cluster_id)["Cluster"].get("LogUri")
    if not uri:
        return None
    return S3Uri.parse(uri.replace("s3n://", "s3://"), "the cluster's LogUri")
