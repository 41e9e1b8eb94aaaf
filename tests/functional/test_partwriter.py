"""The export's partition writer against moto server's S3: roll-over, chunk edges, gzip."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from ddbpipe.aws import client
from ddbpipe.export.partwriter import S3Sink, WriterConfig, write_partition
from ddbpipe.formats import item_size, item_to_line, line_to_item
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev.sample import sample_item

pytestmark = pytest.mark.functional


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("chunk_size", [7, 1000, 1 << 20])
def test_files_roll_over_at_the_item_limit_whatever_the_chunks(aws, unique, compress,
                                                               chunk_size):
    s3 = client(aws, "s3")
    bucket = f"pw-{unique}"
    s3.create_bucket(Bucket=bucket)
    items = [sample_item(i) for i in range(10)]
    lines = [item_to_line(i) for i in items]
    # the last line comes without its newline, and one blank line slips in
    text = "\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:])
    out = io.StringIO()
    cfg = WriterConfig(folder=f"s3://{bucket}/run", region=aws.region,
                       endpoints=dict(aws.endpoints), items_per_file=3, compress=compress)

    total = write_partition(io.BytesIO(text.encode()), cfg, s3, out, chunk_size=chunk_size)

    commits = [json.loads(line) for line in out.getvalue().splitlines()]
    assert total == 10 and [c["items"] for c in commits] == [3, 3, 3, 1]
    read_back = []
    for c in commits:
        uri = S3Uri.parse(c["url"])
        assert uri.name.endswith(".gz") == compress
        body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        data = gzip.decompress(body) if compress else body
        assert data.endswith(b"\n") and c["bytes"] == len(data)
        read_back += [line_to_item(line) for line in data.decode().splitlines()]
    assert read_back == [line_to_item(line) for line in lines]
    exact = sum(item_size(i) for i in items)
    assert abs(sum(c["item_bytes"] for c in commits) - exact) <= 0.05 * exact


def test_empty_partition_writes_nothing(aws, unique):
    s3 = client(aws, "s3")
    bucket = f"pw-empty-{unique}"
    s3.create_bucket(Bucket=bucket)
    out = io.StringIO()
    cfg = WriterConfig(folder=f"s3://{bucket}/run", region=aws.region,
                       endpoints=dict(aws.endpoints))
    assert write_partition(io.BytesIO(b""), cfg, s3, out) == 0
    assert out.getvalue() == "" and "Contents" not in s3.list_objects_v2(Bucket=bucket)


def _big_lines(count: int) -> list[str]:
    """Lines of ~1 KB each: ``count`` of them make several 8 MiB parts."""
    return [item_to_line({"pk": {"S": f"k{i:06d}"}, "pad": {"S": "x" * 1000}})
            for i in range(count)]


def test_a_multipart_file_is_whole_in_order(aws, unique):
    s3 = client(aws, "s3")
    bucket = f"pw-mp-{unique}"
    s3.create_bucket(Bucket=bucket)
    lines = _big_lines(20_000)  # ~20.4 MB: three parts, two of them uploaded while reading
    text = "".join(line + "\n" for line in lines).encode()
    out = io.StringIO()
    cfg = WriterConfig(folder=f"s3://{bucket}/run", region=aws.region,
                       endpoints=dict(aws.endpoints))
    assert write_partition(io.BytesIO(text), cfg, s3, out) == 20_000
    (commit,) = [json.loads(line) for line in out.getvalue().splitlines()]
    uri = S3Uri.parse(commit["url"])
    body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    assert body == text
    assert "md5" not in commit  # the Data Pipeline format lists none: not hashed
    assert commit["etag"].endswith("-3")


@pytest.mark.parametrize(("size", "compress"), [(1000, True), (20_000, False)])
def test_a_digesting_sink_takes_the_md5_of_what_it_stored(aws, unique, size, compress):
    """One PUT of gzip, and three parts as they come (``x`` lines would gzip to one PUT)."""
    import base64
    import hashlib

    s3 = client(aws, "s3")
    bucket = f"pw-md5-{unique}"
    s3.create_bucket(Bucket=bucket)
    text = "".join(line + "\n" for line in _big_lines(size)).encode()
    sink = S3Sink(s3, bucket, "f", compress=compress, digest=True)
    for at in range(0, len(text), 1 << 20):
        sink.write(text[at:at + (1 << 20)])
    sink.close()
    head = s3.head_object(Bucket=bucket, Key="f")
    assert head["ETag"].strip('"').endswith("-3") != compress
    stored = s3.get_object(Bucket=bucket, Key="f")["Body"].read()
    assert (gzip.decompress(stored) if compress else stored) == text
    assert sink.md5 == base64.b64encode(hashlib.md5(stored).digest()).decode()
    assert sink.bytes_out == len(stored)


def test_a_part_that_fails_in_flight_fails_the_file_and_leaves_nothing(aws, unique):
    import botocore.exceptions

    s3 = client(aws, "s3")
    bucket = f"pw-mpfail-{unique}"
    s3.create_bucket(Bucket=bucket)
    text = "".join(line + "\n" for line in _big_lines(20_000)).encode()
    real_upload = s3.upload_part
    calls = []

    def second_part_refused(**kwargs):
        calls.append(kwargs["PartNumber"])
        if kwargs["PartNumber"] == 2:
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "UploadPart")
        return real_upload(**kwargs)

    s3.upload_part = second_part_refused  # type: ignore[method-assign]
    cfg = WriterConfig(folder=f"s3://{bucket}/run", region=aws.region,
                       endpoints=dict(aws.endpoints))
    with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
        write_partition(io.BytesIO(text), cfg, s3, io.StringIO())
    assert calls[:2] == [1, 2]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_a_client_that_cannot_be_made_fails_the_partition_in_one_line(aws, unique, tmp_path):
    """The S3 client is made on a thread while the pipe is read: its failure still ends the
    partition as a failure line, not lost."""
    import subprocess
    import sys

    from ddbpipe import failures

    cfg = WriterConfig(folder=f"s3://pw-noprofile-{unique}/run", region=aws.region,
                       endpoints=dict(aws.endpoints), profile="no-such-profile")
    lines = "".join(item_to_line(sample_item(i)) + "\n" for i in range(5))
    env = {"PATH": "", "DDBPIPE_WRITER": cfg.to_env(), "HOME": str(tmp_path),
           "AWS_CONFIG_FILE": str(tmp_path / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}
    proc = subprocess.run([sys.executable, "-m", "ddbpipe.export.partwriter"], input=lines,
                          capture_output=True, text=True, env=env, check=False, timeout=60)
    assert proc.returncode == 0
    (last,) = proc.stdout.splitlines()[-1:]
    err = failures.decode(last)
    assert err is not None and "no-such-profile" in str(err)
