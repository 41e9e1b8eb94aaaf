"""TTL, tags, PITR, stream and table class: recorded by the export, restored by --create-table.

dynalite (the data plane of the other tests) has tags but no PITR API and no UpdateTimeToLive,
and ignores StreamSpecification and TableClass at CreateTable; moto server's DynamoDB has them
all. So the full round trip runs on dynalite (tags restored, the rest said), and recording and
restoring every setting runs against moto's DynamoDB directly (no Spark: its connector scans
would measure nothing here)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ddbpipe import export, importer, layout, tablesettings
from ddbpipe.aws import AwsConfig, client
from ddbpipe.importer.sources import Source
from ddbpipe.importer.target import create_table
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import sample
from tests.conftest import REGION
from tests.functional.conftest import read_object

pytestmark = pytest.mark.functional

TAGS = [{"Key": "team", "Value": "orders"}, {"Key": "cost-centre", "Value": "42"}]


@pytest.fixture
def moto_ddb(moto_server) -> Any:
    return client(_moto_aws(moto_server), "dynamodb")


def _moto_aws(moto_server) -> AwsConfig:
    """DynamoDB on moto server (the other tests' DynamoDB is dynalite)."""
    return AwsConfig(region=REGION, endpoints={"dynamodb": moto_server.url,
                                               "s3": moto_server.url})


def _table_with_every_setting(ddb: Any, name: str) -> dict[str, Any]:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST", Tags=TAGS,
                     StreamSpecification={"StreamEnabled": True,
                                          "StreamViewType": "NEW_AND_OLD_IMAGES"},
                     TableClass="STANDARD_INFREQUENT_ACCESS")
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True,
                                                                      "AttributeName": "expires"})
    ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True})
    return dict(ddb.describe_table(TableName=name)["Table"])


def test_every_setting_is_recorded_and_restored_on_moto(moto_server, moto_ddb, unique, capsys):
    description = _table_with_every_setting(moto_ddb, f"all-{unique}")

    settings, notes = tablesettings.read(moto_ddb, description)

    assert notes == []
    assert settings[tablesettings.TTL] == {"attributeName": "expires"}
    assert sorted(settings[tablesettings.TAGS], key=str) == sorted(TAGS, key=str)
    assert settings[tablesettings.PITR] == {"enabled": True}
    assert settings[tablesettings.STREAM] == {"StreamEnabled": True,
                                              "StreamViewType": "NEW_AND_OLD_IMAGES"}
    # moto keeps TableClass but leaves TableClassSummary out of DescribeTable: it goes to
    # CreateTable through the definition either way
    sidecar = {"tableDefinition": {**layout.table_definition(description),
                                   "TableClass": "STANDARD_INFREQUENT_ACCESS"},
               "tableSettings": settings}
    copy = f"copy-{unique}"
    cfg = importer.ImportConfig(S3Uri("b", "x"), copy, _moto_aws(moto_server),
                                create_table=True)
    create_table(moto_ddb, cfg, Source(S3Uri("b", "x"), "ddbpipe", [], sidecar=sidecar))

    out = capsys.readouterr().out
    for name in ("tags", "point-in-time recovery", "stream specification"):
        assert f"{copy}: restored {name}." in out
    assert f"{copy}: restored time to live (items already past their expiry time" in out
    made = moto_ddb.describe_table(TableName=copy)["Table"]
    assert made["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert moto_ddb.describe_time_to_live(TableName=copy)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    assert sorted(moto_ddb.list_tags_of_resource(ResourceArn=made["TableArn"])["Tags"],
                  key=str) == sorted(TAGS, key=str)
    pitr = moto_ddb.describe_continuous_backups(TableName=copy)["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_round_trip_on_dynalite_restores_tags_and_says_what_it_could_not(
        aws, spark, ddb, s3, bucket, unique, moto_ddb, capsys):
    source, copy = f"set-src-{unique}", f"set-copy-{unique}"
    sample.create_table(ddb, source)
    arn = ddb.describe_table(TableName=source)["Table"]["TableArn"]
    ddb.tag_resource(ResourceArn=arn, Tags=TAGS)
    sample.put_items(ddb, source, sample.sample_items(30))

    (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), aws))

    side = json.loads(read_object(s3, str(exp.folder.join(layout.SIDECAR))))
    assert sorted(side["tableSettings"]["tags"], key=str) == sorted(TAGS, key=str)
    assert "timeToLive" not in side["tableSettings"]  # dynalite: TTL always DISABLED
    assert side["tableSettingsNotes"] == [
        "point-in-time recovery: not recorded (the endpoint has no DescribeContinuousBackups API)"]
    # what moto's table had (TTL, PITR) added to the sidecar: dynalite cannot restore those
    recorded, _ = tablesettings.read(moto_ddb, _table_with_every_setting(moto_ddb, f"m-{unique}"))
    side["tableSettings"].update({k: recorded[k] for k in (tablesettings.TTL,
                                                           tablesettings.PITR)})
    s3.put_object(Bucket=bucket, Key=exp.folder.join(layout.SIDECAR).key,
                  Body=layout.sidecar_bytes(side))
    capsys.readouterr()

    importer.run(spark, importer.ImportConfig(exp.folder, copy, aws, create_table=True))

    out = capsys.readouterr().out
    assert f"{copy}: restored tags." in out
    assert (f"{copy}: could not restore time to live (the endpoint has no UpdateTimeToLive API); "
            f"set it with `aws dynamodb update-time-to-live --table-name {copy} "
            "--time-to-live-specification Enabled=true,AttributeName=expires`.") in out
    assert (f"{copy}: could not restore point-in-time recovery (the endpoint has no "
            "UpdateContinuousBackups API)") in out
    made_arn = ddb.describe_table(TableName=copy)["Table"]["TableArn"]
    assert sorted(ddb.list_tags_of_resource(ResourceArn=made_arn)["Tags"],
                  key=str) == sorted(TAGS, key=str)
    assert len(sample.scan_all(ddb, copy)) == 30
