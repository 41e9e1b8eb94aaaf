from datetime import datetime, timezone

import pytest

from ddbpipe import layout
from ddbpipe.errors import ConfigError
from ddbpipe.s3uri import S3Uri


def test_manifest_bytes_exact():
    got = layout.manifest_bytes(["s3://b/p/u1", "s3://b/p/u2"])
    assert got == (
        b'{"name":"DynamoDB-export","version":3,\n"entries": [\n'
        b'{"url":"s3://b/p/u1","mandatory":true},\n'
        b'{"url":"s3://b/p/u2","mandatory":true}\n]}'
    )


def test_manifest_of_empty_export_and_round_trip():
    empty = b'{"name":"DynamoDB-export","version":3,\n"entries": [\n\n]}'
    assert layout.manifest_bytes([]) == empty
    urls = ["s3://bucket/a/b/0f9e", "s3://bucket/a/b/1a2b.gz"]
    assert layout.parse_manifest(layout.manifest_bytes(urls)) == urls


def test_parse_manifest_rejects_other_json():
    with pytest.raises(ValueError):
        layout.parse_manifest(b'{"entries": [{"nourl": 1}]}')
    with pytest.raises(ValueError):
        layout.parse_manifest(b"[]")


def test_run_timestamp_is_utc_and_sortable():
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert layout.run_timestamp(when) == "2026-01-02-03-04-05"


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("s3://bkt", "s3://bkt/eu-west-1/Orders/2026-01-02-03-04-05"),
        ("s3://bkt/", "s3://bkt/eu-west-1/Orders/2026-01-02-03-04-05"),
        ("s3://bkt/backups/daily/", "s3://bkt/backups/daily/Orders/2026-01-02-03-04-05"),
    ],
)
def test_run_folder(dest, expected):
    folder = layout.run_folder(S3Uri.parse(dest), "eu-west-1", "Orders", "2026-01-02-03-04-05")
    assert str(folder) == expected


@pytest.mark.parametrize("bad", ["bkt/prefix", "http://bkt/x", "s3://", "s3://A_B/x", "s3://ab/x"])
def test_s3uri_rejects(bad):
    with pytest.raises(ConfigError, match="S3 URI|bucket"):
        S3Uri.parse(bad)


def test_s3uri_parts():
    uri = S3Uri.parse("s3://my.bucket-1//a//b/")
    assert (uri.bucket, uri.key, uri.prefix, uri.name) == ("my.bucket-1", "a/b", "a/b/", "b")
    assert str(uri.join("c", "/d/")) == "s3://my.bucket-1/a/b/c/d"
    assert S3Uri.parse("s3://bkt").prefix == ""


def test_table_definition_keeps_what_recreates_the_table():
    desc = {
        "TableName": "T",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6,
                                  "NumberOfDecreasesToday": 0},
        "GlobalSecondaryIndexes": [{
            "IndexName": "g", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}, "IndexStatus": "ACTIVE", "IndexSizeBytes": 9,
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1,
                                      "NumberOfDecreasesToday": 0},
        }],
        "TableStatus": "ACTIVE",
        "ItemCount": 3,
    }
    got = layout.table_definition(desc)
    assert got == {
        "TableName": "T",
        "KeySchema": desc["KeySchema"],
        "AttributeDefinitions": desc["AttributeDefinitions"],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
        "GlobalSecondaryIndexes": [{
            "IndexName": "g", "KeySchema": desc["KeySchema"],
            "Projection": {"ProjectionType": "ALL"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        }],
    }
