"""ddbpipe.native_layout: DynamoDB's Export to S3 layout as ddbpipe writes it. Pure."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timezone

import pytest

from ddbpipe import native_layout as nl
from ddbpipe.aws import AwsConfig
from ddbpipe.convert import ConvertConfig
from ddbpipe.errors import ConfigError
from ddbpipe.export.messages import FileCommit
from ddbpipe.export.options import parse_time
from ddbpipe.s3uri import S3Uri

RUN = S3Uri("bkt", "us-east-1/Orders/2026-12-01-02-00-00")
T0 = datetime(2026, 12, 1, 2, 0, 0, 123000, tzinfo=timezone.utc)


def test_ids_and_names_are_shaped_like_the_service_s():
    export_id = nl.new_export_id(T0)
    assert re.fullmatch(r"01796090400123-[0-9a-f]{8}", export_id)  # ms since 1970, 14 digits
    assert re.fullmatch(r"[a-z2-7]{26}\.json\.gz", nl.data_file_name("dynamodb-json"))
    assert nl.data_file_name("ion").endswith(".ion.gz")
    assert str(nl.data_folder(RUN, export_id)) == f"{RUN}/AWSDynamoDB/{export_id}/data"


def test_manifests_hold_the_documented_fields():
    files = [FileCommit(f"s3://bkt/{RUN.key}/AWSDynamoDB/X/data/a.json.gz", 3, 30, 20, 9,
                        md5="bWQ1", etag="abc-2"),
             FileCommit(f"s3://bkt/{RUN.key}/AWSDynamoDB/X/data/b.json.gz", 4, 40, 25, 9,
                        md5="bWQ2", etag="def")]
    docs = nl.manifests(RUN, "X", "ion", files, table_arn="arn:aws:dynamodb:r:1:table/Orders",
                        table_id="tid", started=T0, export_time=T0)
    base = RUN.join("AWSDynamoDB", "X")
    assert list(docs) == [base.join(n) for n in (
        "manifest-files.json", "manifest-files.checksum", "manifest-summary.json",
        "manifest-summary.checksum")]
    listed = docs[base.join("manifest-files.json")]
    assert [json.loads(line) for line in listed.splitlines()] == [
        {"itemCount": 3, "md5Checksum": "bWQ1", "etag": "abc-2",
         "dataFileS3Key": f"{RUN.key}/AWSDynamoDB/X/data/a.json.gz"},
        {"itemCount": 4, "md5Checksum": "bWQ2", "etag": "def",
         "dataFileS3Key": f"{RUN.key}/AWSDynamoDB/X/data/b.json.gz"}]
    assert docs[base.join("manifest-files.checksum")] == hashlib.md5(listed).hexdigest().encode()
    summary = json.loads(docs[base.join("manifest-summary.json")])
    assert summary["version"] == "2020-06-30" and summary["itemCount"] == 7
    assert summary["outputFormat"] == "ION" and summary["exportType"] == "FULL_EXPORT"
    assert summary["exportArn"] == "arn:aws:dynamodb:r:1:table/Orders/export/X"
    assert summary["exportTime"] == summary["startTime"] == "2026-12-01T02:00:00.123Z"
    assert summary["manifestFilesS3Key"] == f"{RUN.key}/AWSDynamoDB/X/manifest-files.json"
    assert (summary["s3Bucket"], summary["s3Prefix"]) == ("bkt", RUN.key)
    assert {"tableArn", "tableId", "endTime", "billedSizeBytes", "s3SseAlgorithm",
            "s3SseKmsKeyId"} <= summary.keys()
    assert nl.md5_base64(hashlib.md5(b"x").digest()) == base64.b64encode(
        hashlib.md5(b"x").digest()).decode()


def test_a_summary_without_a_table_arn_says_null():
    doc = json.loads(nl.summary(run=RUN, export_id="X", fmt="dynamodb-json", table_arn=None,
                                table_id=None, started=T0, ended=T0, export_time=T0, items=0))
    assert doc["exportArn"] is None and doc["tableArn"] is None
    assert doc["outputFormat"] == "DYNAMODB_JSON"


def test_export_time_is_read_as_iso_8601_in_utc():
    assert parse_time("2026-12-01T02:00:00Z", "--export-time") == datetime(
        2026, 12, 1, 2, tzinfo=timezone.utc)
    assert parse_time("2026-12-01T02:00:00", "--export-time").tzinfo == timezone.utc
    with pytest.raises(ConfigError, match="--export-time 'noon' is not a time"):
        parse_time("noon", "--export-time")


@pytest.mark.parametrize(("source", "dest", "message"), [
    ("s3://bkt/a", "s3://bkt/a/b", "overlap"),
    ("s3://bkt/a/b", "s3://bkt/a", "overlap"),
    ("s3://bkt/a", "s3://bkt", "is a bucket, not a folder"),
])
def test_convert_refuses_overlapping_folders(source, dest, message):
    with pytest.raises(ConfigError, match=message):
        ConvertConfig(S3Uri.parse(source), S3Uri.parse(dest), AwsConfig(region="us-east-1"))
    ConvertConfig(S3Uri.parse("s3://bkt/a"), S3Uri.parse("s3://bkt/ab"),
                  AwsConfig(region="us-east-1"))  # a sibling whose name starts the same
