"""Run a :class:`~ddbpipe.cluster.definition.RunPlan` on EMR: check, upload, launch, wait.

The orchestration of one run: the roles or the running cluster are checked, the staged files
(:mod:`ddbpipe.cluster.staging`) uploaded, the cluster started or the steps added, and the
:class:`~ddbpipe.cluster.monitor.Monitor` waits for the end. Clients are passed in (``emr``,
``s3``, ``iam``), never made here, so tests point them at moto server and inject a clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, TextIO

from ddbpipe.aws import error_code
from ddbpipe.cluster import definition as d
from ddbpipe.cluster.emr_errors import ACCESS_DENIED, emr_call
from ddbpipe.cluster.monitor import USABLE_CLUSTER, Monitor, RunHandle, ignore_sigint
from ddbpipe.cluster.staging import Upload, upload
from ddbpipe.errors import ConfigError, RoleMissing
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_emr import EMRClient
    from mypy_boto3_emr.type_defs import ClusterTypeDef
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)


def check_roles(iam: IAMClient, service_role: str, instance_profile: str) -> None:
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


def start_cluster(emr: EMRClient, request: dict[str, Any]) -> str:
    with emr_call("RunJobFlow", request):
        return str(emr.run_job_flow(**request)["JobFlowId"])


def add_steps(emr: EMRClient, request: dict[str, Any]) -> list[str]:
    with emr_call("AddJobFlowSteps", request):
        return [str(s) for s in emr.add_job_flow_steps(**request)["StepIds"]]


def check_running_cluster(emr: EMRClient, cluster_id: str, out: TextIO) -> ClusterTypeDef:
    """A cluster to add steps to must be alive and have ddbpipe installed by our bootstrap."""
    with emr_call("DescribeCluster"):
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
    flag = next((f for f in ("--wheelhouse", "--wheel") if f in args[:-1]), None)
    wheel = args[args.index(flag) + 1] if flag else "its bootstrap"
    print(f"note: the steps run ddbpipe as installed on {cluster_id} from {wheel}; start a new "
          "cluster to run this checkout's code.", file=out)
    if {"Key": d.TAG_KEY, "Value": d.TAG_VALUE} not in cluster.get("Tags", []):
        print(f"warning: cluster {cluster_id} lacks the tag {d.TAG_KEY}={d.TAG_VALUE}; a policy "
              "conditioned on it will refuse the steps.", file=out)
    return cluster


@dataclass
class Clients:
    """The clients a run uses; without ``iam`` the roles are left for EMR to check."""

    emr: EMRClient
    s3: S3Client
    iam: Optional[IAMClient] = None


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
            with ignore_sigint():
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


def _step_ids(emr: EMRClient, cluster_id: str) -> list[str]:
    with emr_call("ListSteps"):
        ids = [s["Id"] for page in emr.get_paginator("list_steps").paginate(ClusterId=cluster_id)
               for s in page.get("Steps", [])]
    return list(reversed(ids))  # ListSteps lists the newest first


def _cluster_log(emr: EMRClient, cluster_id: str) -> Optional[S3Uri]:
    with emr_call("DescribeCluster"):
        uri = emr.describe_cluster(ClusterId=cluster_id)["Cluster"].get("LogUri")
    if not uri:
        return None
    return S3Uri.parse(uri.replace("s3n://", "s3://"), "the cluster's LogUri")
