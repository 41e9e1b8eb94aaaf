"""The conversion's Spark task, run in Python executors (a module-level function: pickled by
reference). Each source file is read with the importer's readers and written, item by item, in
the output format by the export's file writer (:func:`ddbpipe.export.partwriter.write_partition`:
the same names, file size, gzip, multipart and checksums as an export)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Iterator

from ddbpipe import failures
from ddbpipe.aws import AwsConfig, client
from ddbpipe.errors import ExportFormatError
from ddbpipe.export.messages import WriterConfig
from ddbpipe.export.partwriter import line_encoder, write_partition
from ddbpipe.importer.sources import DataFile, LineFormat, read_items, s3_chunks
from ddbpipe.throttle import no_retry_config


@dataclass(frozen=True)
class ConvertTask:
    aws: AwsConfig
    line_format: LineFormat  # how the source's lines are read
    writer: WriterConfig  # where and how the output files are written (``encoded``)


class _LineStream:
    """A readable stream over an iterator of encoded lines (what ``write_partition`` reads)."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self._buf = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            line = next(self._lines, None)
            if line is None:
                break
            self._buf += line
        cut = len(self._buf) if size < 0 else size
        out = bytes(self._buf[:cut])
        del self._buf[:cut]
        return out


def convert(task: ConvertTask, groups: Iterator[list[DataFile]]) -> Iterator[str]:
    """Convert each file of each group; yields the commit line of every file written. A file
    that cannot be read, or holds another count of items than the export's manifest says,
    fails the task with a :class:`~ddbpipe.failures.TaskFailure` naming it."""
    reader = client(task.aws, "s3")
    writer = client(task.aws, "s3", **no_retry_config())  # the writer retries by its patience
    encode = line_encoder(task.writer.format)
    for group in groups:
        for f in group:
            count = 0

            def lines(f: DataFile = f) -> Iterator[bytes]:
                nonlocal count
                for _, item in read_items(s3_chunks(reader, f.url), f.url, task.line_format,
                                          wire=False):
                    count += 1
                    yield (encode(item) + "\n").encode("utf-8")

            out = io.StringIO()
            with failures.about(f.url):
                write_partition(_LineStream(lines()), task.writer, writer, out)  # type: ignore[arg-type]
            if f.items is not None and count != f.items:
                raise failures.TaskFailure(ExportFormatError(
                    f"{f.url} holds {count} items but the export's manifest says {f.items}.",
                    "Restore the file from the original export."))
            yield from out.getvalue().splitlines()
