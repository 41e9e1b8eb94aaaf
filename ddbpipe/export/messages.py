"""What the export driver and its partition writer processes say to each other.

The driver gives each ``python -m ddbpipe.export.partwriter`` process a :class:`WriterConfig` in
the ``DDBPIPE_WRITER`` environment variable (never argv). This module, not the writer, is what the
driver imports: a package import that loaded ``ddbpipe.export.partwriter`` before ``python -m``
runs it would make runpy warn on every executor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

from ddbpipe.layout import ITEMS_PER_FILE

ENV_VAR = "DDBPIPE_WRITER"
#: The module Spark pipes each partition into (``python -m``).
WRITER_MODULE = "ddbpipe.export.partwriter"


@dataclass(frozen=True)
class WriterConfig:
    folder: str  # s3://bucket/prefix/of/the/run
    region: str
    endpoints: dict[str, str]
    profile: Optional[str] = None
    items_per_file: int = ITEMS_PER_FILE
    compress: bool = False
    verbose: bool = False

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> WriterConfig:
        return cls(**json.loads(text))
