"""The benchmark's own local stack: dynalite and moto server on free ports, stopped by PID."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ddbpipe.aws import AwsConfig, client
from ddbpipe_dev import localstack, sample

REGION = "us-east-1"
BUCKET = "ddbpipe-bench"
#: Capacity of the unthrottled tables: high enough that nothing plans or throttles below what
#: dynalite serves (dynalite itself never throttles).
HIGH_CAPACITY = 100_000


def set_local_credentials() -> None:
    """Fake credentials for the local servers, before any boto3 session exists."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    for var in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
        del os.environ[var]


@dataclass
class Stack:
    dynalite: localstack.Server
    moto: localstack.Server
    aws: AwsConfig = field(init=False)
    ddb: Any = field(init=False)
    s3: Any = field(init=False)

    def __post_init__(self) -> None:
        endpoints = {svc: self.moto.url for svc in ("s3", "emr", "iam", "sts", "scheduler")}
        endpoints["dynamodb"] = self.dynalite.url
        self.aws = AwsConfig(region=REGION, endpoints=endpoints)
        self.ddb = client(self.aws, "dynamodb", max_pool_connections=16)
        self.s3 = client(self.aws, "s3", max_pool_connections=16)

    @classmethod
    def start(cls, logs: Path) -> Stack:
        dyn = localstack.start_dynalite(localstack.free_port(), logs / "dynalite.log")
        try:
            moto = localstack.start_moto(localstack.free_port(), logs / "moto.log")
        except BaseException:
            localstack.stop(dyn)
            raise
        stack = cls(dyn, moto)
        stack.s3.create_bucket(Bucket=BUCKET)
        return stack

    def stop(self) -> None:
        localstack.stop(self.moto)
        localstack.stop(self.dynalite)

    def env(self) -> dict[str, str]:
        """Environment for a ``ddbpipe`` subprocess pointed at this stack."""
        env = dict(os.environ)
        env.update({
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynalite.url,
            "AWS_ENDPOINT_URL_S3": self.moto.url,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        })
        return env

    def with_dynamodb(self, url: str) -> AwsConfig:
        """This stack's endpoints with DynamoDB at ``url`` (the capacity proxy)."""
        endpoints = dict(self.aws.endpoints)
        endpoints["dynamodb"] = url
        return AwsConfig(region=REGION, endpoints=endpoints)

    def create_table(self, name: str, read: int = HIGH_CAPACITY,
                     write: int = HIGH_CAPACITY) -> None:
        self.drop_table(name)
        sample.create_table(self.ddb, name, read=read, write=write)

    def drop_table(self, name: str) -> None:
        """Delete ``name`` if it exists and wait until it is gone (frees dynalite's memory)."""
        try:
            self.ddb.delete_table(TableName=name)
        except self.ddb.exceptions.ResourceNotFoundException:
            return
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                self.ddb.describe_table(TableName=name)
            except self.ddb.exceptions.ResourceNotFoundException:
                return
            time.sleep(0.2)
        raise RuntimeError(f"table {name} was not deleted within 300 s")

    def count(self, name: str) -> int:
        """Items in ``name`` by a Select=COUNT scan (exact, unlike DescribeTable's estimate)."""
        kwargs: dict[str, Any] = {"TableName": name, "Select": "COUNT"}
        total = 0
        while True:
            page = self.ddb.scan(**kwargs)
            total += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under ``prefix`` of the bench bucket (keeps moto's memory low)."""
        paginator = self.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=BUCKET, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})
