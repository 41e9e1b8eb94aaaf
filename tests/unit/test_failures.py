"""The one error path: a ddbpipe error crosses Spark as a token and comes back as itself."""

from __future__ import annotations

import pickle
import zlib

import botocore.exceptions as bex
import pytest

from ddbpipe import checks, errors, failures
from ddbpipe.errors import ConfigError


@pytest.mark.parametrize("cls", [errors.ExportFormatError, errors.IncompleteExport,
                                 errors.Throttled, errors.EndpointUnreachable,
                                 errors.PermissionDenied, errors.BucketError])
def test_an_error_survives_spark_as_text(cls):
    err = cls("s3://b/f line 7: not JSON (x\n\"y\").", "Restore it.")
    java = ("org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage "
            "3.0 failed 1 times, most recent failure: ... pyspark.errors.exceptions.base."
            "PythonException: Traceback (most recent call last):\n  File ...\n"
            f"ddbpipe.failures.TaskFailure: {failures.encode(err)}\n\tat org.apache...")
    back = failures.decode(java)
    assert type(back) is cls and (back.what, back.fix) == (err.what, err.fix)
    again = failures.from_spark(RuntimeError(java))
    assert type(again) is cls and str(again) == str(err)
    assert failures.decode("no token here") is None


def test_task_failure_pickles_and_carries_its_error():
    failure = failures.TaskFailure(errors.Throttled("T throttled.", "Wait."))
    again = pickle.loads(pickle.dumps(failure))
    assert str(again) == str(failure) and str(again.error) == "T throttled. Wait."
    assert failures.from_record({"error": str(failure)}).what == "T throttled."


def test_an_unknown_type_in_a_token_becomes_job_failed():
    token = failures.encode(errors.ExportFormatError("x.", "y."))
    forged = token.replace(token.split(":", 1)[1], __import__("base64").b64encode(
        b'{"type": "ValueError", "what": "w.", "fix": "f."}').decode())
    back = failures.decode(forged)
    assert type(back) is errors.JobFailed and str(back) == "w. f."


def _client_error(code: str, op: str = "GetObject") -> bex.ClientError:
    return bex.ClientError({"Error": {"Code": code, "Message": "m"}}, op)


@pytest.mark.parametrize("err, cls, says", [
    (zlib.error("Error -3 while decompressing data: invalid block type"),
     errors.ExportFormatError, "s3://b/f is not a valid gzip file"),
    (bex.EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), errors.EndpointUnreachable,
     "Nothing answered at http://127.0.0.1:9 while reading s3://b/f"),
    (bex.IncompleteReadError(actual_bytes=3, expected_bytes=9), errors.JobFailed,
     "Reading s3://b/f failed part-way (IncompleteReadError)"),
    (_client_error("NoSuchKey"), errors.ExportFormatError, "s3://b/f disappeared"),
    (_client_error("AccessDenied"), errors.PermissionDenied,
     "Not allowed: S3 GetObject on s3://b/f"),
    (_client_error("NoSuchBucket", "PutObject"), errors.BucketError,
     "S3 PutObject on s3://b/f failed: the bucket does not exist"),
    (_client_error("InternalError", "UploadPart"), errors.JobFailed,
     "S3 UploadPart on s3://b/f failed (InternalError)"),
])
def test_library_errors_are_explained_with_the_file(err, cls, says):
    known = failures.explain(err, "s3://b/f")
    assert type(known) is cls and str(known).startswith(says)


def test_other_errors_are_not_explained():
    assert failures.explain(ValueError("bug"), "s3://b/f") is None
    with pytest.raises(ValueError), failures.about("s3://b/f"):
        raise ValueError("bug")
    with pytest.raises(failures.TaskFailure, match="ddbpipe-task-error:"), \
            failures.about("s3://b/f"):
        raise zlib.error("bad")


@pytest.mark.parametrize("name", ["abc", "Orders_2026.v1-x", "a" * 255])
def test_good_table_names(name):
    assert checks.check_table_name(name) == name


@pytest.mark.parametrize("name", ["ab", "bad name!", "a" * 256, "tab/le", ""])
def test_bad_table_names(name):
    with pytest.raises(ConfigError, match="is not a DynamoDB table name"):
        checks.check_table_name(name)


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1",
                                    "ap-southeast-5", "il-central-1"])
def test_regions(region):
    assert checks.check_region(region) == region


@pytest.mark.parametrize("region", ["mars", "US-EAST-1", "us-east", "us east 1", "local"])
def test_bad_regions(region):
    with pytest.raises(ConfigError, match="is not an AWS region"):
        checks.check_region(region)


def test_percent_and_seconds():
    assert checks.check_percent(0.1, "--p") == 0.1 and checks.check_percent(1.5, "--p") == 1.5
    for bad in (0.09, 1.51, float("nan")):
        with pytest.raises(ConfigError, match="--p .* is outside 0.1..1.5"):
            checks.check_percent(bad, "--p")
    with pytest.raises(ConfigError, match="--max-retry-time 0.5 is too short"):
        checks.check_seconds(0.5, "--max-retry-time")
