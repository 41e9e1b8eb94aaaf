"""Spark, S3 and wheel helpers for the functional tests (servers come from tests/conftest.py),
and a moto server with AWS's managed IAM policies for the modules that set up roles."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from ddbpipe import layout
from ddbpipe.aws import AwsConfig, client
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack

#: The region of the module-scoped moto server below.
MOTO_REGION = "us-east-1"


@pytest.fixture(scope="module")
def iam_moto(logs_dir: Path) -> Iterator[localstack.Server]:
    """A moto server of the module's own, with AWS's managed policies loaded (the roles get
    AmazonEMRServicePolicy_v2 and AmazonElasticMapReduceforEC2Role attached)."""
    previous = os.environ.get("MOTO_IAM_LOAD_MANAGED_POLICIES")
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    try:
        server = localstack.start_moto(localstack.free_port(), logs_dir / "moto-iam.log")
    finally:
        if previous is None:
            del os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"]
        else:
            os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = previous
    yield server
    localstack.stop(server)


@pytest.fixture(scope="module")
def moto_aws(iam_moto: localstack.Server) -> AwsConfig:
    return AwsConfig(MOTO_REGION, {svc: iam_moto.url for svc in (
        "s3", "emr", "iam", "sts", "scheduler", "sqs", "dynamodb", "datapipeline")})


@pytest.fixture(scope="session")
def spark(aws: AwsConfig) -> Iterator[Any]:
    from ddbpipe.spark import local_session

    session = local_session(aws, "ddbpipe-tests", "local[2]")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The wheel of this checkout and its pinned requirements, built once per test session as
    `ddbpipe emr` builds them (``python -m build --wheel`` on a clean copy of the checkout)."""
    from ddbpipe.commands.emr import build_artifacts

    return build_artifacts(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="session")
def ddb(aws: AwsConfig) -> Any:
    return client(aws, "dynamodb")


@pytest.fixture(scope="session")
def s3(aws: AwsConfig) -> Any:
    return client(aws, "s3")


@pytest.fixture
def bucket(s3: Any, unique: str) -> str:
    name = f"bkt-{unique}"
    s3.create_bucket(Bucket=name)
    return name


def folder_keys(s3: Any, folder: S3Uri) -> list[str]:
    """Object names (relative to the folder) under ``folder``."""
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=folder.bucket,
                                                             Prefix=folder.prefix):
        out.extend(o["Key"][len(folder.prefix):] for o in page.get("Contents", []))
    return sorted(out)


def read_object(s3: Any, url: str) -> bytes:
    uri = S3Uri.parse(url)
    return bytes(s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read())


def read_export(s3: Any, folder: S3Uri) -> tuple[list[str], list[tuple[str, bytes]]]:
    """(manifest URLs, [(url, data file bytes)]) of a finished export folder."""
    urls = layout.parse_manifest(read_object(s3, str(folder.join(layout.MANIFEST))))
    return urls, [(u, read_object(s3, u)) for u in urls]
