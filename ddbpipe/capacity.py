"""Capacity planning for the connector: segments, tasks and the Hadoop configuration.

The connector's own defaults are traps (design.md section 2): without ``dynamodb.throughput.read``
it plans as if the table had 1 RCU and reads an on-demand table with ONE segment on ONE task;
outside YARN it hangs asking for the cluster size. So ddbpipe resolves everything itself and sets
every key explicitly. The connector then gives each task ``floor(capacity x percent) / segments x
local segments`` units per second and spreads segments round-robin over
``min(dynamodb.max.map.tasks, floor(capacity x percent) / 100)`` tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from ddbpipe.checks import check_capacity, check_percent
from ddbpipe.tables import TableInfo

#: Read capacity assumed for an on-demand table when --read-capacity is not given: what a new
#: on-demand table serves at once without throttling (AWS: "up to 4,000 read request units").
ON_DEMAND_DEFAULT_RCU = 4000
#: Write capacity assumed for an on-demand table when --write-capacity is not given.
ON_DEMAND_DEFAULT_WCU = 4000
ON_DEMAND_SOURCE = "on-demand default"
#: The connector gives a task at most this many units of the budget (MIN_READ_THROUGHPUT_PER_MAP).
UNITS_PER_TASK = 100
MAX_BYTES_PER_SEGMENT = 1024**3
MAX_SEGMENTS = 1_000_000
#: A long scan is cut into up to this many splits per task, so a stopped export re-reads at most
#: one unfinished split per task on ``--resume`` (decisions.md, "Export resume").
MAX_SPLITS_PER_TASK = 8
#: ... but a split lasts at least this long at the planned rate: each split the connector starts
#: may read 5 s of its rate at once (RATE_CONTROLLER_WINDOW_SIZE_SEC), <= 5 % of 100 s.
MIN_SPLIT_SECONDS = 100.0

#: ddbpipe's input format (jvm/, built into ddbpipe-reader.jar): the connector's
#: DynamoDBInputFormat with each task's buffered Scan pages bounded in bytes, not 600 pages
#: (decisions.md, "Export memory is bounded by bytes, not by the table").
INPUT_FORMAT = "dev.ddbpipe.reader.BoundedDynamoDBInputFormat"
#: The jar holding it, built by `make setup` beside the resolved jars, staged for EMR runs.
READER_JAR = "ddbpipe-reader.jar"
#: The connector's own, which ``DDBPIPE_INPUT_FORMAT`` may name (the benchmark compares them).
CONNECTOR_INPUT_FORMAT = "org.apache.hadoop.dynamodb.read.DynamoDBInputFormat"
#: Scan pages a task holds, at most, in bytes on the wire (consumed read units x 8 KiB)...
READ_BUFFER_BYTES = 8 * 1024 * 1024
#: ... each Scan asking for about this many bytes of items (Limit = bytes / average item size).
READ_PAGE_BYTES = READ_BUFFER_BYTES // 64
#: The connector's read workers per task at most (AbstractReadManager.MAX_WORKER_COUNT): each
#: may hold one fetched page while it waits for room in the buffer.
READ_WORKERS = 30
ITEM_WRITABLE = "org.apache.hadoop.dynamodb.DynamoDBItemWritable"


def capacity_for(table: Optional[TableInfo], kind: str,
                 override: Optional[int] = None) -> tuple[int, str]:
    """The units/s a job plans with (``kind`` "read" or "write") and where they come from.

    ``override`` (--read-capacity / --write-capacity) wins; a provisioned table gives its own
    units; an on-demand table, or one not created yet (``None``), gets ddbpipe's on-demand default.
    """
    if kind not in ("read", "write"):
        raise ValueError(f"kind must be 'read' or 'write', not {kind!r}")
    if override is not None:
        return override, f"--{kind}-capacity"
    if table is not None:
        units = table.read_capacity if kind == "read" else table.write_capacity
        if not table.on_demand and units > 0:
            return units, "provisioned"
    return (ON_DEMAND_DEFAULT_RCU if kind == "read" else ON_DEMAND_DEFAULT_WCU), ON_DEMAND_SOURCE


def on_demand_note(table: str, kind: str, units: int, percent: float) -> str:
    """What the user is told when an on-demand table is planned with ddbpipe's default."""
    unit = "RCU" if kind == "read" else "WCU"
    return (f"{table} is on-demand: {kind}ing at {percent} x {units} {unit} (ddbpipe's "
            f"default); pass --{kind}-capacity to choose the rate.")


@dataclass(frozen=True)
class ReadPlan:
    """How one table is read: the capacity assumed, the budget, segments and tasks."""

    capacity: int
    capacity_source: str
    percent: float
    segments: int
    tasks: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: The connector's splits (Spark partitions); ``tasks`` of them run at once. 0: one a task.
    splits: int = 0

    @property
    def budget(self) -> int:
        """Read units per second for the whole job: floor(capacity x percent), at least 1."""
        return max(1, math.floor(self.capacity * self.percent))

    @property
    def split_count(self) -> int:
        return self.splits or self.tasks

    def told_capacity(self, running: int) -> int:
        """The read capacity to tell the connector so that ``running`` splits at once share the
        whole budget: it gives a split ``floor(capacity x percent) / segments x its segments``,
        i.e. 1/splits of what it is told."""
        return max(self.capacity, self.capacity * self.split_count // max(1, running))


def splits_per_task(table: TableInfo, budget: int) -> int:
    """How many splits each task reads one after another: enough that a stop loses little on
    resume, few enough that each lasts :data:`MIN_SPLIT_SECONDS` at the budget. From
    DescribeTable's size (DynamoDB updates it about every six hours: a new table says 0 and gets
    one split a task). ``DDBPIPE_SPLITS_PER_TASK`` sets the number (the resume tests use it)."""
    import os

    forced = os.environ.get("DDBPIPE_SPLITS_PER_TASK", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    scan_seconds = table.size_bytes / 4096 / 2 / max(1, budget)  # eventually consistent reads
    return max(1, min(MAX_SPLITS_PER_TASK, int(scan_seconds // MIN_SPLIT_SECONDS)))


def plan_read(
    table: TableInfo, percent: float, parallelism: int, read_capacity: Optional[int] = None
) -> ReadPlan:
    """Segments and tasks for reading ``table`` at ``percent`` with ``parallelism`` task slots."""
    check_percent(percent, "--read-percent")
    check_capacity(read_capacity, "--read-capacity")
    parallelism = max(1, parallelism)
    warnings: list[str] = []
    capacity, source = capacity_for(table, "read", read_capacity)
    if source == ON_DEMAND_SOURCE:
        warnings.append(on_demand_note(table.name, "read", capacity, percent))

    budget = max(1, math.floor(capacity * percent))
    tasks = max(1, min(parallelism, budget // UNITS_PER_TASK))
    if tasks == 1 and parallelism > 1:
        kind = "on-demand table" if table.on_demand else "table"
        warnings.append(
            f"{table.name}: {budget} read units/s fit one task (the connector gives a task "
            f">= {UNITS_PER_TASK} units), so this {kind} is scanned by one task; raise "
            "--read-capacity or --read-percent to spread the scan."
        )

    splits = tasks * splits_per_task(table, budget)
    by_size = math.ceil(table.size_bytes / MAX_BYTES_PER_SEGMENT) if table.size_bytes else 1
    by_rate = budget // UNITS_PER_TASK
    wanted = max(by_size, by_rate, splits)
    # A whole number of segments per split so every split gets the same share of the budget.
    segments = min(MAX_SEGMENTS, math.ceil(wanted / splits) * splits)
    return ReadPlan(capacity, source, percent, segments, tasks, tuple(warnings), splits)


def read_conf(
    table: TableInfo,
    plan: ReadPlan,
    *,
    endpoint: Optional[str],
    yarn: bool,
    credentials: Optional[tuple[str, str, Optional[str]]] = None,
    running: Optional[int] = None,
) -> dict[str, str]:
    """The connector's Hadoop configuration for reading ``table`` by ``plan``; nothing left to
    the connector's defaults. ``running``: how many splits run at once (``plan.tasks``; fewer
    when a resumed run has fewer left)."""
    running = plan.tasks if running is None else running
    conf = {
        "dynamodb.input.tableName": table.name,
        "dynamodb.region": table.region,
        "dynamodb.throughput.read": str(plan.told_capacity(running)),
        "dynamodb.throughput.read.percent": repr(plan.percent),
        "dynamodb.throughput.read.autoscaling": "false",
        "dynamodb.scan.segments": str(plan.segments),
        "dynamodb.max.map.tasks": str(plan.split_count),
        "dynamodb.table.size-bytes": str(table.size_bytes),
        "dynamodb.item.count": str(table.item_count),
        "dynamodb.item.average.size": repr(table.average_item_size),
        "dynamodb.yarn.enabled": "true" if yarn else "false",
        "ddbpipe.read.buffer.bytes": str(READ_BUFFER_BYTES),
        "ddbpipe.read.page.bytes": str(READ_PAGE_BYTES),
    }
    if endpoint:
        conf["dynamodb.endpoint"] = endpoint
    if credentials:
        access, secret, token = credentials
        conf["dynamodb.awsAccessKeyId"] = access
        conf["dynamodb.awsSecretAccessKey"] = secret
        if token:
            conf["dynamodb.awsSessionToken"] = token
    return conf
