"""Export resume: a run stopped at a random point, then ``ddbpipe export --resume``, ends with
every item of the table exactly once, and the resumed run reads only the splits that were not
finished.

Each round starts ``ddbpipe export`` in a subprocess against a capacity-enforcing DynamoDB
stand-in (so the scan lasts seconds, not a burst), waits until a random number of splits are
recorded, then stops it one of three ways: SIGKILL of the whole process group, the DynamoDB
endpoint gone, the S3 endpoint gone. The seed is printed; ``DDBPIPE_FAULT_SEED=N`` replays it.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any, Iterator

import pytest

from ddbpipe import export, layout
from ddbpipe.export import state
from ddbpipe.formats import line_to_item
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack, sample
from tests.functional.conftest import read_export
from tests.support.capacity_proxy import CapacityProxy, ProxyConfig
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.functional

SEED = int(os.environ.get("DDBPIPE_FAULT_SEED", random.SystemRandom().randrange(1 << 30)))
ITEMS = 1600
PAYLOAD = 4000  # ~0.5 RCU an item: 200 RCU read ~400 items a second, about 4 s in all
RCU = 200
KINDS = ("sigkill", "dynamodb", "s3", "sigkill", "sigkill")


def env_for(ddb_url: str, s3_url: str, region: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, AWS_REGION=region,
               AWS_ENDPOINT_URL_DYNAMODB=ddb_url, AWS_ENDPOINT_URL_S3=s3_url,
               DDBPIPE_UNREACHABLE_SECONDS="6", DDBPIPE_SPLITS_PER_TASK="8",
               DDBPIPE_PROGRESS_SECONDS="2")
    return env


def start(env: dict[str, str], *argv: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "ddbpipe.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


@pytest.fixture(scope="module")
def table(ddb: Any) -> str:
    name = f"resume-src-{random.SystemRandom().randrange(1 << 30):x}"
    sample.create_table(ddb, name, read=RCU, write=4000)
    sample.put_items(ddb, name, ({"pk": {"S": f"k{i:06d}"}, "n": {"N": str(i)},
                                  "pad": {"S": "x" * PAYLOAD}} for i in range(ITEMS)))
    return name


@pytest.fixture(scope="module")
def metered(dynalite: localstack.Server) -> Iterator[CapacityProxy]:
    with CapacityProxy(dynalite.url, port=localstack.free_port(),
                       config=ProxyConfig(burst_seconds=1.0)) as proxy:
        yield proxy


def splits_recorded(s3: Any, bucket: str, prefix: str) -> int:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get(
        "Contents", [])]
    return sum(1 for k in keys if f"/{layout.STATE_DIR}/{state.SPLIT_PREFIX}" in k)


def run_folder(s3: Any, bucket: str, prefix: str) -> S3Uri:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get(
        "Contents", [])]
    marker = next(k for k in keys if k.endswith("/" + layout.IN_PROGRESS))
    return S3Uri(bucket, marker.rsplit("/", 1)[0])


def exported_items(s3: Any, folder: S3Uri) -> list[dict[str, Any]]:
    _, files = read_export(s3, folder)
    return [line_to_item(line) for _, data in files for line in data.decode().splitlines()]


@pytest.mark.parametrize("round_", range(len(KINDS)))
def test_a_stopped_export_resumes_to_exactly_the_table(round_, aws, s3, ddb, bucket, table,
                                                       metered, moto_server, spark, capsys):
    rng = random.Random(SEED * 31 + round_)
    kind = KINDS[round_]
    total_splits = 16  # 2 tasks x DDBPIPE_SPLITS_PER_TASK
    kill_after = rng.randrange(2, total_splits - 3)
    print(f"DDBPIPE_FAULT_SEED={SEED} round {round_}: {kind} after {kill_after} splits")
    prefix = f"r{round_}"
    s3_front = TcpProxy(moto_server.url)
    ddb_front = TcpProxy(metered.url)
    try:
        env = env_for(ddb_front.url, s3_front.url, aws.region)
        proc = start(env, "export", "--table", table, "--to", f"s3://{bucket}/{prefix}",
                     "--read-percent", "1.0", "--region", aws.region)
        deadline = time.monotonic() + 180
        while splits_recorded(s3, bucket, prefix + "/") < kill_after:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the export made no progress"
            time.sleep(0.2)
        time.sleep(rng.uniform(0, 0.8))  # anywhere inside the next splits
        folder = run_folder(s3, bucket, prefix + "/")
        if kind == "sigkill":
            os.killpg(proc.pid, signal.SIGKILL)
        elif kind == "dynamodb":
            ddb_front.cut()
        else:
            s3_front.cut()
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    finally:
        s3_front.cut()
        ddb_front.cut()
    if kind == "dynamodb":  # S3 answers: the beacons say how far it got, every 2 s
        said = [line for line in out.splitlines() if line.startswith("ddbpipe: progress: ")]
        assert said and all(f": {table}: " in line and " RCU/s of 200" in line for line in said)
    if kind == "sigkill":
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 2, err[-3000:]
        last = err.strip().splitlines()[-1]
        # The writers' patience ("Nothing answers at S3 ...") or the driver's own request (a
        # split's record: "Nothing answered at <url> while writing ..."), whichever meets it first.
        assert last.startswith("ddbpipe: error: Nothing answer"), err[-3000:]
        assert f"ddbpipe export --resume {folder}" in last
    # Never taken for a finished export while it is unfinished.
    assert not any(k.endswith("/" + layout.SUCCESS) for k in
                   (o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix + "/")
                    .get("Contents", [])))

    # The resumed run in this process (its Spark session is the tests' own: one JVM start less).
    capsys.readouterr()
    (result,) = export.run(spark, export.ExportConfig(
        (), folder, replace(aws, endpoints={**aws.endpoints, "dynamodb": metered.url}),
        resume=folder))
    said = re.search(r"resuming .*: (\d+) of (\d+) splits finished \(([\d,]+) items kept\), "
                     r"(\d+) to read", capsys.readouterr().out)
    assert said
    splits_done, splits, kept = int(said[1]), int(said[2]), int(said[3].replace(",", ""))
    assert splits == total_splits and splits_done >= kill_after
    assert "items were read now" in result.summary()
    read_now = result.read_items
    # Exactly the splits that had not finished are read again: the missing share, nothing more.
    assert read_now == ITEMS - kept

    items = exported_items(s3, folder)
    keys = [i["pk"]["S"] for i in items]
    assert len(keys) == len(set(keys)) == ITEMS  # every item once
    in_table = {i["pk"]["S"]: i for i in sample.scan_all(ddb, table)}
    assert {i["pk"]["S"]: i for i in items} == in_table
    side = json.loads(s3.get_object(Bucket=bucket,
                                    Key=folder.join(layout.SIDECAR).key)["Body"].read())
    assert side["itemCount"] == ITEMS and side["resumedSplits"] == splits_done
    leftover = [o["Key"] for o in s3.list_objects_v2(
        Bucket=bucket, Prefix=folder.join(layout.STATE_DIR).prefix).get("Contents", [])]
    assert leftover == []  # the state goes once the folder is committed


def test_resume_refuses_what_it_cannot_finish(aws, s3, ddb, bucket, spark, unique, capsys,
                                              monkeypatch):
    """Each refusal before anything is read or written: exit 2, one line saying what to do."""
    from ddbpipe.cli import main

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb") or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3") or "")
    name = f"refuse-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(20))
    (done,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws))

    def refused(*argv: str) -> str:
        code = main(["export", *argv, "--region", aws.region])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and err[0].startswith("ddbpipe: error: "), err
        return err[0]

    assert "is a finished export: nothing to resume" in refused("--resume", str(done.folder))
    s3.put_object(Bucket=bucket, Key="other/data", Body=b"{}\n")
    assert "holds no run record of a stopped ddbpipe export" in refused(
        "--resume", f"s3://{bucket}/other")
    stopped = S3Uri(bucket, f"us-east-1/{name}/stopped")
    record = state.RunRecord(name, aws.region, 2, 2, 0.5, None, False, 100_000,
                             "2026-01-01T00:00:00+00:00")
    state.write_run(s3, stopped, record)
    assert f"is an export of {name}, not of other-table" in refused(
        "--resume", str(stopped), "--table", "other-table")
    state.write_run(s3, stopped, replace(record, region="eu-west-1"))
    assert "Resume it with --region eu-west-1" in refused("--resume", str(stopped))

