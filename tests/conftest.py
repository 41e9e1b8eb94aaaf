"""Session-wide local servers: dynalite (DynamoDB) and moto server (S3, EMR, IAM, STS, Scheduler).

Each is started once per test session on a free 127.0.0.1 port and stopped by its PID at the end.
Tests get an :class:`~ddbpipe.aws.AwsConfig` pointing at them and never touch the internet.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

from ddbpipe.aws import AwsConfig
from ddbpipe.errors import EndpointUnreachable
from ddbpipe_dev import localstack

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"

# Fake credentials for the local servers; set before any boto3 session exists.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
for var in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
    del os.environ[var]


@pytest.fixture(scope="session", autouse=True)
def spark_local_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Spark's scratch folders, for this process and every ``ddbpipe`` it starts, under pytest's
    temporary folder (which pytest prunes) instead of /tmp: tests kill exports on purpose, and a
    killed JVM leaves its spark-* folder (the local copies of spark.jars) behind."""
    folder = tmp_path_factory.mktemp("spark-local")
    before = os.environ.get("SPARK_LOCAL_DIRS")
    os.environ["SPARK_LOCAL_DIRS"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("SPARK_LOCAL_DIRS", None)
    else:
        os.environ["SPARK_LOCAL_DIRS"] = before


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


def start(starter: Callable[[int, Path], localstack.Server], log: Path) -> localstack.Server:
    """Start a server on a free port; ``make test`` runs several pytest workers, each with its own
    servers, so a port found free can be taken by another worker before ours binds it: try anew."""
    for attempt in range(3):
        try:
            return starter(localstack.free_port(), log)
        except EndpointUnreachable:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def dynalite(logs_dir: Path) -> Iterator[localstack.Server]:
    server = start(localstack.start_dynalite, logs_dir / "dynalite.log")
    yield server
    localstack.stop(server)


@pytest.fixture(scope="session")
def moto_server(logs_dir: Path) -> Iterator[localstack.Server]:
    server = start(localstack.start_moto, logs_dir / "moto.log")
    yield server
    localstack.stop(server)


@pytest.fixture(scope="session")
def aws(dynalite: localstack.Server, moto_server: localstack.Server) -> AwsConfig:
    """Endpoints of the local stack: DynamoDB on dynalite, everything else on moto server."""
    endpoints = {svc: moto_server.url for svc in ("s3", "emr", "iam", "sts", "scheduler")}
    endpoints["dynamodb"] = dynalite.url
    return AwsConfig(region=REGION, endpoints=endpoints)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for table and bucket names."""
    return uuid.uuid4().hex[:10]
