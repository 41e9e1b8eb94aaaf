"""Peak memory of a ``ddbpipe export`` process tree, sampled with psutil every 0.2 s.

The export runs as its users run it (``.venv/bin/ddbpipe export``, endpoints from
``AWS_ENDPOINT_URL_*``). The sampler sums the RSS of the whole tree (the Python driver, its JVM
child, the Python workers and partition writers) and keeps the peak of each part. RSS of
different processes may share pages (libraries), so the sum over-counts a little; it is the
number a container limit would see, roughly. A process caught between ``vfork`` and ``exec``
(the JVM starts a partition writer through ``posix_spawn``) shares its parent's address space and
reports the parent's whole RSS: it is not counted (:func:`tree_memory`).
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.results import (
    MEM_DRIVER,
    MEM_EXECUTOR,
    MEM_JVM,
    MEM_OTHER,
    MEM_PARTWRITER,
    MEM_PYTHON_WORKER,
)

INTERVAL = 0.2


def _kind(proc: Any, root_pid: int) -> str:
    try:
        if proc.pid == root_pid:
            return MEM_DRIVER
        name = proc.name()
        cmd = " ".join(proc.cmdline())
    except Exception:
        return MEM_OTHER
    if "java" in name:
        return MEM_EXECUTOR if "CoarseGrainedExecutorBackend" in cmd else MEM_JVM
    if "partwriter" in cmd:
        return MEM_PARTWRITER
    if "python" in name:
        return MEM_PYTHON_WORKER
    return MEM_OTHER


@dataclass
class MemoryRun:
    command: list[str]
    seconds: float = 0.0
    returncode: int = 0
    peak_total: int = 0
    peak_by_kind: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    max_processes: int = 0
    series: list[tuple[float, int]] = field(default_factory=list)
    timed_out: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"command": self.command, "seconds": self.seconds,
                "returncode": self.returncode, "timed_out": self.timed_out,
                "peak_total_mb": self.peak_total / 2**20,
                "peak_by_kind_mb": {k: v / 2**20 for k, v in self.peak_by_kind.items()},
                "samples": self.samples, "max_processes": self.max_processes,
                "series_mb": [(round(t, 2), round(v / 2**20, 1)) for t, v in self.series]}


@dataclass(frozen=True)
class Sample:
    """One process's memory at one moment."""

    pid: int
    ppid: int
    rss: int
    vms: int
    kind: str


def tree_memory(samples: list[Sample]) -> tuple[int, dict[str, int]]:
    """(total RSS, RSS by kind) of a process tree. A child whose RSS and virtual size both equal
    its parent's is a ``vfork`` child not yet exec'd: the parent's memory, seen twice. Counting
    it made a 1.3 GB export peak at 2.6 GB in one sample."""
    by_pid = {s.pid: s for s in samples}
    total = 0
    kinds: dict[str, int] = {}
    for s in samples:
        parent = by_pid.get(s.ppid)
        if parent is not None and (s.rss, s.vms) == (parent.rss, parent.vms):
            continue
        total += s.rss
        kinds[s.kind] = kinds.get(s.kind, 0) + s.rss
    return total, kinds


def _kill_tree(pid: int) -> None:
    """Stop the process we started and its descendants, by PID (children first)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in tree:
        try:
            proc.kill()
        except psutil.Error:
            continue


def run_sampled(command: list[str], env: dict[str, str], log: Path,
                cwd: Path | None = None, timeout: float = 900.0,
                also: tuple[int, ...] = ()) -> MemoryRun:
    """Run ``command`` to the end (killed after ``timeout`` s), sampling the RSS of its process
    tree every 0.2 s; with the descendants of the processes ``also`` names (a Spark worker,
    whose executors serve the command) counted in the tree."""
    import psutil

    result = MemoryRun(command)
    started = time.monotonic()
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(command) + "\n").encode())
        out.flush()
        proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        done = threading.Event()

        def sample() -> None:
            root = psutil.Process(proc.pid)
            others = [psutil.Process(pid) for pid in also]
            while not done.is_set():
                try:
                    tree = [root, *root.children(recursive=True)]
                except psutil.NoSuchProcess:
                    break
                for other in others:
                    try:
                        tree += other.children(recursive=True)
                    except psutil.NoSuchProcess:
                        continue
                samples = []
                for p in tree:
                    try:
                        info = p.memory_info()
                        ppid = p.ppid()
                    except psutil.Error:
                        continue
                    samples.append(Sample(p.pid, ppid, int(info.rss), int(info.vms),
                                          _kind(p, proc.pid)))
                total, kinds = tree_memory(samples)
                result.samples += 1
                result.max_processes = max(result.max_processes, len(tree))
                result.series.append((time.monotonic() - started, total))
                result.peak_total = max(result.peak_total, total)
                for kind, rss in kinds.items():
                    result.peak_by_kind[kind] = max(result.peak_by_kind.get(kind, 0), rss)
                done.wait(INTERVAL)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            result.returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            result.returncode = proc.wait()
            result.timed_out = True
        done.set()
        sampler.join(timeout=5)
    result.seconds = time.monotonic() - started
    return result
