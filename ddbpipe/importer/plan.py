"""Planning an import on the driver (pure): the write budget, how many tasks share it, which
files each task writes and each task's part of the budget."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ddbpipe import capacity
from ddbpipe.importer.sources import DataFile
from ddbpipe.tables import TableInfo


@dataclass(frozen=True)
class WritePlan:
    capacity: int
    capacity_source: str
    percent: float
    tasks: int
    warnings: tuple[str, ...] = ()

    @property
    def budget(self) -> float:
        """Write units per second for the whole job."""
        return max(1.0, self.capacity * self.percent)

    @property
    def per_task(self) -> float:
        return self.budget / self.tasks


def plan_write(table: TableInfo, percent: float, slots: int, files: int,
               write_capacity: Optional[int] = None) -> WritePlan:
    """The write budget and how many tasks share it (all of them run at once)."""
    warnings = []
    cap, source = capacity.capacity_for(table, "write", write_capacity)
    if source == capacity.ON_DEMAND_SOURCE:
        warnings.append(capacity.on_demand_note(table.name, "write", cap, percent))
    tasks = max(1, min(slots, files))
    return WritePlan(cap, source, percent, tasks, tuple(warnings))


def group_files(files: Sequence[DataFile], groups: int) -> list[list[DataFile]]:
    """Spread files over ``groups`` lists of about equal bytes (largest first)."""
    bins: list[list[DataFile]] = [[] for _ in range(max(1, min(groups, len(files)) or 1))]
    sizes = [0] * len(bins)
    for f in sorted(files, key=lambda f: f.size, reverse=True):
        i = sizes.index(min(sizes))
        bins[i].append(f)
        sizes[i] += max(f.size, 1)
    return [b for b in bins if b]



def shares(groups: Sequence[Sequence[DataFile]], budget: float) -> list[float]:
    """Each group's part of the budget, in proportion to its bytes, so that all the tasks
    finish together and the table sees the whole budget until the end."""
    sizes = [max(1, sum(f.size for f in g)) for g in groups]
    total = sum(sizes)
    return [budget * s / total for s in sizes]

