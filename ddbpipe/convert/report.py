"""What a conversion did: :class:`ConvertResult` and its one-line summary."""

from __future__ import annotations

from dataclasses import dataclass, field

from ddbpipe.export.messages import FileCommit
from ddbpipe.s3uri import S3Uri


@dataclass
class ConvertResult:
    source: S3Uri
    source_format: str
    dest: S3Uri
    output_format: str
    items: int
    files: list[FileCommit] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def summary(self) -> str:
        rate = self.items / self.seconds if self.seconds else 0.0
        text = (f"converted {self.items} items from {self.source}/ ({self.source_format}) to "
                f"{self.dest}/ ({self.output_format}) in {len(self.files)} files "
                f"({self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s, {rate:.0f} items/s)")
        return "\n".join([*self.notes, text])
