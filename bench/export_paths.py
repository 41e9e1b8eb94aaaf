"""Which path should items take from the connector to the export files? Measured side by side.

    .venv/bin/python -m bench.export_paths [--items 50000] [--runs 3]

* ``pipe`` (what ddbpipe does): ``JavaRDD.pipe`` of each item's export line into a Python
  partition writer that streams UUID-named files to S3 (``ddbpipe.export.run``).
* ``jvm``: the JVM-only path, ``saveAsTextFile`` of the same lines through S3A (``part-NNNNN``
  names, Hadoop's rename-based commit; no manifest, no 100,000-item roll-over).

Both read the same table through the connector at the same (non-limiting) capacity; runs
alternate so machine noise hits both. Prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ddbpipe import capacity, export
from ddbpipe.aws import AwsConfig, client, frozen_credentials
from ddbpipe.s3uri import S3Uri
from ddbpipe.spark import connector_items, local_session
from ddbpipe.tables import describe
from ddbpipe_dev import localstack, sample


def bench_item(i: int) -> dict:
    return {"pk": {"S": f"k{i:09d}"}, "n": {"N": str(i * 7)}, "s": {"S": "v" * 60},
            "b": {"B": bytes([i % 256]) * 16}, "ss": {"SS": ["a", "b"]},
            "m": {"M": {"x": {"N": "1.5"}, "ok": {"BOOL": True}}}}


def jvm_path(spark, aws: AwsConfig, table: str, dest: str) -> float:
    ddb = client(aws, "dynamodb")
    info = describe(ddb, table, aws.region)
    plan = capacity.plan_read(info, 1.5, spark.sparkContext.defaultParallelism, 100_000)
    conf = capacity.read_conf(info, plan, endpoint=aws.endpoint("dynamodb"), yarn=False,
                              credentials=frozen_credentials(aws))
    t0 = time.monotonic()
    connector_items(spark, conf, plan.tasks).saveAsTextFile(dest)
    return time.monotonic() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="ddbpipe-bench-"))
    dyn = localstack.start_dynalite(localstack.free_port(), logs / "dynalite.log")
    moto = localstack.start_moto(localstack.free_port(), logs / "moto.log")
    try:
        endpoints = {s: moto.url for s in ("s3", "emr", "iam", "sts", "scheduler")}
        aws = AwsConfig("us-east-1", {**endpoints, "dynamodb": dyn.url})
        ddb, s3 = client(aws, "dynamodb"), client(aws, "s3")
        s3.create_bucket(Bucket="paths")
        sample.create_table(ddb, "paths", read=100_000, write=100_000)
        sample.put_items(ddb, "paths", (bench_item(i) for i in range(args.items)))
        spark = local_session(aws, "bench-export-paths")
        times: dict[str, list[float]] = {"pipe": [], "jvm": []}
        for run in range(args.runs):
            cfg = export.ExportConfig(("paths",), S3Uri("paths", f"pipe{run}"), aws,
                                      read_percent=1.5, read_capacity=100_000)
            (result,) = export.run(spark, cfg)
            assert result.items == args.items
            times["pipe"].append(result.scan_seconds)
            times["jvm"].append(jvm_path(spark, aws, "paths", f"s3://paths/jvm{run}"))
        spark.stop()
        pipe, jvm = statistics.median(times["pipe"]), statistics.median(times["jvm"])
        print(f"items {args.items}, runs {args.runs} (alternating)")
        print(f"pipe (ddbpipe):   median {pipe:.2f} s = {args.items / pipe:.0f} items/s  "
              f"{times['pipe']}")
        print(f"jvm saveAsTextFile: median {jvm:.2f} s = {args.items / jvm:.0f} items/s  "
              f"{times['jvm']}")
        print(f"ratio pipe/jvm throughput: {jvm / pipe:.2f}")
    finally:
        localstack.stop(dyn)
        localstack.stop(moto)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
