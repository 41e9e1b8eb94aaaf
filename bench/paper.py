"""On paper: the same export on a real table of 1 TB provisioned at 40,000 RCU.

Every step is a row (what, formula, value) so the document shows the arithmetic. Two inputs come
from this run's measurements: how much larger an export line is than the item's DynamoDB size, and
how many bytes per second one export task moved here.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from bench.results import RunResults

TABLE_BYTES = 10**12  # 1 TB
RCU = 40_000
PERCENT = 0.5
UNITS_PER_CORE_NODE = 1_500  # the old rule of thumb: one m3.xlarge-class core node per 1,500
VCPUS_PER_NODE = 4  # m5.xlarge / m6g.xlarge, the current m3.xlarge class
BYTES_PER_RCU_S = 8 * 1024  # eventually consistent: two 4 KB reads per unit per second
SEGMENT_BYTES = 2**30
UNITS_PER_TASK = 100
ITEMS_PER_FILE = 100_000
ITEM_BYTES = 1024  # assumed average item size of the real table
PART_BYTES = 8 * 2**20


def _measured(results: RunResults) -> tuple[float, float, float]:
    """(export line bytes / item bytes, item bytes per second per task here, item bytes)."""
    rounds = results["main"]["rounds"] if "main" in results else []
    if not rounds:
        return 2.0, 0.0, 190.0
    exports = [r["export"] for r in rounds]
    ratio = statistics.median(e["bytes"] / (e["read_units"] * 2 * 4096) for e in exports)
    item_bytes = statistics.median(e["read_units"] * 2 * 4096 / e["items"] for e in exports)
    per_task = statistics.median(e["items_per_s_scan"] * item_bytes / e["tasks"]
                                 for e in exports)
    return ratio, per_task, item_bytes


def terabyte_export(results: RunResults) -> dict[str, Any]:
    line_ratio, task_bytes_s, bench_item = _measured(results)
    budget = RCU * PERCENT
    bytes_s = budget * BYTES_PER_RCU_S
    seconds = TABLE_BYTES / bytes_s
    nodes = math.ceil(budget / UNITS_PER_CORE_NODE)
    slots = nodes * VCPUS_PER_NODE
    tasks = min(slots, int(budget // UNITS_PER_TASK))
    by_size = math.ceil(TABLE_BYTES / SEGMENT_BYTES)
    by_rate = int(budget // UNITS_PER_TASK)
    wanted = max(by_size, by_rate, tasks)
    segments = math.ceil(wanted / tasks) * tasks
    per_task_units = budget / tasks
    per_task_bytes = per_task_units * BYTES_PER_RCU_S
    items = TABLE_BYTES / ITEM_BYTES
    files = math.ceil(items / ITEMS_PER_FILE)
    out_bytes = TABLE_BYTES * line_ratio
    rows = [
        ("table size", "1 TB", TABLE_BYTES, "bytes"),
        ("read budget", f"{RCU:,} RCU x {PERCENT}", budget, "RCU/s"),
        ("bytes per RCU", "eventually consistent: 2 x 4 KB per unit per second",
         BYTES_PER_RCU_S, "bytes/s"),
        ("read rate", f"{budget:,.0f} x {BYTES_PER_RCU_S:,}", bytes_s / 1e6, "MB/s"),
        ("duration", f"{TABLE_BYTES:.0e} / {bytes_s:,.0f}", seconds / 3600, "hours"),
        ("duration at 1.5 (max)", "same at read percent 1.5", seconds / 3 / 3600, "hours"),
        ("duration at 0.1 (min)", "same at read percent 0.1", seconds * 5 / 3600, "hours"),
        ("core nodes", f"ceil({budget:,.0f} / {UNITS_PER_CORE_NODE:,}) (m5.xlarge class)",
         nodes, "nodes"),
        ("task slots", f"{nodes} x {VCPUS_PER_NODE} vCPU", slots, "slots"),
        ("tasks", f"min({slots}, {budget:,.0f} / {UNITS_PER_TASK})", tasks, "tasks"),
        ("segments", f"max(ceil(1 TB / 1 GiB) = {by_size}, {budget:,.0f} / {UNITS_PER_TASK} = "
         f"{by_rate}, {tasks}), rounded up to a multiple of {tasks}", segments, "segments"),
        ("per task", f"{budget:,.0f} / {tasks}", per_task_units, "RCU/s"),
        ("per task bytes", f"{per_task_units:,.0f} x {BYTES_PER_RCU_S:,}", per_task_bytes / 1e6,
         "MB/s"),
        ("items", f"1 TB / {ITEM_BYTES} B (assumed average item)", items, "items"),
        ("data files", f"{items:.0e} / {ITEMS_PER_FILE:,}", files, "files"),
        ("export size", f"1 TB x {line_ratio:.2f} (export line / item bytes, measured here)",
         out_bytes / 1e12, "TB"),
        ("S3 multipart parts", f"{out_bytes / 1e12:.2f} TB / 8 MiB", out_bytes / PART_BYTES,
         "PUTs"),
    ]
    if task_bytes_s:
        needed = per_task_bytes / task_bytes_s
        rows.append(("task speed here", f"measured: item bytes/s per task ({bench_item:.0f} B "
                     "items, 2 tasks sharing 2 cores with dynalite)", task_bytes_s / 1e6,
                     "MB/s"))
        rows.append(("needed / seen", f"{per_task_bytes / 1e6:.2f} MB/s needed / "
                     f"{task_bytes_s / 1e6:.2f} MB/s seen here", needed, "x"))
    return {"rows": [{"what": w, "formula": f, "value": v, "unit": u} for w, f, v, u in rows],
            "hours": seconds / 3600, "nodes": nodes, "tasks": tasks, "segments": segments,
            "files": files, "line_ratio": line_ratio, "per_task_needed_mb_s": per_task_bytes / 1e6,
            "per_task_seen_mb_s": task_bytes_s / 1e6}
