"""Export against dynalite + moto server through a real local Spark and the connector."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from ddbpipe import export, layout
from ddbpipe.errors import JobFailed
from ddbpipe.formats import line_to_item
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.functional.conftest import folder_keys, read_export, read_object

pytestmark = pytest.mark.functional


def deep(level: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "bottom"}
    for i in range(level):
        value = {"M": {f"k{i}": value}} if i % 2 else {"L": [value]}
    return value


def special_items() -> list[dict[str, Any]]:
    return [
        {"pk": {"S": "deep"}, "v": deep(20)},
        {"pk": {"S": "big"}, "v": {"B": bytes(range(256)) * 1400},  # ~358 KB + text below
         "t": {"S": "é" * 20_000}},
        {"pk": {"S": "numbers"}, "v": {"NS": ["99999999999999999999999999999999999999",
                                             "-0.000000000000000000000000000000000001",
                                             "1E+125", "1.50"]}},
        {"pk": {"S": "empties"}, "s": {"S": ""}, "m": {"M": {}}, "l": {"L": []},
         "b": {"B": b""}},
    ]


def decode_folder(s3: Any, folder: S3Uri) -> dict[str, dict[str, Any]]:
    urls, files = read_export(s3, folder)
    items: dict[str, dict[str, Any]] = {}
    for _url, data in files:
        for line in data.decode("utf-8").splitlines():
            item = line_to_item(line)
            assert item["pk"]["S"] not in items, "an item was exported twice"
            items[item["pk"]["S"]] = item
    return items


def test_export_every_type_item_by_item(aws, spark, ddb, s3, bucket, unique):
    name = f"every-{unique}"
    sample.create_table(ddb, name, read=1000, write=1000)
    sample.put_items(ddb, name, iter([*sample.sample_items(1500), *special_items()]))

    (result,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws))

    assert str(result.folder).startswith(f"s3://{bucket}/us-east-1/{name}/")
    exported = decode_folder(s3, result.folder)
    in_table = {i["pk"]["S"]: i for i in sample.scan_all(ddb, name)}
    assert exported.keys() == in_table.keys()
    for key, item in in_table.items():
        assert exported[key] == item, key
    assert result.items == len(in_table) == 1504

    keys = folder_keys(s3, result.folder)
    assert layout.SUCCESS in keys and layout.MANIFEST in keys and layout.SIDECAR in keys
    assert layout.IN_PROGRESS not in keys
    urls = layout.parse_manifest(read_object(s3, str(result.folder.join(layout.MANIFEST))))
    data_files = [k for k in keys if k not in (layout.SUCCESS, layout.MANIFEST, layout.SIDECAR)]
    assert sorted(S3Uri.parse(u).name for u in urls) == data_files
    assert read_object(s3, str(result.folder.join(layout.MANIFEST))) == layout.manifest_bytes(urls)
    sidecar = json.loads(read_object(s3, str(result.folder.join(layout.SIDECAR))))
    assert sidecar["keySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert sidecar["itemCount"] == 1504 and sidecar["readPercent"] == 0.5
    assert sidecar["region"] == "us-east-1" and sidecar["billingMode"] == "PROVISIONED"
    assert sum(f["items"] for f in sidecar["files"]) == 1504


def test_files_roll_over_and_several_tables_in_one_run(aws, spark, ddb, s3, bucket, unique):
    names = (f"multi-a-{unique}", f"multi-b-{unique}")
    for i, name in enumerate(names):
        sample.create_table(ddb, name, read=400, write=400)
        sample.put_items(ddb, name, sample.sample_items(250 + 100 * i))
    cfg = export.ExportConfig(names, S3Uri(bucket, "nightly"), aws, read_percent=1.0,
                              items_per_file=100, timestamp="2026-01-02-03-04-05")

    results = export.run(spark, cfg)

    assert [str(r.folder) for r in results] == [
        f"s3://{bucket}/nightly/{n}/2026-01-02-03-04-05" for n in names]
    for result, count in zip(results, (250, 350)):
        urls, files = read_export(s3, result.folder)
        lines = [len(data.splitlines()) for _, data in files]
        assert sum(lines) == result.items == count
        assert max(lines) == 100 and len(files) >= count // 100


def test_on_demand_table_is_read_by_more_than_one_task(aws, spark, ddb, s3, bucket, unique):
    name = f"ondemand-{unique}"
    sample.create_table(ddb, name, read=None)
    sample.put_items(ddb, name, sample.sample_items(600))

    (result,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws))

    assert result.plan is not None and result.plan.tasks == 2 and result.plan.segments >= 2
    assert result.items == 600
    assert len(result.files) == 2  # one file per task: both tasks read items


def test_gzip_export(aws, spark, ddb, s3, bucket, unique):
    import gzip

    name = f"gz-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(120))
    cfg = export.ExportConfig((name,), S3Uri(bucket), aws, compress=True)
    (result,) = export.run(spark, cfg)
    urls, files = read_export(s3, result.folder)
    assert all(u.endswith(".gz") for u in urls)
    items = [line_to_item(line) for _, data in files
             for line in gzip.decompress(data).decode().splitlines()]
    assert sorted(i["pk"]["S"] for i in items) == sorted(
        i["pk"]["S"] for i in sample.sample_items(120))


def test_failed_task_leaves_no_finished_export_behind(aws, spark, ddb, s3, bucket, unique,
                                                      monkeypatch):
    name = f"fails-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(50))
    failing = [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"]
    monkeypatch.setattr(export.driver, "_writer_command", lambda spark: failing)
    cfg = export.ExportConfig((name,), S3Uri(bucket), aws, timestamp="2026-01-01-00-00-00")

    with pytest.raises(JobFailed, match=f"Export of {name} failed.*keeps 0 of 2 finished splits"
                                        ".*ddbpipe export --resume"):
        export.run(spark, cfg)

    # No data file, no _SUCCESS: the marker and the plan a resumed run repeats.
    assert folder_keys(s3, S3Uri(bucket, f"us-east-1/{name}")) == [
        "2026-01-01-00-00-00/_ddbpipe-in-progress", "2026-01-01-00-00-00/_ddbpipe-state/run.json"]


# --- bad input: one clear line, non-zero exit, nothing written (through the CLI) -------------

def cli(capsys, *argv: str) -> tuple[int, str]:
    from ddbpipe.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().err


def test_missing_table(aws, s3, bucket, capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3"))
    code, err = cli(capsys, "export", "--table", "no-such-table", "--to", f"s3://{bucket}",
                    "--region", aws.region)
    assert code != 0
    assert "Table 'no-such-table' does not exist in us-east-1" in err
    assert folder_keys(s3, S3Uri(bucket)) == []


def test_missing_bucket(aws, ddb, unique, capsys, monkeypatch):
    name = f"nobucket-{unique}"
    sample.create_table(ddb, name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3"))
    code, err = cli(capsys, "export", "--table", name, "--to", "s3://no-such-bucket-xyz",
                    "--region", aws.region)
    assert code != 0 and "Bucket 'no-such-bucket-xyz' does not exist" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "my-bucket/prefix"], "--to 'my-bucket/prefix' is not an S3 URI"),
        (["--to", "s3://bkt/x", "--read-percent", "2"], "--read-percent 2.0 is outside 0.1..1.5"),
        (["--to", "s3://bkt", "--read-capacity", "0"], "--read-capacity 0 is not a capacity"),
        (["--to", "s3://bkt", "--format", "csv"], "--format 'csv' is not a format ddbpipe writes"),
    ],
)
def test_bad_options(capsys, args, message):
    code, err = cli(capsys, "export", "--table", "t1x", "--region", "us-east-1", *args)
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1


def test_unreachable_endpoint(capsys):
    from ddbpipe_dev.localstack import free_port

    url = f"http://127.0.0.1:{free_port()}"
    code, err = cli(capsys, "export", "--table", "t1x", "--to", "s3://bkt",
                    "--region", "us-east-1", "--endpoint-url", url)
    assert code == 2 and f"Nothing answers at the dynamodb endpoint {url}" in err


def test_bucket_that_cannot_be_written(aws, ddb, unique, logs_dir, monkeypatch, capsys):
    """A moto server that enforces IAM: the user may list and read the bucket, not write it."""
    import json as _json

    from ddbpipe.aws import AwsConfig, client
    from ddbpipe_dev import localstack

    # The 4 setup calls below and the preflight's ListObjectsV2 go unchecked (moto server cannot
    # verify the signature of a request with a query string under enforcement:
    # test_policy_enforcement.py), then IAM rules.
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "5")
    guarded = localstack.start_moto(localstack.free_port(), logs_dir / f"moto-iam-{unique}.log")
    monkeypatch.delenv("INITIAL_NO_AUTH_ACTION_COUNT")
    try:
        cfg = AwsConfig(aws.region, {**{s: guarded.url for s in ("s3", "iam", "sts")},
                                     "dynamodb": aws.endpoint("dynamodb")})
        bucket = f"readonly-{unique}"
        client(cfg, "s3").create_bucket(Bucket=bucket)
        iam = client(cfg, "iam")
        iam.create_user(UserName="reader")
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=_json.dumps({
            "Version": "2012-10-17",
            # moto names HeadBucket s3:HeadBucket; AWS checks s3:ListBucket for it
            "Statement": [{"Effect": "Allow",
                           "Action": ["s3:ListBucket", "s3:HeadBucket", "s3:GetObject"],
                           "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}],
        }))
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        name = f"ro-{unique}"
        sample.create_table(ddb, name)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", guarded.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb"))

        code, err = cli(capsys, "export", "--table", name, "--to", f"s3://{bucket}/x",
                        "--region", aws.region)

        assert code == 2, err
        assert f"Cannot write to s3://{bucket}/x/{name}/ (AccessDenied)" in err
        assert "s3:PutObject" in err and len(err.strip().splitlines()) == 1
        assert key["AccessKeyId"] not in err and key["SecretAccessKey"] not in err
    finally:
        localstack.stop(guarded)
