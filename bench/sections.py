"""Sections of docs/benchmarks.md that a benchmark of its own writes between two markers.

``bench.summarize`` renders the document from a ``bench.run`` results file and keeps every such
section as it found it unless it is given that section's results file too; each benchmark
(``bench.resume``, ``bench.memory_bound``) replaces only its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Section:
    name: str

    @property
    def begin(self) -> str:
        return f"<!-- {self.name}:begin -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"

    def kept(self, doc: Path) -> str:
        """This section of ``doc`` with a blank line around it, or ``""``."""
        text = doc.read_text() if doc.exists() else ""
        if self.begin not in text:
            return ""
        return "\n" + text[text.index(self.begin):text.index(self.end) + len(self.end)] + "\n"

    def replaced(self, text: str, section: str) -> str:
        """``text`` with this section replaced by ``section`` (which carries the markers), or
        with it added at the end."""
        if self.begin in text:
            return (text[:text.index(self.begin)] + section
                    + text[text.index(self.end) + len(self.end) + 1:])
        return text.rstrip("\n") + "\n\n" + section

    def write(self, doc: Path, section: str) -> None:
        """Replace this section of ``doc`` by ``section``, or add it at the end."""
        doc.write_text(self.replaced(doc.read_text(), section))
