"""CPU seconds by process group over one measured step, to see who uses the 2 cores.

Groups: dynalite, moto server, the benchmark process (Spark's Python driver and the limit clients'
threads), the JVM (Spark driver + executors in local mode), the JVM's Python children (partition
writers, PySpark workers; exited ones through the JVM's reaped-children times), subprocesses the
benchmark waited for (dynamodump), and everything else on the machine (other users: the noise).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Optional

from bench.results import (
    CPU_BENCH,
    CPU_DYNALITE,
    CPU_JVM,
    CPU_JVM_CHILDREN,
    CPU_MOTO,
    CPU_OTHERS,
    CPU_WAITED,
    CPU_WALL,
)


def _own(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _reaped(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.children_user + t.children_system)


@dataclass
class CpuMeter:
    dynalite_pid: int
    moto_pid: int
    jvm_pid: Optional[int] = None
    start: dict[str, float] = field(default_factory=dict)
    wall0: float = 0.0

    def snapshot(self) -> dict[str, float]:
        import psutil

        out: dict[str, float] = {}
        for name, pid in ((CPU_DYNALITE, self.dynalite_pid), (CPU_MOTO, self.moto_pid)):
            try:
                p = psutil.Process(pid)
                out[name] = _own(p) + _reaped(p) + sum(
                    _own(c) for c in p.children(recursive=True))
            except psutil.Error:
                out[name] = 0.0
        me = psutil.Process(os.getpid())
        out[CPU_BENCH] = _own(me)
        out[CPU_WAITED] = _reaped(me)
        out[CPU_JVM] = 0.0
        out[CPU_JVM_CHILDREN] = 0.0
        if self.jvm_pid:
            try:
                jvm = psutil.Process(self.jvm_pid)
                out[CPU_JVM] = _own(jvm)
                kids = _reaped(jvm)
                for child in jvm.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        kids += _own(child) + _reaped(child)
                out[CPU_JVM_CHILDREN] = kids
            except psutil.Error:
                pass
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        out["machine busy"] = float(sum(t) - idle)
        return out

    def begin(self) -> None:
        import time

        self.start = self.snapshot()
        self.wall0 = time.monotonic()

    def end(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`begin`, plus ``others`` and ``wall``."""
        import time

        stop = self.snapshot()
        delta = {k: max(0.0, stop[k] - self.start.get(k, 0.0)) for k in stop}
        ours = sum(v for k, v in delta.items() if k != "machine busy")
        delta[CPU_OTHERS] = max(0.0, delta["machine busy"] - ours)
        delta[CPU_WALL] = time.monotonic() - self.wall0
        return {k: round(v, 2) for k, v in delta.items()}


def find_jvm() -> Optional[int]:
    """The PID of the Spark JVM this process started (its ``java`` child)."""
    import psutil

    for child in psutil.Process(os.getpid()).children(recursive=False):
        try:
            if "java" in child.name():
                return int(child.pid)
        except psutil.Error:
            continue
    return None
