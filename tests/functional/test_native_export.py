"""``ddbpipe export --format dynamodb-json|ion``: DynamoDB's own Export to S3 layout, read back by
moto's ImportTable (as AWS's would) and by ``ddbpipe import``, item for item."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import sys
import time
from typing import Any

import pytest

from ddbpipe import export, importer, layout, native_layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.errors import ConfigError, IncompleteExport, JobFailed
from ddbpipe.formats import ion_line_to_item, item_to_native_line, native_line_to_item
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.functional.conftest import folder_keys, read_object
from tests.functional.test_export import special_items

pytestmark = pytest.mark.functional


def items_of(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in sample.scan_all(ddb, table)}


@pytest.fixture
def source(ddb, unique) -> str:
    """A table of every type and the edge cases: 38-digit numbers, all 256 byte values, empty
    L/M, 20 levels of nesting, a ~400 KB item."""
    name = f"native-src-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, iter([*sample.sample_items(300), *special_items()]))
    return name


def run_export(spark, aws, table: str, bucket: str, fmt: str, **kw) -> export.TableResult:
    cfg = export.ExportConfig((table,), S3Uri(bucket, "native"), aws, output_format=fmt, **kw)
    (result,) = export.run(spark, cfg)
    return result


def layout_of(s3, folder: S3Uri) -> tuple[str, list[str]]:
    """(export id, object names under AWSDynamoDB/<id>/) of a native run folder."""
    keys = folder_keys(s3, folder)
    ids = {k.split("/")[1] for k in keys if k.startswith("AWSDynamoDB/")}
    assert len(ids) == 1, keys
    (export_id,) = ids
    prefix = f"AWSDynamoDB/{export_id}/"
    assert sorted(k for k in keys if not k.startswith(prefix)) == [
        layout.SUCCESS, layout.SIDECAR]  # no Data Pipeline manifest, no marker, no state
    return export_id, [k[len(prefix):] for k in keys if k.startswith(prefix)]


@pytest.mark.parametrize("fmt", ["dynamodb-json", "ion"])
def test_native_layout_as_the_service_writes_it(fmt, aws, spark, ddb, s3, bucket, source):
    result = run_export(spark, aws, source, bucket, fmt, items_per_file=120)

    export_id, names = layout_of(s3, result.folder)
    assert len(export_id) == 23 and export_id[14] == "-"
    ext = native_layout.EXTENSION[fmt]
    data = [n for n in names if n.startswith("data/")]
    assert sorted(set(names) - set(data)) == [
        "_started", "manifest-files.checksum", "manifest-files.json",
        "manifest-summary.checksum", "manifest-summary.json"]
    assert all(n.endswith(ext) and len(n) == len("data/") + 26 + len(ext) for n in data)
    base = result.folder.join("AWSDynamoDB", export_id)

    summary = json.loads(read_object(s3, str(base.join("manifest-summary.json"))))
    table_arn = ddb.describe_table(TableName=source)["Table"]["TableArn"]
    assert summary["itemCount"] == result.items == 304
    assert summary["outputFormat"] == native_layout.SERVICE_FORMAT[fmt]
    assert summary["tableArn"] == table_arn
    assert summary["exportArn"] == f"{table_arn}/export/{export_id}"
    assert summary["s3Bucket"] == bucket and summary["s3Prefix"] == result.folder.key
    assert summary["manifestFilesS3Key"] == base.join("manifest-files.json").key
    assert {"version", "startTime", "endTime", "exportTime", "tableId", "billedSizeBytes",
            "s3SseAlgorithm", "s3SseKmsKeyId"} <= summary.keys()
    listed = read_object(s3, str(base.join("manifest-files.json")))
    assert read_object(s3, str(base.join("manifest-files.checksum"))) == \
        hashlib.md5(listed).hexdigest().encode()

    entries = [json.loads(line) for line in listed.splitlines()]
    assert sorted(e["dataFileS3Key"] for e in entries) == sorted(base.join(n).key for n in data)
    read_line = ion_line_to_item if fmt == "ion" else native_line_to_item
    seen: dict[str, dict[str, Any]] = {}
    for entry in entries:
        body = s3.get_object(Bucket=bucket, Key=entry["dataFileS3Key"])
        stored = body["Body"].read()
        assert entry["etag"] == body["ETag"].strip('"')
        assert entry["md5Checksum"] == base64.b64encode(hashlib.md5(stored).digest()).decode()
        lines = gzip.decompress(stored).decode("utf-8").splitlines()
        assert len(lines) == entry["itemCount"] <= 120
        for line in lines:
            if fmt == "ion":
                assert line.startswith("$ion_1_0 {Item:{")
            item = read_line(line)
            seen[item["pk"]["S"]] = item
    assert sum(e["itemCount"] for e in entries) == 304
    assert seen.keys() == items_of(ddb, source).keys()

    sidecar = json.loads(read_object(s3, str(result.folder.join(layout.SIDECAR))))
    assert sidecar["outputFormat"] == fmt and sidecar["exportId"] == export_id
    assert sidecar["importTable"]["S3KeyPrefix"] == base.join("data").prefix


def _import_with_moto(aws_moto: AwsConfig, bucket: str, prefix: str, table: str) -> Any:
    ddb = client(aws_moto, "dynamodb")
    started = ddb.import_table(
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": prefix},
        InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
        TableCreationParameters={
            "TableName": table, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]})
    arn = started["ImportTableDescription"]["ImportArn"]
    for _ in range(300):
        desc = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if desc["ImportStatus"] != "IN_PROGRESS":
            break
        time.sleep(0.2)
    assert desc["ImportStatus"] == "COMPLETED", desc.get("FailureMessage")
    return ddb


def moto_readable(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` without what moto's ImportTable cannot read (see the test below): strings that
    need JSON escapes, and empty maps."""
    def keep(av: dict[str, Any]) -> dict[str, Any]:
        ((t, v),) = av.items()
        if t == "S":
            return {"S": "".join("_" if c < " " or c in '"\\' else c for c in v)}
        if t == "M":
            return {"M": {k: keep(x) for k, x in v.items() if x != {"M": {}}}}
        if t == "L":
            return {"L": [keep(x) for x in v if x != {"M": {}}]}
        return av

    return keep({"M": item})["M"]


def test_aws_import_table_reads_it_as_is(aws, moto_server, spark, ddb, s3, bucket, unique):
    """ImportTable (moto's, on the moto server that also serves S3) makes a new table from the
    export's data/ prefix: every item identical to the source table's.

    moto reads the lines with py_partiql_parser's JsonParser, which does not undo JSON escapes
    (``"a\\"b"`` comes back as ``a\\``) and drops the rest of a file after an empty object
    (``{"M":{}}``), and it sizes a binary value by its base64 text (a 358 KB value is 478 KB to
    it); AWS's ImportTable reads JSON. So this table has every type and edge case (38 digits, all
    256 byte values, 20 levels, a 270 KB item, empty L, empty B and S) but no string that needs
    an escape and no empty map; ddbpipe's own reader covers those (below)."""
    name = f"plain-{unique}"
    sample.create_table(ddb, name)
    items = [moto_readable(i) for i in [*sample.sample_items(200), *special_items()]]
    big = next(i for i in items if i["pk"] == {"S": "big"})
    big["v"] = {"B": bytes(range(256)) * 900}
    assert not any("\\" in item_to_native_line(i) or "{}" in item_to_native_line(i)
                   for i in items)
    sample.put_items(ddb, name, iter(items))
    result = run_export(spark, aws, name, bucket, "dynamodb-json", items_per_file=50)
    sidecar = json.loads(read_object(s3, str(result.folder.join(layout.SIDECAR))))
    moto = AwsConfig(region=aws.region, endpoints={"dynamodb": moto_server.url,
                                                   "s3": moto_server.url})

    moto_ddb = _import_with_moto(moto, bucket, sidecar["importTable"]["S3KeyPrefix"],
                                 f"imported-{unique}")

    got = items_of(moto_ddb, f"imported-{unique}")
    want = items_of(ddb, name)
    assert len(want) == 204
    assert got.keys() == want.keys()
    for key, item in want.items():
        assert got[key] == item, key


@pytest.mark.parametrize("fmt", ["dynamodb-json", "ion"])
def test_ddbpipe_imports_both_formats_item_by_item(fmt, aws, spark, ddb, s3, bucket, source,
                                                   unique):
    result = run_export(spark, aws, source, bucket, fmt)
    target = f"native-dst-{unique}"

    done = importer.run(spark, importer.ImportConfig(result.folder, target, aws,
                                                     create_table=True))

    assert done.source.format == ("native-ion" if fmt == "ion" else "native-json")
    assert done.source.key_schema == [{"AttributeName": "pk", "KeyType": "HASH"}]
    want = items_of(ddb, source)
    got = items_of(ddb, target)
    assert got.keys() == want.keys()
    for key, item in want.items():
        assert got[key] == item, key


def test_an_unfinished_native_export_is_refused_by_import(aws, spark, s3, bucket, source,
                                                          monkeypatch, ddb, unique):
    """A run stopped mid-way keeps its data files and marker: ddbpipe import refuses it in one
    line, nothing is written."""
    result = run_export(spark, aws, source, bucket, "dynamodb-json")
    marker = result.folder.join(layout.IN_PROGRESS)
    s3.put_object(Bucket=marker.bucket, Key=marker.key, Body=b"")
    s3.delete_object(Bucket=bucket, Key=result.folder.join(layout.SUCCESS).key)
    target = f"never-{unique}"
    sample.create_table(ddb, target)

    with pytest.raises(IncompleteExport, match="_ddbpipe-in-progress.*Nothing was written"):
        importer.run(spark, importer.ImportConfig(result.folder, target, aws))
    assert sample.scan_all(ddb, target) == []


def test_a_stopped_native_export_resumes_in_its_format(aws, spark, ddb, s3, bucket, source,
                                                       monkeypatch):
    """The run record keeps the format and the export id: ``--resume`` finishes the same
    ``AWSDynamoDB/<id>/`` (its ``_started`` kept), and refuses another ``--format``."""
    failing = [sys.executable, "-c", "import sys; sys.stdin.read(); sys.exit(3)"]
    with monkeypatch.context() as patched:
        patched.setattr(export.driver, "_writer_command", lambda spark: failing)
        with pytest.raises(JobFailed, match="ddbpipe export --resume"):
            run_export(spark, aws, source, bucket, "ion", timestamp="2026-01-01-00-00-00")
    folder = S3Uri(bucket, f"native/{source}/2026-01-01-00-00-00")
    stopped = folder_keys(s3, folder)
    (started,) = [k for k in stopped if k.endswith("/_started")]
    assert layout.IN_PROGRESS in stopped and layout.SUCCESS not in stopped

    with pytest.raises(ConfigError, match="in the ion format, not dynamodb-json"):
        export.run(spark, export.ExportConfig((), folder, aws, resume=folder,
                                              output_format="dynamodb-json"))
    (result,) = export.run(spark, export.ExportConfig((), folder, aws, resume=folder))

    export_id, names = layout_of(s3, result.folder)
    assert started == f"AWSDynamoDB/{export_id}/_started"
    assert all(n.endswith(".ion.gz") for n in names if n.startswith("data/"))
    summary = json.loads(read_object(
        s3, str(folder.join("AWSDynamoDB", export_id, "manifest-summary.json"))))
    assert summary["outputFormat"] == "ION" and summary["itemCount"] == 304
