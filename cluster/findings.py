"""The result of one pre-flight check: ok, a gap (with the one command that fixes it), or unknown.

The checks (:mod:`ddbpipe.cluster.network`, :mod:`ddbpipe.cluster.doctor`) return these and
print nothing; ``ddbpipe emr doctor`` prints one line per finding, and ``ddbpipe emr
export|import`` refuses with the first gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal, Optional

from ddbpipe.errors import DdbpipeError

Status = Literal["ok", "gap", "unknown"]


class PreflightGap(DdbpipeError):
    """A check before RunJobFlow found something that would stop the cluster or its step."""


@dataclass(frozen=True)
class Finding:
    """``check`` is what was looked at; ``detail`` what was found; ``fix`` the command for a gap.

    ``unknown``: the check could not be made (no permission to read, an API the endpoint does
    not serve); it never stops a run, and the doctor shows it.
    """

    check: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {"ok": "ok ", "gap": "GAP", "unknown": "?? "}[self.status]
        text = f"{mark} {self.check}: {self.detail}"
        return f"{text} Fix: {self.fix}" if self.fix else text


def ok(check: str, detail: str) -> Finding:
    return Finding(check, "ok", detail)


def gap(check: str, detail: str, fix: str) -> Finding:
    return Finding(check, "gap", detail, fix)


def unknown(check: str, detail: str) -> Finding:
    return Finding(check, "unknown", detail)


def first_gap(findings: Iterable[Finding]) -> Optional[Finding]:
    return next((f for f in findings if f.status == "gap"), None)


def raise_first_gap(findings: Iterable[Finding], skip_hint: str = "") -> None:
    """Refuse with the first gap as the one-line error."""
    found = first_gap(findings)
    if found is not None:
        fix = f"{found.fix}{' ' + skip_hint if skip_hint else ''}"
        raise PreflightGap(f"{found.check}: {found.detail}", f"Fix: {fix}")
