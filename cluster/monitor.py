"""Wait for a run's steps and say why it failed, as the Airflow/dagster EMR waiters do.

Named terminal state sets, one status line per change (and a heartbeat), ``FailureDetails`` and
the tail of the failed step's ``stderr.gz`` (from ``<LogUri>/<cluster-id>/steps/<step-id>/``) on
failure, the bootstrap log when a node failed to bootstrap; on timeout or Ctrl-C the run's active
steps are cancelled and the cluster the run created is terminated. Clock and sleep are injected.
"""

from __future__ import annotations

import gzip
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, TextIO

from ddbpipe.aws import error_code
from ddbpipe.cluster.emr_errors import NOT_FOUND, emr_call
from ddbpipe.errors import DdbpipeError, JobFailed, TimedOut
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient
    from mypy_boto3_emr.type_defs import ClusterTypeDef, StepSummaryTypeDef
    from mypy_boto3_s3 import S3Client

    Steps = dict[str, StepSummaryTypeDef]  # by step id

#: Step states, as EMR names them.
ACTIVE_STEP = frozenset({"PENDING", "CANCEL_PENDING", "RUNNING"})
FAILED_STEP = frozenset({"FAILED", "CANCELLED", "INTERRUPTED"})
TERMINAL_STEP = FAILED_STEP | {"COMPLETED"}
#: Cluster states in which no further step will run.
ENDED_CLUSTER = frozenset({"TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"})
USABLE_CLUSTER = frozenset({"STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING"})

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

    emr: EMRClient
    s3: S3Client
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
    def poll(self, run: RunHandle) -> tuple[ClusterTypeDef, Steps]:
        with emr_call("DescribeCluster"):
            cluster = self.emr.describe_cluster(ClusterId=run.cluster_id)["Cluster"]
            steps: Steps = {}
            for start in range(0, len(run.step_ids), 10):
                ids = run.step_ids[start:start + 10]
                for page in self.emr.get_paginator("list_steps").paginate(
                        ClusterId=run.cluster_id, StepIds=ids):
                    for summary in page.get("Steps", []):
                        steps[summary["Id"]] = summary
        return cluster, steps

    @staticmethod
    def status_line(cluster: ClusterTypeDef, steps: Steps,
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
                states: dict[str, str] = {
                    i: steps[i]["Status"]["State"] if i in steps else "UNKNOWN"
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
            with ignore_sigint():
                self.stop(run, "interrupted")
            raise

    def check_outcome(self, run: RunHandle, cluster: ClusterTypeDef,
                      steps: Steps, states: dict[str, str],
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
    def list_steps_report(self, run: RunHandle, steps: Steps) -> None:
        self.say(f"steps on cluster {run.cluster_id}:")
        for step_id in run.step_ids:
            summary = steps.get(step_id, {})
            state = summary.get("Status", {}).get("State", "UNKNOWN")
            self.say(f"  {step_id}  {state:<12} {summary.get('Name', '')}")

    def step_failure(self, run: RunHandle, step_id: str,
                     steps: Steps) -> JobFailed:
        self.list_steps_report(run, steps)
        with emr_call("DescribeStep"):
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
            self.say_tail(tail)
        what = f"Step {name!r} ({step_id}) {state} on cluster {run.cluster_id}"
        if details.get("Reason"):
            what += f": {details['Reason']}"
        return JobFailed(what + ".", f"Its stderr is above; all its logs are in {folder}/.")

    def cluster_failure(self, run: RunHandle, cluster: ClusterTypeDef,
                        steps: Steps) -> JobFailed:
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
            self.say_tail(tail)

    def say_tail(self, tail: LogTail) -> None:
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
def ignore_sigint() -> Iterator[None]:
    """A second Ctrl-C must not cut the clean-up short (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
