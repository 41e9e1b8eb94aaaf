"""A real IAM policy evaluator for the policy tests: @cloud-copilot/iam-simulate under Node.

moto enforces identity policies only on action and resource ARN for S3, and not at all on
DynamoDB resources or condition keys such as ``s3:prefix`` (docs/decisions.md, "Least
privilege"); this evaluator implements IAM's policy logic (every condition operator, resource
ARNs checked against each action's resource types, context keys checked against each action's
condition keys from AWS's service reference). ``make node`` installs it into ``.cache/node-iam``
from ``deps/iam-eval``; it is a test tool and never ships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / ".cache/node-iam"
MODULE = INSTALL / "node_modules/@cloud-copilot/iam-simulate"
SCRIPT = Path(__file__).with_name("iam_eval.cjs")
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    context: Mapping[str, Union[str, list[str]]] = field(default_factory=dict)


def available() -> str:
    """Why the evaluator cannot run here, or "" when it can."""
    if not shutil.which("node"):
        return "node is not on PATH"
    if not (MODULE / "package.json").exists():
        return f"{MODULE} is missing: run `make node`"
    return ""


def evaluate(policy: Mapping[str, Any], requests: Sequence[Request],
             account: str = ACCOUNT) -> list[str]:
    """The decision for each request: "Allowed", "ImplicitlyDenied" or "ExplicitlyDenied".

    A request the evaluator rejects (an unknown action, a resource ARN of the wrong type for the
    action, a context key the action does not have) raises, so a test cannot pass on a typo.
    """
    why = available()
    if why:
        raise RuntimeError(f"IAM evaluator unavailable: {why}")
    payload = [{"policy": policy, "action": r.action, "resource": r.resource,
                "account": account, "context": dict(r.context)} for r in requests]
    proc = subprocess.run(["node", str(SCRIPT)], input=json.dumps(payload).encode(),
                          capture_output=True, timeout=120, check=False,
                          env={**os.environ, "DDBPIPE_IAM_EVAL_DIR": str(INSTALL)})
    if proc.returncode != 0:
        raise RuntimeError(f"iam-simulate failed: {proc.stderr.decode(errors='replace')}")
    results = json.loads(proc.stdout)
    decisions: list[str] = []
    for request, result in zip(requests, results):
        if result["errors"] or result["ignored"]:
            raise AssertionError(f"the evaluator rejected {request}: "
                                 f"{result['errors'] or result['ignored']}")
        decisions.append(str(result["decision"]))
    return decisions
