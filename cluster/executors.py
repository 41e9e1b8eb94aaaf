"""Spark executor sizing for the EMR cluster: the ``spark-defaults`` the RunJobFlow request carries.

Pure: :func:`plan` turns the instance type and the core-node count into executor cores, heap,
overhead, executor count, parallelism and the driver's heap, with the arithmetic as text for the
dry run. The numbers (docs/decisions.md, "Executor sizing on EMR"):

* ddbpipe's input format (jvm/, ``BoundedDynamoDBInputFormat``) holds at most
  :data:`~ddbpipe.capacity.READ_BUFFER_BYTES` (8 MiB) of Scan pages per task, counted on the wire
  (consumed read units x 8 KiB), plus one page of about
  :data:`~ddbpipe.capacity.READ_PAGE_BYTES` (128 KiB) in each of the connector's read workers
  waiting for room (at most 30): 11.75 MiB of items. (The connector's own buffer, 600 pages of up
  to 200 KiB, needed 2,344 MiB a task.)
* Decoded as SDK v2 objects, small items take about :data:`OBJECT_FACTOR` times their wire size
  (measured: 914 MB live heap after GC for 200,000 items of ~188 B, 37.6 MB on the wire).
* So one task may hold 11.75 MiB x 20 = 235 MiB of heap; an executor gets that per core,
  plus :data:`EXECUTOR_BASE_MB` for Spark itself; its YARN container adds the overhead (10 %,
  at least 384 MiB, as Spark computes it) and :data:`PYTHON_PER_TASK_MB` per task for the task's
  Python process (partition writer or PySpark worker), which YARN counts in the container.
* A heap stays under 31 GiB, where the JVM still compresses object pointers.
* Every node keeps room for the YARN application master of a client-mode job
  (``spark.yarn.am.memory`` 512 MiB + 384 MiB), since YARN may place it on any core node.
* An executor commits and touches its whole heap when it starts, with a fixed young generation
  of half its heap beyond the buffers (:func:`young_mb`, :func:`heap_java_options`):
  the heap is sized for its tasks' buffers, which any table of more than a few buffers' worth
  of items fills, and YARN reserves it for the container anyway, so the executor's memory is
  the same from its first second whatever the table (docs/decisions.md, "Export memory is
  bounded by bytes").

Of the layouts that fit the node's YARN memory and vCPUs, the one with the most tasks wins, then
the one with fewer, larger executors. Dynamic allocation is off and ``spark.default.parallelism``
is the task slots of the whole cluster, so the job's ``dynamodb.max.map.tasks`` (min of the
parallelism and the read budget / 100) never asks for more concurrent tasks than the heap holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ddbpipe.capacity import READ_BUFFER_BYTES, READ_PAGE_BYTES, READ_WORKERS
from ddbpipe.errors import ConfigError

OBJECT_FACTOR = 20  # heap bytes per wire byte of small items (docs/benchmarks.md, memory)
MIB = 1024 * 1024
#: What a task's reader holds on the wire at most: its buffer and a page per waiting worker.
TASK_WIRE_BYTES = READ_BUFFER_BYTES + READ_WORKERS * READ_PAGE_BYTES
TASK_BUFFER_MB = math.ceil(TASK_WIRE_BYTES * OBJECT_FACTOR / MIB)  # 235
EXECUTOR_BASE_MB = 512  # Spark's reserved 300 MiB + block manager, clients, the pipe
PYTHON_PER_TASK_MB = 256  # the task's Python process, counted in the YARN container
MIN_OVERHEAD_MB = 384  # Spark's floor for spark.executor.memoryOverhead
OVERHEAD_FRACTION = 0.10  # Spark's default overhead factor
AM_MEMORY_MB = 512  # spark.yarn.am.memory, set explicitly so the reserve below holds
AM_CONTAINER_MB = AM_MEMORY_MB + MIN_OVERHEAD_MB
YARN_ALLOCATION_MB = 32  # yarn.scheduler.minimum-allocation-mb on EMR for these types
MAX_DRIVER_GB = 16
#: Below 32 GiB the JVM keeps compressed object pointers; above, every object grows.
MAX_HEAP_MB = 31 * 1024


@dataclass(frozen=True)
class Shape:
    """An instance type as EMR sees it: vCPUs, memory, and YARN's share of it."""

    vcpus: int
    memory_gib: int
    yarn_mb: int  # yarn.nodemanager.resource.memory-mb, EMR's default for the type
    source: str = "EMR task configuration defaults"


_M6G_NOTE = "m7g is not in EMR's published table; taken as m6g (same vCPUs and memory)"
#: EMR Release Guide, "Task configuration" (yarn.nodemanager.resource.memory-mb per type).
SHAPES: dict[str, Shape] = {
    "m5.xlarge": Shape(4, 16, 12288), "m5.2xlarge": Shape(8, 32, 24576),
    "m5.4xlarge": Shape(16, 64, 57344),
    "m6g.xlarge": Shape(4, 16, 11712), "m6g.2xlarge": Shape(8, 32, 23424),
    "m6g.4xlarge": Shape(16, 64, 54272),
    "m7g.xlarge": Shape(4, 16, 11712, _M6G_NOTE), "m7g.2xlarge": Shape(8, 32, 23424, _M6G_NOTE),
    "m7g.4xlarge": Shape(16, 64, 54272, _M6G_NOTE),
    "r5.xlarge": Shape(4, 32, 24576), "r5.2xlarge": Shape(8, 64, 57344),
    "r5.4xlarge": Shape(16, 128, 122880),
    "c5.xlarge": Shape(4, 8, 6144), "c5.2xlarge": Shape(8, 16, 12288),
    "c5.4xlarge": Shape(16, 32, 24576),
}


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def executor_heap_mb(cores: int) -> int:
    return cores * TASK_BUFFER_MB + EXECUTOR_BASE_MB


def young_mb(tasks: int, heap_mb: int) -> int:
    """The fixed young generation of a JVM running ``tasks`` tasks in ``heap_mb``: half of what
    the heap holds beyond its tasks' read buffers (``EXECUTOR_BASE_MB`` / 2 = 256 MiB for a heap
    sized by :func:`executor_heap_mb`), so the old generation keeps room for the buffers and
    Spark; an eighth of the heap if that is less than 64 MiB (a heap set below the bound)."""
    beyond = heap_mb - tasks * TASK_BUFFER_MB
    return beyond // 2 if beyond >= 128 else max(1, heap_mb // 8)


def heap_java_options(heap_mb: int, tasks: int) -> str:
    """JVM options for a JVM that runs ``tasks`` tasks in a heap of ``heap_mb`` (what Spark
    gives ``-Xmx``): the heap committed at start and every page of it touched, so its memory is
    the heap from the first second, not what G1 has grown it to by the time the job ends (G1
    grows the heap toward its maximum as its pause times demand: a longer run or a busier machine
    ends with more); and a fixed young generation (:func:`young_mb`), which G1 would otherwise size
    from predicted pause times, again timing. Collector-neutral, no ``-Xmx`` (Spark refuses it
    in these options)."""
    return f"-Xms{heap_mb}m -Xmn{young_mb(tasks, heap_mb)}m -XX:+AlwaysPreTouch"


def executor_overhead_mb(cores: int) -> int:
    heap = executor_heap_mb(cores)
    return max(MIN_OVERHEAD_MB, math.ceil(heap * OVERHEAD_FRACTION)) + cores * PYTHON_PER_TASK_MB


def container_mb(cores: int) -> int:
    """What YARN reserves for one executor of ``cores`` tasks (rounded to its allocation step)."""
    return _round_up(executor_heap_mb(cores) + executor_overhead_mb(cores), YARN_ALLOCATION_MB)


@dataclass(frozen=True)
class ExecutorPlan:
    instance_type: str
    nodes: int
    cores: int  # tasks per executor
    executors_per_node: int
    heap_mb: int
    overhead_mb: int
    driver_gb: int
    lines: tuple[str, ...]

    @property
    def tasks_per_node(self) -> int:
        return self.cores * self.executors_per_node

    @property
    def properties(self) -> dict[str, str]:
        return {
            "spark.dynamicAllocation.enabled": "false",
            "spark.executor.instances": str(self.nodes * self.executors_per_node),
            "spark.executor.cores": str(self.cores),
            "spark.executor.memory": f"{self.heap_mb}m",
            # EMR's own options are in spark.executor.defaultJavaOptions, which Spark puts
            # before these: setting extraJavaOptions keeps them.
            "spark.executor.extraJavaOptions": heap_java_options(self.heap_mb, self.cores),
            "spark.executor.memoryOverhead": f"{self.overhead_mb}m",
            "spark.default.parallelism": str(self.nodes * self.tasks_per_node),
            "spark.driver.memory": f"{self.driver_gb}g",
            "spark.yarn.am.memory": f"{AM_MEMORY_MB}m",
        }

    def configuration(self) -> dict[str, Any]:
        """The RunJobFlow ``Configurations`` entry."""
        return {"Classification": "spark-defaults", "Properties": self.properties}


def plan(instance_type: str, nodes: int) -> ExecutorPlan:
    """Executors for ``nodes`` core nodes of ``instance_type``; unknown types are refused."""
    shape = SHAPES.get(instance_type)
    if shape is None:
        families = sorted({t.split(".")[0] for t in SHAPES})
        raise ConfigError(
            f"--instance-type {instance_type} is not one ddbpipe can size Spark executors for "
            "(the heap is sized from a table of node memory).",
            f"Use {', '.join(families)} in size xlarge, 2xlarge or 4xlarge "
            f"(e.g. --instance-type m5.xlarge).")
    if nodes < 1:
        raise ValueError("at least one core node")
    usable = shape.yarn_mb - AM_CONTAINER_MB
    best: tuple[int, int, int] = (0, 0, 0)  # tasks per node, cores, executors per node
    for cores in range(1, shape.vcpus + 1):
        if executor_heap_mb(cores) > MAX_HEAP_MB:
            break
        executors = min(shape.vcpus // cores, usable // container_mb(cores))
        if executors and (cores * executors, cores) > best[:2]:
            best = (cores * executors, cores, executors)
    tasks, cores, executors = best
    if not tasks:
        raise ConfigError(
            f"{instance_type} has {shape.yarn_mb:,} MiB for YARN: too little for one task's "
            f"{container_mb(1):,} MiB executor next to the application master.",
            "Pick a larger --instance-type (e.g. m5.xlarge).")
    heap, overhead = executor_heap_mb(cores), executor_overhead_mb(cores)
    driver_gb = max(1, min(shape.memory_gib // 2, MAX_DRIVER_GB))
    lines = (
        f"read buffer per task: ({READ_BUFFER_BYTES // MIB} MiB + {READ_WORKERS} workers x "
        f"{READ_PAGE_BYTES // 1024} KiB) x {OBJECT_FACTOR} (objects per wire byte) = "
        f"{TASK_BUFFER_MB:,} MiB",
        f"executor of {cores} task{'s' if cores > 1 else ''}: heap {cores} x {TASK_BUFFER_MB:,} "
        f"+ {EXECUTOR_BASE_MB} = {heap:,} MiB, overhead {overhead:,} MiB, container "
        f"{container_mb(cores):,} MiB",
        f"{instance_type}: {shape.yarn_mb:,} MiB for YARN ({shape.source}) - {AM_CONTAINER_MB} "
        f"for the application master = {usable:,} MiB, {shape.vcpus} vCPUs -> {executors} "
        f"executor{'s' if executors > 1 else ''}, {tasks} task{'s' if tasks > 1 else ''} per node",
        f"{nodes} core node{'s' if nodes > 1 else ''} -> {nodes * executors} executor"
        f"{'s' if nodes * executors > 1 else ''}, parallelism {nodes * tasks}; driver "
        f"{driver_gb}g (half the leader's {shape.memory_gib} GiB, at most {MAX_DRIVER_GB})",
    )
    return ExecutorPlan(instance_type, nodes, cores, executors, heap, overhead, driver_gb, lines)
