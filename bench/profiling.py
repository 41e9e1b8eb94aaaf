"""Where the time goes: time breakdowns of the export and cProfile of the Python task paths.

* Export, JVM side: the same connector read as ``ddbpipe export`` (same plan, same Hadoop
  configuration) ending in ``count()`` (the connector's scan alone), then piped to ``wc -l``
  (scan + each item's export-line ``toString()`` + the pipe, no Python), against the full export
  (+ ``ddbpipe.export.partwriter``: size sampling and the S3 upload).
* Export, Python side: ``partwriter.write_partition`` on one real data file, under cProfile.
* Import: one task's ``importer.tasks.write`` (read from S3, parse, BatchWriter) on one data
  file, under cProfile; the BatchWriter's threads are profiled too (one profile per thread, merged).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional, TypeVar

from ddbpipe import capacity
from ddbpipe.aws import AwsConfig, client, frozen_credentials
from ddbpipe.tables import describe

T = TypeVar("T")


def connector_rdd(spark: Any, aws: AwsConfig, table: str, percent: float,
                  read_capacity: int, segments: Optional[int] = None) -> Any:
    """The connector's RDD of ``table`` as ``ddbpipe export`` plans and configures it (a JVM
    RDD of export lines); ``segments`` overrides the plan's segment count (an experiment)."""
    from ddbpipe.spark import connector_items, default_parallelism, is_yarn

    info = describe(client(aws, "dynamodb"), table, aws.region)
    plan = capacity.plan_read(info, percent, default_parallelism(spark), read_capacity)
    conf = capacity.read_conf(info, plan, endpoint=aws.endpoint("dynamodb"),
                              yarn=is_yarn(spark), credentials=frozen_credentials(aws))
    if segments is not None:
        conf["dynamodb.scan.segments"] = str(segments)
    return connector_items(spark, conf, plan.tasks)


def pipe_to(spark: Any, values: Any, command: list[str], env: dict[str, str]) -> list[str]:
    """Every partition of the JVM RDD ``values`` piped into ``command`` (as the export pipes
    into its partition writer); what the commands printed."""
    from ddbpipe.spark import java_list, java_map

    return [str(x) for x in values.pipe(java_list(spark, command), java_map(spark, env), False,
                                        1 << 16, "UTF-8").collect()]


def connector_read(spark: Any, aws: AwsConfig, table: str, percent: float,
                   read_capacity: int, mode: str,
                   segments: Optional[int] = None) -> tuple[int, float]:
    """Items and seconds of the connector's read of ``table`` ending in ``count`` or ``pipe``
    (to ``wc -l``)."""
    values = connector_rdd(spark, aws, table, percent, read_capacity, segments)
    started = time.monotonic()
    if mode == "count":
        items = int(values.count())
    elif mode == "pipe":
        items = sum(int(x.strip() or 0) for x in pipe_to(spark, values, ["wc", "-l"], {}))
    else:
        raise ValueError(mode)
    return items, time.monotonic() - started


@contextmanager
def _profile_threads(profiles: list[cProfile.Profile]) -> Iterator[None]:
    """Profile every thread started inside the block (cProfile sees only its own thread)."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile()
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        threading.Thread.run = original  # type: ignore[method-assign]


def profiled(fn: Callable[[], T]) -> tuple[T, float, pstats.Stats, pstats.Stats | None]:
    """Run ``fn``; (result, seconds, main-thread stats, merged stats of threads it started)."""
    threads: list[cProfile.Profile] = []
    main = cProfile.Profile()
    with _profile_threads(threads):
        started = time.monotonic()
        main.enable()
        try:
            result = fn()
        finally:
            main.disable()
        seconds = time.monotonic() - started
    main_stats = pstats.Stats(main, stream=io.StringIO())
    thread_stats = pstats.Stats(*threads, stream=io.StringIO()) if threads else None
    return result, seconds, main_stats, thread_stats


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    parts = filename.replace("\\", "/").split("/")
    for anchor in ("site-packages", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor):]
            break
    short = "/".join(parts[-2:]) if len(parts) > 1 else parts[-1]
    return f"{short}:{line}({name})"


def top(stats: pstats.Stats, count: int = 12) -> list[dict[str, Any]]:
    """The functions with most time spent in themselves (tottime)."""
    rows = []
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for key, (_cc, calls, tottime, cumtime, _callers) in raw.items():
        rows.append({"function": _label(key), "calls": calls, "tottime": tottime,
                     "cumtime": cumtime})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return rows[:count]


def cumulative(stats: pstats.Stats | None, *needles: str) -> float:
    """The largest cumulative time of a function whose label contains every needle."""
    if stats is None:
        return 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    best = 0.0
    for key, (_cc, _calls, _tt, cumtime, _callers) in raw.items():
        label = _label(key)
        if all(n in label for n in needles):
            best = max(best, cumtime)
    return best


def total_tottime(stats: pstats.Stats | None) -> float:
    if stats is None:
        return 0.0
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return float(sum(v[2] for v in raw.values()))
