"""``ddbpipe convert``: any folder ddbpipe imports, rewritten in any format it writes, through a
real local Spark on moto server; exact for every type, a finished folder or nothing."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbpipe import convert, importer, layout
from ddbpipe.errors import ExportFormatError, IncompleteExport
from ddbpipe.formats import ion_line_to_item, line_to_item, native_line_to_item
from ddbpipe.importer.sources import detect, read_items
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.functional.conftest import folder_keys, read_object
from tests.functional.test_export import special_items
from tests.support import exports
from tests.support.strategies import comparable, items

pytestmark = pytest.mark.functional


def run_convert(spark, aws, source: S3Uri, dest: S3Uri, fmt: str, **kw) -> convert.ConvertResult:
    return convert.run(spark, convert.ConvertConfig(source, dest, aws, output_format=fmt, **kw))


def read_folder(s3, folder: S3Uri) -> list[dict[str, Any]]:
    """Every item of a finished folder, read as ``ddbpipe import`` reads it."""
    from ddbpipe.importer.sources import s3_chunks

    source = detect(s3, folder)
    return [item for f in source.files
            for _, item in read_items(s3_chunks(s3, f.url), f.url, source.line_format,
                                      wire=False)]


def by_key(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keyed = {i["pk"]["S"]: i for i in found}
    assert len(keyed) == len(found), "an item was written twice"
    return keyed


TABLES = st.lists(items(key_schema={"pk": "S"}), min_size=1, max_size=60,
                  unique_by=lambda i: i["pk"]["S"])


@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(table=TABLES)
def test_round_trip_dp_native_json_ion_dp(table, aws, spark, s3, bucket):
    """DP -> native JSON -> ION -> DP, item for item, type-exact (numbers by value: ION keeps a
    number's value, DynamoDB's own text is canonical anyway), with the fixed edge cases."""
    special = special_items()
    taken = {i["pk"]["S"] for i in special}
    table = [*(i for i in table if i["pk"]["S"] not in taken), *special]
    run = uuid.uuid4().hex[:8]
    dp = S3Uri(bucket, f"{run}/dp")
    exports.write_datapipeline(s3, dp, table, per_file=40, null_key="nULLValue")
    native, ion, back = (S3Uri(bucket, f"{run}/{n}") for n in ("json", "ion", "back"))

    first = run_convert(spark, aws, dp, native, "dynamodb-json", items_per_file=25)
    run_convert(spark, aws, native, ion, "ion")
    last = run_convert(spark, aws, ion, back, "dp")

    want = {k: comparable(v) for k, v in by_key(table).items()}
    assert by_key(read_folder(s3, native)) == by_key(table)  # JSON keeps even the number text
    for folder in (ion, back):
        got = {k: comparable(v) for k, v in by_key(read_folder(s3, folder)).items()}
        assert got == want
    assert first.items == last.items == len(table)
    assert layout.MANIFEST in folder_keys(s3, back) and layout.SUCCESS in folder_keys(s3, back)


def test_every_source_dialect_into_every_format(aws, spark, ddb, s3, bucket, unique):
    """Old-service NULLs, blank lines, Hive lines, gzip: each into DYNAMODB_JSON and ION files
    AWS reads, and ddbpipe imports the result item for item."""
    table = [*sample.sample_items(150), *special_items()]
    hive = S3Uri(bucket, "src/hive")
    exports.write_datapipeline(s3, hive, table, per_file=50, hive=True)
    old = S3Uri(bucket, "src/old")
    exports.write_datapipeline(s3, old, table, per_file=70, compress=True, blank_lines=True)
    for source in (hive, old):
        for fmt, read_line in (("dynamodb-json", native_line_to_item),
                               ("ion", ion_line_to_item)):
            dest = S3Uri(bucket, f"out/{source.name}-{fmt}")
            result = run_convert(spark, aws, source, dest, fmt)
            keys = folder_keys(s3, dest)
            (summary,) = [k for k in keys if k.endswith("/manifest-summary.json")]
            doc = json.loads(read_object(s3, str(dest.join(summary))))
            assert doc["itemCount"] == result.items == len(table)
            data = [k for k in keys if "/data/" in k]
            lines = [line for k in data
                     for line in gzip.decompress(read_object(s3, str(dest.join(k))))
                     .decode().splitlines()]
            assert comparable_all(map(read_line, lines)) == comparable_all(table)
    target = f"converted-{unique}"
    reference = f"reference-{unique}"
    for name in (target, reference):
        sample.create_table(ddb, name)
    sample.put_items(ddb, reference, iter(table))
    importer.run(spark, importer.ImportConfig(S3Uri(bucket, "out/old-ion"), target, aws))
    assert by_key(sample.scan_all(ddb, target)) == by_key(sample.scan_all(ddb, reference))


def comparable_all(found) -> dict[str, Any]:
    return {k: comparable(v) for k, v in by_key(list(found)).items()}


def test_a_ddbpipe_export_keeps_its_table_facts(aws, spark, ddb, s3, bucket, unique):
    from ddbpipe import export

    name = f"conv-src-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(40))
    (done,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws,
                                                    output_format="ion"))
    dest = S3Uri(bucket, "as-dp")

    run_convert(spark, aws, done.folder, dest, "dp")

    side = json.loads(read_object(s3, str(dest.join(layout.SIDECAR))))
    assert side["table"] == name and side["sourceFormat"] == "native-ion"
    assert side["keySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert side["itemCount"] == 40 and "tableDefinition" in side
    assert by_key([line_to_item(line) for k in folder_keys(s3, dest)
                   if k not in (layout.MANIFEST, layout.SIDECAR, layout.SUCCESS)
                   for line in read_object(s3, str(dest.join(k))).decode().splitlines()]) == \
        by_key(sample.scan_all(ddb, name))


# --- refusals: one line, nothing written -----------------------------------------------------

def cli(capsys, *argv: str) -> tuple[int, list[str]]:
    from ddbpipe.cli import main

    code = main(list(argv))
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.fixture
def endpoints(aws, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3") or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb") or "")


def test_an_unfinished_source_is_refused(aws, s3, bucket, capsys, endpoints):
    source = S3Uri(bucket, "unfinished")
    exports.write_datapipeline(s3, source, list(sample.sample_items(5)))
    s3.delete_object(Bucket=bucket, Key=source.join(layout.SUCCESS).key)

    code, err = cli(capsys, "convert", "--from", str(source), "--to", f"s3://{bucket}/out",
                    "--format", "ion", "--region", aws.region)

    assert code == 2 and len(err) == 1 and "has no _SUCCESS" in err[0], err
    assert folder_keys(s3, S3Uri(bucket, "out")) == []
    with pytest.raises(IncompleteExport):
        convert.preflight(convert.ConvertConfig(source, S3Uri(bucket, "out"), aws))


def test_a_corrupt_line_leaves_nothing_behind(aws, spark, s3, bucket):
    source = S3Uri(bucket, "corrupt")
    urls = exports.write_datapipeline(s3, source, list(sample.sample_items(90)), per_file=30)
    bad = S3Uri.parse(urls[1])
    body = read_object(s3, urls[1]).replace(b'{"pk"', b'{"pk":', 1)
    s3.put_object(Bucket=bad.bucket, Key=bad.key, Body=body)
    dest = S3Uri(bucket, "out")

    with pytest.raises(ExportFormatError, match=f"{urls[1]} line 1:.*nothing was written"):
        run_convert(spark, aws, source, dest, "dynamodb-json", items_per_file=10)
    assert folder_keys(s3, dest) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "s3://bkt/x", "--format", "csv"], "--format 'csv' is not a format ddbpipe writes"),
    (["--to", "s3://bkt"], "is a bucket, not a folder"),
    (["--to", "s3://bkt/src/inner"], "overlap"),
    (["--format", "ion"], "--to is required"),
])
def test_bad_options(capsys, args, message):
    code, err = cli(capsys, "convert", "--from", "s3://bkt/src", *args, "--region", "us-east-1")
    assert code == 2 and len(err) == 1 and message in err[0], err
    code, err = cli(capsys, "convert", "--region", "us-east-1")
    assert code == 2 and err == ["ddbpipe: error: --from and --to are required. Name the export "
                                 "folder to read (--from) and an empty folder to write (--to)."]


def test_a_non_empty_destination_is_refused(aws, s3, bucket, capsys, endpoints):
    source = S3Uri(bucket, "fine")
    exports.write_datapipeline(s3, source, list(sample.sample_items(5)))
    s3.put_object(Bucket=bucket, Key="taken/something", Body=b"x")

    code, err = cli(capsys, "convert", "--from", str(source), "--to", f"s3://{bucket}/taken",
                    "--region", aws.region)

    assert code == 2 and len(err) == 1 and "already holds 1 objects" in err[0], err
    assert folder_keys(s3, S3Uri(bucket, "taken")) == ["something"]
