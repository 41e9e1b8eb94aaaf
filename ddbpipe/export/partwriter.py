"""The export's partition writer: item lines on stdin, data files in S3 (Data Pipeline format,
or DynamoDB's native DYNAMODB_JSON / ION with ``--format``).

Run as ``python -m ddbpipe.export.partwriter``, one process per partition.

Spark pipes each partition of the connector's RDD into one of these processes
(``RDD.pipe``): the JVM writes every item as its export-format JSON line
(``DynamoDBItemWritable.toString()``), so items never pass through Python pickling. This process
streams the lines into UUID-named objects (native formats: each line re-encoded, gzip, named as
the service names them), a new one every 100,000 items, and prints one JSON
commit message per finished file on stdout; the driver collects them and writes the manifest.
Configuration comes in the ``DDBPIPE_WRITER`` environment variable (never argv); credentials come
from the standard chain.
"""

from __future__ import annotations

import hashlib
import os
import sys
import traceback
import uuid
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Callable, Mapping, Optional, TypeVar, cast

from ddbpipe import failures, native_layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.errors import JobFailed
from ddbpipe.export.messages import ENV_VAR, FileCommit, WriterConfig
from ddbpipe.progress import Beacon, Tally
from ddbpipe.s3uri import S3Uri
from ddbpipe.throttle import Patience, RetryStats, call_with_retries, no_retry_config

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

T = TypeVar("T")
PART_SIZE = 8 * 1024 * 1024
#: Lines parsed per chunk (1 MiB) to measure DynamoDB's size of the items for the report of
#: consumed read capacity; parsing every line would cost more than writing it.
SIZE_SAMPLE = 16


class S3Sink:
    """One object written as it streams: a single PUT when small, multipart past PART_SIZE.

    A full part is uploaded on a thread of its own while the next one fills, at most one in
    flight (two parts of memory): the pipe from the JVM keeps draining during an upload instead
    of stalling the task's read workers for each 8 MiB sent.

    ``digest``: take the MD5 of the stored bytes (the native manifest lists it); the Data
    Pipeline format records none, and hashing every byte once more costs the export ~3 % here."""

    def __init__(self, s3: S3Client, bucket: str, key: str, compress: bool,
                 patience: Optional[Patience] = None, digest: bool = False) -> None:
        self.s3, self.bucket, self.key = s3, bucket, key
        self.patience = patience or Patience(f"S3 bucket {bucket}")
        self.retry = RetryStats()
        self._gz = zlib.compressobj(6, zlib.DEFLATED, 31) if compress else None
        self._buf = bytearray()
        self._upload_id: Optional[str] = None
        self._parts: list[CompletedPartTypeDef] = []
        self._uploader: Optional[ThreadPoolExecutor] = None
        self._in_flight: Optional[Future[None]] = None
        self._md5 = hashlib.md5() if digest else None
        self.bytes_in = 0
        self.bytes_out = 0
        #: Once closed: S3's ETag of the object (no quotes) and, with ``digest``, the base64 MD5
        #: of its bytes.
        self.etag = ""
        self.md5: Optional[str] = None

    def write(self, data: bytes) -> None:
        self.bytes_in += len(data)
        self._buf += self._gz.compress(data) if self._gz else data
        if len(self._buf) >= PART_SIZE:
            self._flush_part()

    def _call(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """One S3 request, retried by ddbpipe's patience (the client does not retry)."""
        result = call_with_retries(partial(fn, **kwargs), self.retry, self.patience)
        self.patience.progress()
        return result

    def _flush_part(self) -> None:
        if self._upload_id is None:
            self._upload_id = self._call(self.s3.create_multipart_upload, Bucket=self.bucket,
                                         Key=self.key)["UploadId"]
        body = bytes(self._buf)
        self._buf.clear()
        if self._md5 is not None:
            self._md5.update(body)
        self.bytes_out += len(body)
        self._wait()  # the previous part is in S3 (or its failure raised) before the next goes
        if self._uploader is None:
            self._uploader = ThreadPoolExecutor(1, thread_name_prefix="ddbpipe-part")
        self._in_flight = self._uploader.submit(self._upload_part, len(self._parts) + 1, body)

    def _upload_part(self, number: int, body: bytes) -> None:
        resp = self._call(self.s3.upload_part, Bucket=self.bucket, Key=self.key,
                          UploadId=self._upload_id, PartNumber=number, Body=body)
        self._parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def _wait(self) -> None:
        """Wait for the part in flight; raises its failure."""
        if self._in_flight is not None:
            done, self._in_flight = self._in_flight, None
            done.result()

    def _stop_uploader(self) -> None:
        if self._uploader is not None:
            self._uploader.shutdown(wait=True)
            self._uploader = None

    def close(self) -> None:
        if self._gz:
            self._buf += self._gz.flush()
        if self._upload_id is None:
            etag = self._call(self.s3.put_object, Bucket=self.bucket, Key=self.key,
                              Body=bytes(self._buf))["ETag"]
            if self._md5 is not None:
                self._md5.update(self._buf)
            self.bytes_out += len(self._buf)
            self._buf.clear()
        else:
            if self._buf:
                self._flush_part()
            self._wait()
            self._stop_uploader()
            etag = self._call(self.s3.complete_multipart_upload, Bucket=self.bucket,
                              Key=self.key, UploadId=self._upload_id,
                              MultipartUpload={"Parts": self._parts}).get("ETag", "")
        self.etag = etag.strip('"')
        if self._md5 is not None:
            self.md5 = native_layout.md5_base64(self._md5.digest())

    def abort(self) -> None:
        if self._in_flight is not None:  # let it end (its failure is the one being raised)
            self._in_flight.exception()
            self._in_flight = None
        self._stop_uploader()
        if self._upload_id is not None:
            self.s3.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self._upload_id
            )


def _sample(part: bytes, limit: int) -> tuple[int, int]:
    """(lines parsed, their DynamoDB size in bytes) for the first ``limit`` lines of ``part``."""
    from ddbpipe.formats import item_size, line_to_item

    lines = part.split(b"\n", limit)[:limit]
    sizes = [item_size(line_to_item(line.decode("utf-8"))) for line in lines if line.strip()]
    return len(sizes), sum(sizes)


def line_encoder(fmt: str) -> Callable[[Mapping[str, Any]], str]:
    """The item -> line writer of an output format (``dp``, ``dynamodb-json``, ``ion``)."""
    from ddbpipe.formats import item_to_ion_line, item_to_line, item_to_native_line

    return {"ion": item_to_ion_line, "dynamodb-json": item_to_native_line}.get(fmt, item_to_line)


def line_converter(fmt: str) -> Optional[Callable[[bytes], bytes]]:
    """What turns a chunk of the connector's lines (Data Pipeline JSON, whole lines) into the
    lines of ``fmt``; None for the Data Pipeline format (copied as they come)."""
    if not native_layout.is_native(fmt):
        return None
    from ddbpipe.formats import line_to_item

    encode = line_encoder(fmt)

    def convert(part: bytes) -> bytes:
        lines = part.decode("utf-8").split("\n")[:-1]
        return "".join([encode(line_to_item(line)) + "\n" for line in lines]).encode("utf-8")

    return convert


def file_name(fmt: str, compress: bool) -> str:
    """A new data file's name: a UUID (``.gz`` when compressed) as the Data Pipeline export
    named them, or a name like the service's for the native formats."""
    if native_layout.is_native(fmt):
        return native_layout.data_file_name(fmt)
    return str(uuid.uuid4()) + (".gz" if compress else "")


def write_partition(stream: IO[bytes], cfg: WriterConfig, s3: S3Client, out: IO[str],
                    chunk_size: int = 1 << 20) -> int:
    """Stream item lines into data files under ``cfg.folder``; one commit line per file on
    ``out``. Returns the number of items written.

    The JVM writes exactly one line per item (gson escapes newlines inside strings), so the stream
    is handled in large chunks: lines are counted with ``bytes.count`` and chunks are copied whole
    into the current file, cut only where a file reaches ``cfg.items_per_file`` items. The first
    lines of every chunk are parsed to measure DynamoDB's item size for the capacity report. A
    file that fails is aborted (no partial object); the exception propagates so Spark fails the
    task.
    """
    folder = S3Uri.parse(cfg.folder)
    convert = None if cfg.encoded else line_converter(cfg.format)
    native = native_layout.is_native(cfg.format)
    compress = cfg.compress or native  # the service's files are always gzip
    sample = not (cfg.encoded and native)  # the size sample parses Data Pipeline lines
    where = cfg.endpoints.get("s3") or cfg.region
    patience = Patience(f"S3 ({where})", cfg.max_retry_time, cfg.unreachable_after)
    total = 0
    sink: Optional[S3Sink] = None
    count = sampled = sampled_bytes = 0
    beacon = Beacon(s3, S3Uri.parse(cfg.progress)) if cfg.progress else None
    seen = seen_bytes = written = 0  # the whole partition's size sample, and bytes written

    def tell(force: bool = False) -> None:
        if beacon is not None:
            units = seen_bytes / seen * total / 4096 / 2 if seen else 0.0
            beacon.update(Tally(total, written, units), force)

    def finish() -> None:
        assert sink is not None
        sink.close()
        item_bytes = round(sampled_bytes / sampled * count) if sampled else 0
        commit = FileCommit(f"s3://{sink.bucket}/{sink.key}", count, sink.bytes_in,
                            sink.bytes_out, item_bytes, md5=sink.md5, etag=sink.etag)
        out.write(commit.to_json() + "\n")
        out.flush()

    rest = b""
    try:
        while True:
            chunk = stream.read(chunk_size)
            if not chunk:
                data, rest = (rest + b"\n" if rest.strip() else b""), b""
            else:
                data = rest + chunk
                end = data.rfind(b"\n") + 1
                rest, data = data[end:], data[:end]
            while data:
                if sink is None:
                    sink = S3Sink(s3, folder.bucket,
                                  folder.join(file_name(cfg.format, compress)).key, compress,
                                  patience, digest=native)
                    count = sampled = sampled_bytes = 0
                room = cfg.items_per_file - count
                lines = data.count(b"\n")
                if lines > room:  # cut after the room-th line
                    cut = -1
                    for _ in range(room):
                        cut = data.index(b"\n", cut + 1)
                    part, data, lines = data[:cut + 1], data[cut + 1:], room
                else:
                    part, data = data, b""
                if part.startswith(b"\n") or b"\n\n" in part:  # never from the JVM; be safe
                    kept = [line for line in part.split(b"\n")[:-1] if line.strip()]
                    part, lines = b"".join(line + b"\n" for line in kept), len(kept)
                    if not lines:
                        continue
                n, size = _sample(part, SIZE_SAMPLE) if sample else (0, 0)
                sampled, sampled_bytes = sampled + n, sampled_bytes + size
                seen, seen_bytes = seen + n, seen_bytes + size
                if convert is not None:
                    part = convert(part)
                sink.write(part)
                count += lines
                total += lines
                written += len(part)
                tell()
                if count >= cfg.items_per_file:
                    finish()
                    sink = None
            if not chunk:
                break
        if sink is not None:
            finish()
            sink = None
        tell(force=True)
    except BaseException:
        if sink is not None:
            sink.abort()
        raise
    return total


def _s3_client(aws: AwsConfig) -> S3Client:
    return client(aws, "s3", **no_retry_config())


class _Deferred:
    """An S3 client being made on another thread: the first attribute asked for waits for it
    (and raises what making it raised)."""

    def __init__(self, made: Future[Any]) -> None:
        self._made = made

    def __getattr__(self, name: str) -> Any:
        return getattr(self._made.result(), name)


def main() -> int:
    text = os.environ.get(ENV_VAR)
    if not text:
        print(f"ddbpipe partition writer: {ENV_VAR} is not set", file=sys.stderr)
        return 2
    cfg = WriterConfig.from_env(text)
    aws = AwsConfig(region=cfg.region, endpoints=cfg.endpoints, profile=cfg.profile)
    maker = ThreadPoolExecutor(1, thread_name_prefix="ddbpipe-client")
    try:
        # boto3's import and the client take ~0.3 s: made meanwhile, so the pipe from the JVM
        # is read from the first moment (the first 8 MiB need no client)
        made = maker.submit(_s3_client, aws)
        write_partition(sys.stdin.buffer, cfg, cast("S3Client", _Deferred(made)), sys.stdout)
    except Exception as err:
        # Spark does not carry a piped process's stderr to the driver: the failure goes out as
        # the last stdout line (ddbpipe.failures) and the process ends normally.
        known = failures.explain(err, f"the data files of {cfg.folder}/", "writing")
        if known is None:
            known = JobFailed(f"Writing the data files of {cfg.folder}/ failed: "
                              f"{type(err).__name__}: {err}.",
                              "Run it again with -v for the trace.")
        if cfg.verbose:
            traceback.print_exc()
        print(failures.record(known), flush=True)
    finally:
        maker.shutdown(wait=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
