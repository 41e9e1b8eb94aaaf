"""A RunJobFlow / AddJobFlowSteps request as the equivalent ``aws emr`` command line.

``--dry-run`` prints it for review, so a user can see (and run) exactly what ddbpipe would ask
for. The AWS CLI hides ``run-job-flow`` behind ``create-cluster`` with its own option names; a
request field the translation does not know is refused rather than silently dropped.
"""

from __future__ import annotations

import json
import shlex
from typing import Any, Optional, Sequence

_CLI_TOP = {"Name", "LogUri", "ReleaseLabel", "Applications", "Instances", "BootstrapActions",
            "Steps", "StepConcurrencyLevel", "ServiceRole", "JobFlowRole", "VisibleToAllUsers",
            "Tags", "AutoTerminationPolicy", "Configurations"}
#: Instances fields that `create-cluster --ec2-attributes` takes under the same name.
_CLI_EC2_ATTRIBUTES = ("EmrManagedMasterSecurityGroup", "EmrManagedSlaveSecurityGroup",
                       "ServiceAccessSecurityGroup")
_CLI_INSTANCES = {"InstanceGroups", "KeepJobFlowAliveWhenNoSteps", "TerminationProtected",
                  "Ec2SubnetId", *_CLI_EC2_ATTRIBUTES}


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _cli_steps(steps: Sequence[dict[str, Any]]) -> str:
    return _compact([
        {"Type": "CUSTOM_JAR", "Name": s["Name"], "ActionOnFailure": s["ActionOnFailure"],
         "Jar": s["HadoopJarStep"]["Jar"], "Args": s["HadoopJarStep"]["Args"]}
        for s in steps
    ])


def create_cluster_cli(request: dict[str, Any], region: Optional[str] = None) -> list[str]:
    """``aws emr create-cluster`` argv that sends ``request``; refuses keys it cannot carry."""
    unknown = set(request) - _CLI_TOP
    unknown |= {f"Instances.{k}" for k in set(request["Instances"]) - _CLI_INSTANCES}
    if unknown:
        raise ValueError(f"no create-cluster option for {sorted(unknown)}")
    inst = request["Instances"]
    groups = [
        {"Name": g["Name"], "InstanceGroupType": g["InstanceRole"],
         "InstanceType": g["InstanceType"], "InstanceCount": g["InstanceCount"]}
        for g in inst["InstanceGroups"]
    ]
    if any(g.get("Market", "ON_DEMAND") != "ON_DEMAND" for g in inst["InstanceGroups"]):
        raise ValueError("only on-demand instance groups are translated")
    ec2: dict[str, Any] = {"InstanceProfile": request["JobFlowRole"]}
    if "Ec2SubnetId" in inst:
        ec2["SubnetId"] = inst["Ec2SubnetId"]
    ec2.update({k: inst[k] for k in _CLI_EC2_ATTRIBUTES if k in inst})
    bootstrap = [
        {"Name": b["Name"], "Path": b["ScriptBootstrapAction"]["Path"],
         "Args": b["ScriptBootstrapAction"]["Args"]}
        for b in request["BootstrapActions"]
    ]
    argv = ["aws", "emr", "create-cluster"]
    if region:
        argv += ["--region", region]
    argv += [
        "--name", request["Name"],
        "--release-label", request["ReleaseLabel"],
        "--applications", _compact(request["Applications"]),
        "--log-uri", request["LogUri"],
        "--service-role", request["ServiceRole"],
        "--ec2-attributes", _compact(ec2),
        "--instance-groups", _compact(groups),
        "--bootstrap-actions", _compact(bootstrap),
        "--steps", _cli_steps(request["Steps"]),
        "--step-concurrency-level", str(request["StepConcurrencyLevel"]),
        "--tags", *[f"{t['Key']}={t['Value']}" for t in request["Tags"]],
        "--no-auto-terminate" if inst["KeepJobFlowAliveWhenNoSteps"] else "--auto-terminate",
        "--termination-protected" if inst["TerminationProtected"] else "--no-termination-protected",
        "--visible-to-all-users" if request["VisibleToAllUsers"] else "--no-visible-to-all-users",
    ]
    if "AutoTerminationPolicy" in request:
        argv += ["--auto-termination-policy", _compact(request["AutoTerminationPolicy"])]
    if "Configurations" in request:
        argv += ["--configurations", _compact(request["Configurations"])]
    return argv


def add_steps_cli(request: dict[str, Any], region: Optional[str] = None) -> list[str]:
    argv = ["aws", "emr", "add-steps"]
    if region:
        argv += ["--region", region]
    return [*argv, "--cluster-id", request["JobFlowId"], "--steps", _cli_steps(request["Steps"])]


def format_command(argv: Sequence[str]) -> str:
    """A shell command, one option per line, every word quoted for a POSIX shell."""
    head_end = next((i for i, a in enumerate(argv) if a.startswith("--")), len(argv))
    lines = [shlex.join(argv[:head_end])]
    current: list[str] = []
    for word in argv[head_end:]:
        if word.startswith("--") and current:
            lines.append(shlex.join(current))
            current = []
        current.append(word)
    if current:
        lines.append(shlex.join(current))
    return " \\\n    ".join(lines)
