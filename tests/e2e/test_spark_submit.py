"""The jobs as an EMR step runs them: plain ``spark-submit jobs/<job>.py ...``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ddbpipe import layout
from ddbpipe.aws import client
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import submit_args
from ddbpipe_dev import sample

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def spark_submit(aws, *job_args: str) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    env.update(
        PYSPARK_PYTHON=sys.executable,
        PYSPARK_DRIVER_PYTHON=sys.executable,
        SPARK_LOCAL_IP="127.0.0.1",
        AWS_ENDPOINT_URL_DYNAMODB=aws.endpoint("dynamodb"),
        AWS_ENDPOINT_URL_S3=aws.endpoint("s3"),
        AWS_REGION=aws.region,
    )
    cmd = [str(bin_dir / "spark-submit"), *submit_args("local[2]"), *job_args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def test_export_job_under_spark_submit(aws, unique):
    ddb, s3 = client(aws, "dynamodb"), client(aws, "s3")
    name, bucket = f"e2e-{unique}", f"e2e-{unique}"
    s3.create_bucket(Bucket=bucket)
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(300))

    proc = spark_submit(aws, str(ROOT / "jobs/export_table.py"), "--table", name,
                        "--to", f"s3://{bucket}/exports")

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{name}: exported 300 items" in proc.stdout
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"exports/{name}/")["Contents"]
    folder = S3Uri(bucket, listed[0]["Key"].rsplit("/", 1)[0])
    names = {o["Key"].rsplit("/", 1)[1] for o in listed}
    assert {layout.MANIFEST, layout.SUCCESS, layout.SIDECAR} <= names
    urls = layout.parse_manifest(
        s3.get_object(Bucket=bucket, Key=folder.join(layout.MANIFEST).key)["Body"].read())
    lines = sum(len(s3.get_object(Bucket=bucket, Key=S3Uri.parse(u).key)["Body"].read()
                    .splitlines()) for u in urls)
    assert lines == 300


def test_export_job_reports_a_missing_table(aws, unique):
    s3 = client(aws, "s3")
    bucket = f"e2e-missing-{unique}"
    s3.create_bucket(Bucket=bucket)
    proc = spark_submit(aws, str(ROOT / "jobs/export_table.py"), "--table", "absent-table",
                        "--to", f"s3://{bucket}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    # spark-submit's Python runner merges the job's stderr into its stdout
    assert "Table 'absent-table' does not exist" in proc.stdout + proc.stderr
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_import_job_under_spark_submit(aws, unique):
    ddb, s3 = client(aws, "dynamodb"), client(aws, "s3")
    source, target, bucket = f"e2e-src-{unique}", f"e2e-dst-{unique}", f"e2e-imp-{unique}"
    s3.create_bucket(Bucket=bucket)
    sample.create_table(ddb, source)
    sample.put_items(ddb, source, sample.sample_items(400))

    exported = spark_submit(aws, str(ROOT / "jobs/export_table.py"), "--table", source,
                            "--to", f"s3://{bucket}")
    assert exported.returncode == 0, exported.stdout[-3000:]
    manifest = next(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]
                    if o["Key"].endswith("/manifest"))
    folder = f"s3://{bucket}/{manifest.rsplit('/', 1)[0]}"
    imported = spark_submit(aws, str(ROOT / "jobs/import_table.py"), "--from", folder,
                            "--table", target, "--create-table")

    assert imported.returncode == 0, imported.stdout[-3000:]
    assert f"{target}: imported 400 items (read 400, written 400, skipped 0)" in imported.stdout
    assert sample.scan_all(ddb, target) and (
        {i["pk"]["S"]: i for i in sample.scan_all(ddb, target)}
        == {i["pk"]["S"]: i for i in sample.scan_all(ddb, source)})


def test_convert_job_under_spark_submit(aws, unique):
    """jobs/convert_folder.py as an EMR step runs it: a Data Pipeline folder into DynamoDB's
    ION layout, whose summary counts every item."""
    import json

    from tests.support import exports

    s3 = client(aws, "s3")
    bucket = f"e2e-conv-{unique}"
    s3.create_bucket(Bucket=bucket)
    exports.write_datapipeline(s3, S3Uri(bucket, "dp"), list(sample.sample_items(120)),
                               per_file=50)

    proc = spark_submit(aws, str(ROOT / "jobs/convert_folder.py"), "--from", f"s3://{bucket}/dp",
                        "--to", f"s3://{bucket}/ion", "--format", "ion")

    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "converted 120 items" in proc.stdout
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ion/")["Contents"]]
    (summary,) = [k for k in keys if k.endswith("/manifest-summary.json")]
    doc = json.loads(s3.get_object(Bucket=bucket, Key=summary)["Body"].read())
    assert doc["itemCount"] == 120 and doc["outputFormat"] == "ION"
    assert f"ion/{layout.SUCCESS}" in keys
