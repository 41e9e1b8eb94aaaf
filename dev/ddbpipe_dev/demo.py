"""``make demo``: the whole product on this machine, end to end.

Starts the local stand-in (dynalite + moto server) unless it is running, creates a sample table of
every DynamoDB type, exports it through Spark and the emr-dynamodb-connector, shows the files, the
manifest and the counts, imports the export into a second table and compares the two tables item
by item. Stops the servers it started.
"""

from __future__ import annotations

import os
import sys
import time

from ddbpipe import layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe_dev import localstack, sample

REGION = "us-east-1"
BUCKET = "ddbpipe-demo"
SOURCE = "demo-source"
TARGET = "demo-restored"
ITEMS = int(os.environ.get("DDBPIPE_DEMO_ITEMS", "5000"))


def _banner(text: str) -> None:
    print(f"\n=== {text}", flush=True)


def main() -> int:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
    started = not localstack.status()
    servers = localstack.up(
        int(os.environ.get("DDBPIPE_DYNAMODB_PORT", localstack.DEFAULT_DYNAMODB_PORT)),
        int(os.environ.get("DDBPIPE_MOTO_PORT", localstack.DEFAULT_MOTO_PORT)),
    )
    try:
        return _demo({s.name: s for s in servers})
    finally:
        if started:
            localstack.down()
            print("\n(local stack stopped)")


def _demo(servers: dict[str, localstack.Server]) -> int:
    from ddbpipe import export
    from ddbpipe.job import print_summary
    from ddbpipe.s3uri import S3Uri
    from ddbpipe.spark import local_session

    moto = servers["moto"].url
    endpoints = {svc: moto for svc in ("s3", "emr", "iam", "sts", "scheduler")}
    endpoints["dynamodb"] = servers["dynamodb"].url
    aws = AwsConfig(region=REGION, endpoints=endpoints)
    _banner(f"Local stack: DynamoDB (dynalite) at {servers['dynamodb'].url}, "
            f"S3/EMR/IAM (moto) at {moto}")
    ddb, s3 = client(aws, "dynamodb"), client(aws, "s3")
    if BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=BUCKET)
    for name in (SOURCE, TARGET):
        if name in ddb.list_tables()["TableNames"]:
            ddb.delete_table(TableName=name)
            ddb.get_waiter("table_not_exists").wait(TableName=name)
    sample.create_table(ddb, SOURCE, read=2000, write=2000)
    t0 = time.monotonic()
    count = sample.put_items(ddb, SOURCE, sample.sample_items(ITEMS))
    _banner(f"Created table {SOURCE} with {count} items of every type "
            f"({time.monotonic() - t0:.1f} s)")

    _banner("Export through Spark and the emr-dynamodb-connector")
    cfg = export.ExportConfig(tables=(SOURCE,), dest=S3Uri(BUCKET), aws=aws, read_percent=1.0)
    spark = local_session(aws, "ddbpipe-demo")
    try:
        (result,) = export.run(spark, cfg, report=print_summary)
    finally:
        spark.stop()

    _banner(f"Files in {result.folder}/")
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=result.folder.prefix)["Contents"]:
        print(f"  {obj['Size']:>10}  {obj['Key'][len(result.folder.prefix):]}")
    _banner("manifest")
    body = s3.get_object(Bucket=BUCKET, Key=result.folder.join(layout.MANIFEST).key)["Body"]
    print(body.read().decode())
    first = result.files[0].url if result.files else None
    if first:
        key = S3Uri.parse(first)
        line = s3.get_object(Bucket=key.bucket, Key=key.key, Range="bytes=0-400")["Body"].read()
        _banner("first line of a data file (truncated)")
        print(line.decode("utf-8", "replace").splitlines()[0][:400])
    table_count = len(sample.scan_all(ddb, SOURCE))
    _banner(f"Counts: table {SOURCE} holds {table_count} items; export wrote {result.items} "
            f"items in {len(result.files)} files")
    if table_count != result.items:
        return 1

    _banner(f"Import {result.folder}/ into a second table, {TARGET} (created from the sidecar)")
    from ddbpipe import importer

    icfg = importer.ImportConfig(source=result.folder, table=TARGET, aws=aws,
                                 write_percent=1.0, create_table=True)
    spark = local_session(aws, "ddbpipe-demo-import")
    try:
        imported = importer.run(spark, icfg, report=print_summary)
    finally:
        spark.stop()

    source_items = {i[sample.KEY]["S"]: i for i in sample.scan_all(ddb, SOURCE)}
    target_items = {i[sample.KEY]["S"]: i for i in sample.scan_all(ddb, TARGET)}
    same = sum(1 for k, v in source_items.items() if target_items.get(k) == v)
    _banner(f"Compare: {SOURCE} holds {len(source_items)} items, {TARGET} holds "
            f"{len(target_items)}; {same} identical item by item (every attribute, every type)")
    ok = same == len(source_items) == len(target_items) == imported.written
    print("\nOK: both tables hold the same items." if ok else "\nMISMATCH", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
