"""Spark start-up, measured in a fresh process: ``python -m bench.spark_probe`` prints JSON with
the seconds to create ddbpipe's local session and to run a trivial first job."""

from __future__ import annotations

import json
import sys
import time


def main() -> int:
    started = time.monotonic()
    from ddbpipe.aws import AwsConfig
    from ddbpipe.spark import local_session

    imported = time.monotonic()
    spark = local_session(AwsConfig(region="us-east-1"), "ddbpipe-bench-startup")
    created = time.monotonic()
    spark.sparkContext.parallelize(range(1000), 2).count()
    first_job = time.monotonic()
    spark.stop()
    print(json.dumps({"import": imported - started, "session": created - imported,
                      "first_job": first_job - created, "total": first_job - started}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
