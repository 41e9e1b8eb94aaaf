"""Import against dynalite + moto server through a real local Spark: every format, every check."""

from __future__ import annotations

from typing import Any

import pytest

from ddbpipe import export, importer, layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.errors import ConfigError, ExportFormatError, KeySchemaMismatch, TableNotFound
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack, sample
from tests.functional.test_export import special_items
from tests.support import exports

pytestmark = pytest.mark.functional


def items_of(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in sample.scan_all(ddb, table)}


def expected(n: int = 300) -> list[dict[str, Any]]:
    return [*sample.sample_items(n), *special_items()]


def run_import(spark, aws, folder: S3Uri, table: str, **kw) -> importer.ImportResult:
    return importer.run(spark, importer.ImportConfig(folder, table, aws, **kw))


@pytest.fixture
def target(ddb, unique) -> str:
    name = f"target-{unique}"
    sample.create_table(ddb, name, read=1000, write=1000)
    return name


@pytest.mark.parametrize(
    "kind", ["old-service", "connector5-gzip", "hive", "no-manifest", "native-json", "native-ion"])
def test_every_format_item_by_item(kind, aws, spark, ddb, s3, bucket, target, unique):
    items = expected()
    # DynamoDB stores numbers normalised ("1E+2" reads back "100"): the reference is the same
    # items written straight into another table.
    reference = f"ref-{unique}"
    sample.create_table(ddb, reference)
    sample.put_items(ddb, reference, iter(items))
    folder = S3Uri(bucket, "exports/run1")
    if kind == "old-service":
        exports.write_datapipeline(s3, folder, items, null_key="nULLValue", blank_lines=True)
    elif kind == "connector5-gzip":
        exports.write_datapipeline(s3, folder, items, null_key="nULL", compress=True)
    elif kind == "hive":
        exports.write_datapipeline(s3, folder, items, hive=True)
    elif kind == "no-manifest":
        exports.write_datapipeline(s3, folder, items, manifest=False)
    else:
        fmt = "ION" if kind == "native-ion" else "DYNAMODB_JSON"
        folder = exports.write_native(s3, S3Uri(bucket, "native"), items, fmt=fmt)

    result = run_import(spark, aws, folder, target)

    want = items_of(ddb, reference)
    got = items_of(ddb, target)
    assert got.keys() == want.keys()
    for key, item in want.items():
        assert got[key] == item, key
    assert (result.read, result.written, result.skipped) == (len(items), len(items), 0)
    if kind.startswith("native"):
        assert result.source.source_region == "eu-west-1"


def test_round_trip_of_our_own_export(aws, spark, ddb, s3, bucket, unique, target):
    source = f"src-{unique}"
    sample.create_table(ddb, source)
    sample.put_items(ddb, source, iter(expected(500)))
    (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), aws))

    result = run_import(spark, aws, exp.folder, target)

    assert result.source.format == "ddbpipe"
    assert items_of(ddb, target) == items_of(ddb, source)
    # a re-run of the same import is safe: same table afterwards
    again = run_import(spark, aws, exp.folder, target)
    assert again.written == result.written
    assert items_of(ddb, target) == items_of(ddb, source)


def test_merge_keeps_other_items_and_replaces_same_keys(aws, spark, ddb, s3, bucket, target):
    sample.put_items(ddb, target, iter([
        {"pk": {"S": "item-00000001"}, "old": {"S": "to be replaced"}},
        {"pk": {"S": "not-in-export"}, "stays": {"BOOL": True}},
    ]))
    folder = S3Uri(bucket, "merge")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(20)))

    run_import(spark, aws, folder, target)

    got = items_of(ddb, target)
    assert len(got) == 21
    assert got["item-00000001"]["s"] == sample.sample_item(1)["s"]
    assert "old" not in got["item-00000001"]
    assert got["not-in-export"] == {"pk": {"S": "not-in-export"}, "stays": {"BOOL": True}}


def test_replace_mode_makes_the_table_equal_to_the_export(aws, spark, ddb, s3, bucket, target):
    sample.put_items(ddb, target, iter([{"pk": {"S": f"extra-{i}"}} for i in range(60)]))
    folder = S3Uri(bucket, "baseline")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(80)))

    with pytest.raises(ConfigError, match="--yes"):
        importer.ImportConfig(folder, target, aws, mode="replace")
    result = run_import(spark, aws, folder, target, mode="replace", yes=True)

    assert result.deleted == 60
    assert sorted(items_of(ddb, target)) == sorted(i["pk"]["S"] for i in sample.sample_items(80))


def test_create_table_from_the_sidecar(aws, spark, ddb, s3, bucket, unique):
    source, copy = f"gsi-src-{unique}", f"gsi-copy-{unique}"
    ddb.create_table(
        TableName=source,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "n", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "n", "AttributeType": "N"},
                              {"AttributeName": "s", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-s",
                                 "KeySchema": [{"AttributeName": "s", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        BillingMode="PAY_PER_REQUEST")
    ddb.get_waiter("table_exists").wait(TableName=source)
    sample.put_items(ddb, source, sample.sample_items(100))
    (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), aws))

    with pytest.raises(TableNotFound):
        run_import(spark, aws, exp.folder, copy)
    run_import(spark, aws, exp.folder, copy, create_table=True)

    made = ddb.describe_table(TableName=copy)["Table"]
    assert made["KeySchema"] == ddb.describe_table(TableName=source)["Table"]["KeySchema"]
    assert made["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert [g["IndexName"] for g in made["GlobalSecondaryIndexes"]] == ["by-s"]
    assert len(sample.scan_all(ddb, copy)) == 100


def test_restore_from_a_copy_in_another_bucket(aws, spark, ddb, s3, bucket, unique, target,
                                               capsys):
    original = S3Uri(bucket, "orig/run")
    exports.write_datapipeline(s3, original, list(sample.sample_items(150)))
    other = f"copy-{unique}"
    s3.create_bucket(Bucket=other)
    copied = S3Uri(other, "restored/here")
    exports.copy_folder(s3, original, copied)
    # the original is gone: only the copy can be read
    for key in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]:
        s3.delete_object(Bucket=bucket, Key=key)

    result = run_import(spark, aws, copied, target)

    assert result.written == 150 and len(items_of(ddb, target)) == 150
    out = capsys.readouterr().out
    assert f"The manifest points at s3://{bucket}/orig/run/; reading the same files from " \
           f"s3://{other}/restored/here/" in out


def test_stray_file_is_ignored(aws, spark, ddb, s3, bucket, target):
    folder = S3Uri(bucket, "stray")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(40)))
    s3.put_object(Bucket=bucket, Key=folder.join("0b5e4c8e-stray").key,
                  Body=b'{"pk":{"s":"stray"}}\n')
    result = run_import(spark, aws, folder, target)
    assert result.written == 40 and "stray" not in items_of(ddb, target)
    assert any("does not list" in n for n in result.notes)


# --- checks before the first write: nothing is written ------------------------------------

def test_missing_listed_file(aws, spark, ddb, s3, bucket, target):
    folder = S3Uri(bucket, "missing")
    urls = exports.write_datapipeline(s3, folder, list(sample.sample_items(250)))
    gone = S3Uri.parse(urls[1])
    s3.delete_object(Bucket=gone.bucket, Key=gone.key)
    with pytest.raises(ExportFormatError, match=f"first: {gone.name}"):
        run_import(spark, aws, folder, target)
    assert items_of(ddb, target) == {}


def test_key_schema_mismatch_from_the_sidecar(aws, spark, ddb, s3, bucket, unique):
    source, other = f"ks-src-{unique}", f"ks-other-{unique}"
    sample.create_table(ddb, source)
    sample.put_items(ddb, source, sample.sample_items(30))
    sample.create_table(ddb, other, key="id", key_type="N")
    (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), aws))
    with pytest.raises(KeySchemaMismatch, match=r"has key id \(N, HASH\) but the export's "
                                                r"table had pk \(S, HASH\)"):
        run_import(spark, aws, exp.folder, other)
    assert sample.scan_all(ddb, other) == []


def test_items_without_the_table_key_fail_validation(aws, spark, ddb, s3, bucket, unique):
    table = f"numkey-{unique}"
    sample.create_table(ddb, table, key="pk", key_type="N")
    folder = S3Uri(bucket, "wrongtype")
    urls = exports.write_datapipeline(s3, folder, list(sample.sample_items(30)))
    with pytest.raises(ExportFormatError, match=f"{urls[0]} line 1: partition key attribute "
                                                "'pk' is S but the table declares N"):
        run_import(spark, aws, folder, table)
    assert sample.scan_all(ddb, table) == []


def test_corrupt_line_names_file_and_line(aws, spark, ddb, s3, bucket, target):
    folder = S3Uri(bucket, "corrupt")
    urls = exports.write_datapipeline(s3, folder, list(sample.sample_items(150)))
    bad = S3Uri.parse(urls[1])
    body = s3.get_object(Bucket=bad.bucket, Key=bad.key)["Body"].read().splitlines()
    body[6] = body[6][:40]  # truncated JSON on line 7
    s3.put_object(Bucket=bad.bucket, Key=bad.key, Body=b"\n".join(body) + b"\n")
    with pytest.raises(ExportFormatError, match=f"{urls[1]} line 7"):
        run_import(spark, aws, folder, target)
    assert items_of(ddb, target) == {}


def test_missing_table(aws, spark, s3, bucket):
    folder = S3Uri(bucket, "x")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(5)))
    with pytest.raises(TableNotFound, match="Table 'absent-table' does not exist in us-east-1"):
        run_import(spark, aws, folder, "absent-table")


def test_empty_folder(aws, spark, bucket, target):
    with pytest.raises(ExportFormatError, match="is empty or does not exist"):
        run_import(spark, aws, S3Uri(bucket, "nothing/here"), target)


def test_cli_import_bad_percent(capsys):
    from ddbpipe.cli import main

    code = main(["import", "--from", "s3://bkt/x", "--table", "t1x", "--region", "us-east-1",
                 "--write-percent", "0.05"])
    assert code == 2 and "--write-percent 0.05 is outside 0.1..1.5" in capsys.readouterr().err


# --- cross-region: a second dynalite stands for the other region -----------------------------

@pytest.fixture
def other_region(aws: AwsConfig, logs_dir):
    server = localstack.start_dynalite(localstack.free_port(), logs_dir / "dynalite-eu.log")
    yield AwsConfig(region="eu-west-1", endpoints={**aws.endpoints, "dynamodb": server.url})
    localstack.stop(server)


def test_cross_region_copy(aws, other_region, spark, ddb, s3, bucket, unique):
    name = f"xr-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, iter(expected(200)))
    (exp,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws))
    ddb_eu = client(other_region, "dynamodb")
    sample.create_table(ddb_eu, name)  # same name and key schema, other region

    def source_folder() -> dict[str, str]:
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=exp.folder.prefix)["Contents"]
        return {o["Key"]: o["ETag"] for o in listing}

    before = source_folder()
    result = run_import(spark, other_region, exp.folder, name)

    assert result.region == "eu-west-1" and result.source.source_region == "us-east-1"
    assert "exported in us-east-1) into " + name + " in eu-west-1" in result.summary()
    assert items_of(ddb_eu, name) == items_of(ddb, name)
    assert source_folder() == before  # the source folder is untouched
    assert exp.folder.join(layout.SUCCESS).key in before
