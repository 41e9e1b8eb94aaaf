"""Which jars a local Spark session loads, and how (ddbpipe.spark.session_jars)."""

from __future__ import annotations

import pytest

from ddbpipe.errors import ConfigError
from ddbpipe.spark import READER_JAR, session_jars, submit_args


@pytest.fixture
def jars(tmp_path, monkeypatch):
    for name in ("gson-2.8.9.jar", "emr-dynamodb-hadoop-5.0.0.jar", READER_JAR,
                 "aws-java-sdk-bundle-1.12.262.jar"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv("DDBPIPE_JARS", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("master", ["local[*]", "local[2]", "local"])
def test_a_local_session_keeps_the_sdk_bundle_on_its_class_path(jars, master):
    """Not copied into a spark-* folder of the temporary folder per session; the connector's
    jar stays on spark.jars (its commons-lang3 must not come before Spark's)."""
    spark_jars, class_path = session_jars(master)
    assert class_path == [str(jars / "gson-2.8.9.jar"),
                          str(jars / "aws-java-sdk-bundle-1.12.262.jar")]
    assert spark_jars == [str(jars / name) for name in sorted(
        ["emr-dynamodb-hadoop-5.0.0.jar", READER_JAR])]


def test_a_cluster_master_ships_its_jars_to_the_executors(jars):
    spark_jars, class_path = session_jars("spark://127.0.0.1:7077")
    assert class_path == [str(jars / "gson-2.8.9.jar")]
    assert all(j.startswith(str(jars)) for j in spark_jars) and len(spark_jars) == 3
    assert "--master" in (args := submit_args("spark://127.0.0.1:7077")) \
        and args[args.index("--jars") + 1] == ",".join(spark_jars)


def test_a_missing_connector_is_named_with_what_to_run(jars):
    (jars / "emr-dynamodb-hadoop-5.0.0.jar").unlink()
    with pytest.raises(ConfigError, match="emr-dynamodb-connector jar") as err:
        session_jars("local[*]")
    assert "make setup" in err.value.fix
