"""What an import did: :class:`ImportResult` and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ddbpipe.importer.plan import WritePlan
from ddbpipe.importer.sources import Source
from ddbpipe.importer.state import Written
from ddbpipe.importer.writer import WriteStats


@dataclass
class ImportResult:
    table: str
    region: str
    source: Source
    plan: WritePlan
    #: items this run read and handed to DynamoDB
    read: int = 0
    #: items skipped because an earlier run of the import wrote them (``--resume``)
    skipped: int = 0
    seconds: float = 0.0
    write_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    writes: WriteStats = field(default_factory=WriteStats)  # the write pass's tasks, summed
    deletes: WriteStats = field(default_factory=WriteStats)  # --mode replace's delete tasks
    #: what the earlier run that this one resumed had written
    resumed: Optional[Written] = None

    @property
    def written(self) -> int:
        """Items written by this run (an incremental export's deletes included)."""
        return self.writes.written + self.writes.deleted

    @property
    def imported(self) -> int:
        """Items of the export in the table: written by this run or by the one it resumed."""
        return self.written + self.skipped

    @property
    def consumed(self) -> float:
        return self.writes.consumed

    @property
    def throttled(self) -> int:
        return self.writes.throttled

    @property
    def deleted(self) -> int:
        return self.deletes.deleted

    @property
    def achieved_percent(self) -> float:
        if not self.write_seconds:
            return 0.0
        return self.consumed / self.write_seconds / self.plan.capacity

    def summary(self) -> str:
        src = self.source.source_region or "unknown region"
        rate = self.written / self.write_seconds if self.write_seconds else 0.0
        text = (f"{self.table}: imported {self.imported} items (read {self.read}, written "
                f"{self.written}, skipped {self.skipped}) from {len(self.source.files)} files of "
                f"{self.source.folder}/ ({self.source.format}, exported in {src}) into "
                f"{self.table} in {self.region} in {self.seconds:.1f} s ({rate:.0f} items/s; "
                f"{self.consumed:.0f} WCU consumed, {self.achieved_percent:.2f} of "
                f"{self.plan.capacity} WCU ({self.plan.capacity_source}), target "
                f"{self.plan.percent}; {self.throttled} throttled requests retried)")
        if self.source.incremental is not None:
            text += (f"; incremental export, {self.source.incremental.describe()}: "
                     f"{self.writes.written} puts, {self.writes.deleted} deletes")
        if self.resumed is not None:
            text += (f"; resumed an earlier run: skipped the {self.skipped} items it wrote "
                     f"({self.resumed.complete_files} of {len(self.source.files)} files whole, "
                     f"{self.resumed.partial_files} in part)")
        if self.deleted:
            text += f"; deleted {self.deleted} items absent from the export"
        if self.source.incomplete:
            text += f"; WARNING: INCOMPLETE EXPORT imported ({self.source.incomplete})"
        return text
