"""Throttled runs through the capacity proxy (tests/support/capacity_proxy.py).

dynalite never throttles; the proxy in front of it meters consumed units per table and second by
DynamoDB's rules and throttles each table to its provisioned capacity. An export at read percent
p of a table provisioned with C RCU should consume p x C units per second in its steady part; an
import at write percent p, p x C WCU.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Seconds dropped at each end of a run's traffic before taking the steady-state median.
EDGE_SECONDS = 2


@dataclass
class ThrottledRun:
    what: str  # export | import
    table: str
    capacity: int
    percent: float
    items: int
    seconds: float
    ddbpipe_units: float
    ddbpipe_achieved_percent: float
    series: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> ThrottledRun:
        """A run back from what :meth:`as_dict` saved (the summarizer draws its chart)."""
        return cls(saved["what"], saved["table"], saved["capacity"], saved["percent"],
                   saved["items"], saved["seconds"], saved["ddbpipe_units"],
                   saved["ddbpipe_achieved_percent"], list(saved["series"]))

    @property
    def target(self) -> float:
        return self.capacity * self.percent

    @property
    def units_key(self) -> str:
        return "read_units" if self.what == "export" else "write_units"

    def active(self) -> list[dict[str, Any]]:
        """Rows from the first to the last second with traffic."""
        busy = [i for i, r in enumerate(self.series) if r[self.units_key] > 0]
        return self.series[busy[0]:busy[-1] + 1] if busy else []

    def steady(self) -> list[dict[str, Any]]:
        rows = self.active()
        return rows[EDGE_SECONDS:len(rows) - EDGE_SECONDS] if len(rows) > 2 * EDGE_SECONDS \
            else rows

    @property
    def steady_median(self) -> float:
        rows = self.steady()
        return statistics.median(r[self.units_key] for r in rows) if rows else 0.0

    @property
    def proxy_total_units(self) -> float:
        return sum(r[self.units_key] for r in self.series)

    @property
    def throttled(self) -> int:
        return int(sum(r.get("throttled", 0) for r in self.series))

    def as_dict(self) -> dict[str, Any]:
        return {"what": self.what, "table": self.table, "capacity": self.capacity,
                "percent": self.percent, "target_units_per_s": self.target,
                "items": self.items, "seconds": self.seconds,
                "active_seconds": len(self.active()), "steady_seconds": len(self.steady()),
                "steady_median_units_per_s": self.steady_median,
                "steady_median_ratio": self.steady_median / self.target if self.target else 0,
                "proxy_total_units": self.proxy_total_units, "proxy_throttled": self.throttled,
                "ddbpipe_units": self.ddbpipe_units,
                "ddbpipe_achieved_percent": self.ddbpipe_achieved_percent,
                "series": self.series}


def title(run: ThrottledRun) -> str:
    unit = "RCU" if run.what == "export" else "WCU"
    verb = "read" if run.what == "export" else "write"
    return (f"ddbpipe {run.what}, {verb} percent {run.percent} of {run.capacity} {unit} "
            "(capacity proxy, per second)")


def require_charts() -> None:
    """Raises ImportError when matplotlib (the bench extra) is not installed."""
    import matplotlib  # noqa: F401


def chart(run: ThrottledRun, path: Path, title: str) -> None:
    """A small PNG: consumed units per second, the target line and the provisioned capacity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = run.active()
    if not rows:
        return
    t0 = rows[0]["second"]
    xs = [r["second"] - t0 for r in rows]
    ys = [r[run.units_key] for r in rows]
    xs.append(xs[-1] + 1)  # the last second drawn to its end
    ys.append(ys[-1])
    unit = "RCU" if run.what == "export" else "WCU"
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
    ax.step(xs, ys, where="post", color="#1f77b4", label=f"consumed {unit}/s (proxy)")
    ax.axhline(run.target, color="#d62728", linestyle="--",
               label=f"target {run.percent} x {run.capacity} = {run.target:g}")
    ax.axhline(run.capacity, color="#7f7f7f", linestyle=":",
               label=f"provisioned {run.capacity}")
    steady = run.steady()
    if steady and len(steady) < len(rows):
        ax.axvspan(steady[0]["second"] - t0, steady[-1]["second"] - t0 + 1, color="#2ca02c",
                   alpha=0.08, label=f"steady part: median {run.steady_median:g}")
    ax.set_xlabel("seconds")
    ax.set_ylabel(f"{unit} per second")
    ax.set_ylim(0, max(max(ys), run.capacity) * 1.15)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower center", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def wait_quiet(seconds: float = 1.1) -> None:
    """Let the proxy's current second close so a run's rows do not mix with setup traffic."""
    time.sleep(seconds)
