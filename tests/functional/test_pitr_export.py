"""``ddbpipe export --source pitr`` against moto server (its DynamoDB implements
ExportTableToPointInTime; dynalite does not): table -> point-in-time export -> run folder ->
``ddbpipe import``, item for item, and the refusal when point-in-time recovery is off."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ddbpipe import export, importer, layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.export import pitr
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.functional.conftest import folder_keys, read_object
from tests.functional.test_export import special_items
from tests.support.strategies import comparable

pytestmark = pytest.mark.functional


@pytest.fixture
def on_moto(aws, moto_server) -> AwsConfig:
    """DynamoDB and S3 both on moto server: its export writes into its own S3."""
    return AwsConfig(region=aws.region, endpoints={"dynamodb": moto_server.url,
                                                   "s3": moto_server.url})


def without_binary(value: dict[str, Any]) -> dict[str, Any]:
    ((t, v),) = value.items()
    if t == "M":
        return {"M": {k: without_binary(x) for k, x in v.items() if not is_binary(x)}}
    if t == "L":
        return {"L": [without_binary(x) for x in v if not is_binary(x)]}
    return value


def is_binary(value: dict[str, Any]) -> bool:
    return "B" in value or "BS" in value


def table_items() -> list[dict[str, Any]]:
    """Every type but binary: moto's export fails on binary values ("Object of type bytes is
    not JSON serializable"); the conversion it feeds is tested with every byte value in
    test_convert.py. The big item is big by text instead."""
    items = [without_binary({"M": i})["M"] for i in [*sample.sample_items(120), *special_items()]]
    big = next(i for i in items if i["pk"] == {"S": "big"})
    big["v"] = {"S": "x" * 300_000}
    return items


def moto_table(on_moto: AwsConfig, name: str, *, pitr_on: bool = True) -> Any:
    ddb = client(on_moto, "dynamodb")
    sample.create_table(ddb, name)
    if pitr_on:
        ddb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    sample.put_items(ddb, name, iter(table_items()), threads=1)
    return ddb


def keyed(found) -> dict[str, Any]:
    return {i["pk"]["S"]: comparable(i) for i in found}


@pytest.mark.parametrize("fmt", ["dp", "dynamodb-json"])
def test_point_in_time_export_round_trip(fmt, on_moto, aws, spark, ddb, s3, bucket, unique,
                                         monkeypatch):
    monkeypatch.setattr(pitr, "POLL_SECONDS", 0.2)
    name = f"pitr-{unique}"
    source = moto_table(on_moto, name)

    (result,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), on_moto,
                                                      source="pitr", output_format=fmt))

    assert str(result.folder).startswith(f"s3://{bucket}/us-east-1/{name}/")
    assert "no read capacity used" in result.summary()
    keys = folder_keys(s3, result.folder)
    assert layout.SUCCESS in keys and layout.SIDECAR in keys
    assert not [k for k in keys if k.startswith((layout.STATE_DIR, layout.IN_PROGRESS))]
    assert (layout.MANIFEST in keys) == (fmt == "dp")
    side = json.loads(read_object(s3, str(result.folder.join(layout.SIDECAR))))
    assert side["source"] == "pitr" and side["readCapacityUsed"] is False
    assert side["consumedReadUnits"] == 0 and side["exportArn"] and side["exportTime"]
    assert side["itemCount"] == result.items == len(table_items())
    assert side["keySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]

    target = f"from-pitr-{unique}"  # into dynalite: another region's table, say
    importer.run(spark, importer.ImportConfig(result.folder, target, aws, create_table=True))

    want = keyed(sample.scan_all(source, name))
    got = keyed(sample.scan_all(ddb, target))
    assert got.keys() == want.keys()
    for key, item in want.items():
        assert got[key] == item, key


def test_point_in_time_recovery_off_is_one_line_and_nothing_written(on_moto, s3, bucket, unique,
                                                                    capsys, monkeypatch):
    from ddbpipe.cli import main

    name = f"nopitr-{unique}"
    moto_table(on_moto, name, pitr_on=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", on_moto.endpoint("s3") or "")

    code = main(["export", "--table", name, "--to", f"s3://{bucket}", "--source", "pitr",
                 "--region", on_moto.region])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert f"Point-in-time recovery is not enabled on table {name}" in err[0]
    assert (f"aws dynamodb update-continuous-backups --table-name {name} "
            "--point-in-time-recovery-specification PointInTimeRecoveryEnabled=true") in err[0]
    assert folder_keys(s3, S3Uri(bucket)) == []


def test_a_failed_point_in_time_export_is_told_and_leaves_nothing(on_moto, spark, s3, bucket,
                                                                 unique, monkeypatch):
    name = f"pitrfail-{unique}"
    moto_table(on_moto, name)
    monkeypatch.setattr(pitr, "POLL_SECONDS", 0.2)
    real = pitr.wait

    def failed(ddb, arn, table, **kw):
        real(ddb, arn, table, **kw)
        return {"ExportStatus": "COMPLETED", "ItemCount": 1}  # DynamoDB counts otherwise

    monkeypatch.setattr(pitr, "wait", failed)
    with pytest.raises(Exception, match="counts 1 items but its files hold .* was emptied"):
        export.run(spark, export.ExportConfig((name,), S3Uri(bucket), on_moto, source="pitr"))
    assert folder_keys(s3, S3Uri(bucket)) == []


@pytest.mark.parametrize(("args", "message"), [
    (["--export-time", "2026-01-01T00:00:00Z"], "--export-time needs --source pitr"),
    (["--source", "pitr", "--export-time", "yesterday"], "--export-time 'yesterday' is not a time"),
    (["--source", "backup"], "--source 'backup' is not a source ddbpipe reads"),
])
def test_bad_options(capsys, args, message):
    from ddbpipe.cli import main

    code = main(["export", "--table", "t1x", "--to", "s3://bkt", "--region", "us-east-1", *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_wait_tells_progress_and_a_failure():
    class Fake:
        def __init__(self, states):
            self.states = list(states)

        def describe_export(self, ExportArn):
            return {"ExportDescription": self.states.pop(0)}

    said: list[str] = []
    clock = iter(range(0, 1000, 6))
    done = pitr.wait(Fake([{"ExportStatus": "IN_PROGRESS"}] * 3 + [{"ExportStatus": "COMPLETED"}]),
                     "arn:x", "T", sleep=lambda s: None, clock=lambda: next(clock),
                     say=said.append)
    assert done["ExportStatus"] == "COMPLETED"
    assert said and all(line.startswith("ddbpipe: progress: T: point-in-time export in_progress")
                        for line in said)
    from ddbpipe.errors import JobFailed

    with pytest.raises(JobFailed, match="failed: S3NoSuchBucket: gone"):
        pitr.wait(Fake([{"ExportStatus": "FAILED", "FailureCode": "S3NoSuchBucket",
                         "FailureMessage": "gone"}]), "arn:x", "T", sleep=lambda s: None)
