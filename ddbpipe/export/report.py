"""What one table's export did: :class:`TableResult` and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ddbpipe import capacity
from ddbpipe.export.messages import FileCommit
from ddbpipe.s3uri import S3Uri


@dataclass
class TableResult:
    table: str
    folder: S3Uri
    items: int
    files: list[FileCommit] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    plan: Optional[capacity.ReadPlan] = None
    scan_seconds: float = 0.0
    #: With ``--resume``: the files an earlier run wrote (among ``files``) and its splits.
    resumed: list[FileCommit] = field(default_factory=list)
    splits: int = 0
    resumed_splits: int = 0
    #: ``--source pitr``: the point in time DynamoDB exported (no read capacity was used).
    export_time: Optional[str] = None

    @property
    def read_units(self) -> float:
        """Read units this run's scan consumed, from DynamoDB's size of the items (sampled):
        eventually consistent scans cost half a unit per 4 KB."""
        return sum(f.item_bytes for f in self.files) / 4096 / 2 - self.resumed_units

    @property
    def resumed_units(self) -> float:
        return sum(f.item_bytes for f in self.resumed) / 4096 / 2

    @property
    def read_items(self) -> int:
        """Items this run read (the rest came from the run it resumed)."""
        return self.items - sum(f.items for f in self.resumed)

    @property
    def achieved_percent(self) -> float:
        if not self.plan or not self.scan_seconds:
            return 0.0
        return self.read_units / self.scan_seconds / self.plan.capacity

    def summary(self) -> str:
        rate = self.read_items / self.seconds if self.seconds else 0.0
        text = (f"{self.table}: exported {self.items} items in {len(self.files)} files "
                f"({self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s, {rate:.0f} items/s) "
                f"to {self.folder}/")
        if self.plan:
            text += (f"; ~{self.read_units:.0f} RCU consumed, {self.achieved_percent:.2f} of "
                     f"{self.plan.capacity} RCU ({self.plan.capacity_source}), target "
                     f"{self.plan.percent}")
        if self.export_time:
            text += f"; point-in-time export of {self.export_time}, no read capacity used"
        if self.resumed_splits:
            text += (f"; resumed: {self.resumed_splits} of {self.splits} splits "
                     f"({self.items - self.read_items:,} items, ~{self.resumed_units:.0f} RCU) "
                     f"came from the stopped run, {self.read_items:,} items were read now")
        return text
