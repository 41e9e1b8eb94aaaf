"""Never a silent partial import; every failure is one line; a signal is an interruption.

Each case goes through the command line as a user runs it: ``ddbpipe import|export`` in a
subprocess (so signals reach a real process) against dynalite and moto server, or in-process for
the checks that refuse before Spark starts. Each asserts the one line the user gets, the exit
status, and that nothing was written or left behind that the message does not mention.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from ddbpipe import layout
from ddbpipe.aws import AwsConfig
from ddbpipe.cli import main
from ddbpipe.s3uri import S3Uri
from ddbpipe_dev import localstack, sample
from tests.support import exports
from tests.support.capacity_proxy import CapacityProxy, Faults, ProxyConfig

pytestmark = pytest.mark.functional


def env_for(aws: AwsConfig, **endpoints: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, AWS_REGION=aws.region,
               AWS_ENDPOINT_URL_DYNAMODB=endpoints.get("dynamodb") or aws.endpoint("dynamodb"),
               AWS_ENDPOINT_URL_S3=endpoints.get("s3") or aws.endpoint("s3"))
    return env


#: How long nothing may answer before a run names the endpoint (60 s by default; the tests of a
#: lost endpoint set it shorter through its environment variable, the default is unit-tested).
UNREACHABLE = "12"


def start(aws: AwsConfig, *argv: str, **endpoints: str) -> subprocess.Popen[str]:
    env = env_for(aws, **endpoints)
    env["DDBPIPE_UNREACHABLE_SECONDS"] = UNREACHABLE
    return subprocess.Popen([sys.executable, "-m", "ddbpipe.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def cli(aws: AwsConfig, *argv: str, timeout: float = 300, **endpoints: str
        ) -> tuple[int, str, str]:
    proc = start(aws, *argv, **endpoints)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def one_line(out: str, err: str, limit: int = 3) -> str:
    """The user's view of a failure: a few lines, no trace; returns the last (the error)."""
    lines = [line for line in (out + err).splitlines()
             if line.strip() and not line.startswith("ddbpipe: progress: ")]
    assert "Traceback" not in out + err, (out + err)[-3000:]
    assert "py4j" not in (out + err).lower(), (out + err)[-3000:]
    assert len(lines) <= limit, "\n".join(lines)
    return err.strip().splitlines()[-1]


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, one_line(captured.out, captured.err)


def items_of(ddb: Any, table: str) -> list[dict[str, Any]]:
    return sample.scan_all(ddb, table)


@pytest.fixture
def target(ddb: Any, unique: str) -> str:
    name = f"safe-{unique}"
    sample.create_table(ddb, name, read=1000, write=1000)
    return name


def aws_args(aws: AwsConfig) -> list[str]:
    return ["--region", aws.region]


def local_env(aws: AwsConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process CLI runs against the test servers."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb") or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3") or "")


# --- 1. completion rules --------------------------------------------------------------------

def _unfinished(kind: str, s3: Any, bucket: str) -> S3Uri:
    items = list(sample.sample_items(300))
    folder = S3Uri(bucket, f"unfinished/{kind}")
    if kind == "success-removed":
        exports.write_datapipeline(s3, folder, items)
        s3.delete_object(Bucket=bucket, Key=folder.join(layout.SUCCESS).key)
    elif kind == "killed-export":  # what a SIGKILLed ddbpipe export leaves
        exports.write_datapipeline(s3, folder, items[:120], manifest=False)
        s3.delete_object(Bucket=bucket, Key=folder.join(layout.SUCCESS).key)
        s3.put_object(Bucket=bucket, Key=folder.join(layout.IN_PROGRESS).key, Body=b"x")
    elif kind == "native-running":
        base = exports.write_native(s3, folder, items)
        s3.delete_object(Bucket=bucket, Key=base.join("manifest-summary.json").key)
    return folder


@pytest.mark.parametrize("kind, says", [
    ("success-removed", "has no _SUCCESS"),
    ("killed-export", "holds _ddbpipe-in-progress"),
    ("native-running", "has no manifest-summary.json"),
])
def test_unfinished_exports_are_refused(kind, says, aws, s3, ddb, bucket, target, capsys,
                                        monkeypatch):
    local_env(aws, monkeypatch)
    folder = _unfinished(kind, s3, bucket)
    code, line = in_process(capsys, "import", "--from", str(folder), "--table", target,
                            *aws_args(aws))
    assert code == 2
    assert line.startswith("ddbpipe: error: ") and says in line
    assert "--allow-incomplete" in line and "Nothing was written" in line
    assert items_of(ddb, target) == []


def test_allow_incomplete_imports_what_is_there_and_says_so(aws, s3, ddb, bucket, target):
    folder = _unfinished("killed-export", s3, bucket)
    code, out, err = cli(aws, "import", "--from", str(folder), "--table", target,
                         "--allow-incomplete", *aws_args(aws))
    assert code == 0, err[-3000:]
    assert "WARNING: importing an unfinished export" in out
    assert "WARNING: INCOMPLETE EXPORT imported" in out  # in the final report line too
    assert len(items_of(ddb, target)) == 120


def test_hive_output_has_no_marker_and_imports_with_a_note(aws, spark, s3, ddb, bucket, target):
    from ddbpipe import importer

    folder = S3Uri(bucket, "hive/out")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(50)), hive=True,
                               manifest=False)
    s3.delete_object(Bucket=bucket, Key=folder.join(layout.SUCCESS).key)
    result = importer.run(spark, importer.ImportConfig(folder, target, aws))
    assert result.written == 50
    assert any("Hive output, which never carries a completion marker" in n for n in result.notes)


def test_folder_markers_are_not_data(aws, spark, s3, ddb, bucket, target):
    from ddbpipe import importer

    folder = S3Uri(bucket, "console/run")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(40)), manifest=False)
    for key in ("console/", "console/run/", "console/run/empty/"):  # as the S3 console makes
        s3.put_object(Bucket=bucket, Key=key, Body=b"")
    result = importer.run(spark, importer.ImportConfig(folder, target, aws))
    assert result.written == 40 and len(result.source.files) == 1


# --- 2. every compressed file is read to its end ---------------------------------------------

def _gzip_folder(s3: Any, bucket: str, name: str) -> tuple[S3Uri, str, bytes]:
    folder = S3Uri(bucket, f"gz/{name}")
    urls = exports.write_datapipeline(s3, folder, list(sample.sample_items(600)), per_file=300,
                                      compress=True)
    uri = S3Uri.parse(urls[1])
    return folder, urls[1], bytes(s3.get_object(Bucket=bucket, Key=uri.key)["Body"].read())


def _line_boundary_cut(body: bytes) -> bytes:
    """The same gzip stream cut after a whole line: valid deflate data, no end, no trailer."""
    import zlib

    lines = gzip.decompress(body).splitlines(keepends=True)
    deflate = zlib.compressobj(6, zlib.DEFLATED, 31)
    cut = deflate.compress(b"".join(lines[:len(lines) // 2]))
    return cut + deflate.flush(zlib.Z_SYNC_FLUSH)


@pytest.mark.parametrize("damage", ["line-boundary", "random-byte", "corrupt"])
@pytest.mark.parametrize("validation", ["validate", "skip-validation"])
def test_damaged_gzip_is_refused(damage, validation, aws, s3, ddb, bucket, target):
    folder, url, body = _gzip_folder(s3, bucket, f"{damage}-{validation}")
    if damage == "line-boundary":
        bad = _line_boundary_cut(body)
    elif damage == "random-byte":
        bad = body[:len(body) * 2 // 3 + 7]
    else:
        flipped = bytearray(body)
        flipped[len(body) // 2] ^= 0x55
        bad = bytes(flipped)
    s3.put_object(Bucket=bucket, Key=S3Uri.parse(url).key, Body=bad)
    extra = ["--skip-validation"] if validation == "skip-validation" else []
    code, out, err = cli(aws, "import", "--from", str(folder), "--table", target,
                         *extra, *aws_args(aws))
    line = one_line(out, err)
    assert code == 2, err[-3000:]
    assert line.startswith(f"ddbpipe: error: {url} ")
    assert "truncated" in line or "not a valid gzip file" in line
    if validation == "validate":
        assert "Nothing was written" in line and items_of(ddb, target) == []
    else:
        assert "holds part of the export" in line and "safe" in line


def test_a_file_shorter_than_its_count_is_refused(aws, spark, s3, ddb, bucket, unique, target):
    from ddbpipe import export, importer
    from ddbpipe.errors import ExportFormatError

    name = f"count-{unique}"
    sample.create_table(ddb, name)
    sample.put_items(ddb, name, sample.sample_items(200))
    (exp,) = export.run(spark, export.ExportConfig((name,), S3Uri(bucket), aws))
    url, count = exp.files[0].url, exp.files[0].items
    uri = S3Uri.parse(url)
    lines = s3.get_object(Bucket=bucket, Key=uri.key)["Body"].read().splitlines(keepends=True)
    s3.put_object(Bucket=bucket, Key=uri.key, Body=b"".join(lines[:-3]))  # at a line boundary
    for skip in (False, True):
        with pytest.raises(ExportFormatError, match=f"{url} holds {count - 3} items but the "
                                                    f"export's manifest says {count}"):
            importer.run(spark, importer.ImportConfig(exp.folder, target, aws,
                                                      skip_validation=skip))
        if not skip:
            assert items_of(ddb, target) == []


# --- 3. one error path from executor to user --------------------------------------------------

def test_sidecar_that_is_not_json(aws, s3, bucket, target, capsys, monkeypatch):
    local_env(aws, monkeypatch)
    folder = S3Uri(bucket, "sidecar/bad")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(5)))
    s3.put_object(Bucket=bucket, Key=folder.join(layout.SIDECAR).key, Body=b"{not json")
    code, line = in_process(capsys, "import", "--from", str(folder), "--table", target,
                            *aws_args(aws))
    assert code == 2 and f"{folder}/{layout.SIDECAR} is not valid JSON" in line


def test_key_mismatch_with_skip_validation_names_file_and_line(aws, s3, ddb, bucket, unique):
    table = f"numkey-{unique}"
    sample.create_table(ddb, table, key="pk", key_type="N")
    folder = S3Uri(bucket, "wrongtype")
    urls = exports.write_datapipeline(s3, folder, list(sample.sample_items(30)))
    code, out, err = cli(aws, "import", "--from", str(folder), "--table", table,
                         "--skip-validation", *aws_args(aws))
    line = one_line(out, err)
    assert code == 2
    assert (f"{urls[0]} line 1: partition key attribute 'pk' is S but the table declares N"
            in line)
    assert items_of(ddb, table) == []  # the first item failed, before any write


def test_verbose_shows_the_traces(aws, s3, ddb, bucket, unique):
    table = f"numkey-{unique}"
    sample.create_table(ddb, table, key="pk", key_type="N")
    folder = S3Uri(bucket, "wrongtype-v")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(30)))
    code, _out, err = cli(aws, "-v", "import", "--from", str(folder), "--table", table,
                          "--skip-validation", *aws_args(aws))
    assert code == 2 and "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("ddbpipe: error: ")


# --- 5. patience: throttling and lost endpoints -----------------------------------------------

@pytest.fixture
def proxy(dynalite: localstack.Server):
    with CapacityProxy(dynalite.url, port=localstack.free_port(),
                       config=ProxyConfig(burst_seconds=1.0)) as p:
        yield p


def test_sustained_throttling_gives_up_after_the_max_retry_time(aws, proxy, s3, ddb, bucket,
                                                                target):
    folder = S3Uri(bucket, "throttled")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(300)))
    proxy.set_faults(Faults(throttle=1.0))  # DynamoDB takes no write at all
    t0 = time.monotonic()
    code, out, err = cli(aws, "import", "--from", str(folder), "--table", target,
                         "--max-retry-time", "20", *aws_args(aws), dynamodb=proxy.url)
    took = time.monotonic() - t0
    assert code == 1, err[-3000:]
    waiting = [line for line in err.splitlines() if line.startswith("ddbpipe: waiting: ")]
    assert waiting and all("gives up after 20 s without progress" in w for w in waiting)
    rest = [line for line in (out + err).splitlines() if line not in waiting]
    line = one_line("", "\n".join(rest))
    assert line.startswith(f"ddbpipe: error: DynamoDB table {target} ")
    # 20 s without progress, plus the last backoff pause (at most 20 s)
    assert re.search(r"throttled every request for [234]\d s", line), line
    assert "--max-retry-time" in line
    assert took < 120


def test_export_names_a_lost_dynamodb_endpoint(aws, dynalite, s3, ddb, bucket,
                                                              unique):
    name = f"lost-{unique}"
    sample.create_table(ddb, name, read=5, write=1000)
    sample.put_items(ddb, name, sample.sample_items(3000))
    with CapacityProxy(dynalite.url, port=localstack.free_port(),
                       config=ProxyConfig(burst_seconds=1.0)) as p:
        proc = start(aws, "export", "--table", name, "--to", f"s3://{bucket}/lost",
                     *aws_args(aws), dynamodb=p.url)
        _wait_for_key(s3, bucket, "lost/", layout.IN_PROGRESS)
        time.sleep(4)
    lost = time.monotonic()  # the proxy is gone: nothing answers at its port any more
    out, err = proc.communicate(timeout=300)
    took = time.monotonic() - lost
    assert proc.returncode == 2, err[-3000:]
    waiting = [line for line in err.splitlines() if line.startswith("ddbpipe: waiting: ")]
    line = one_line(out, "\n".join(x for x in err.splitlines() if x not in waiting))
    assert line.startswith(f"ddbpipe: error: Nothing answers at DynamoDB ({p.url}): no "
                           "connection for 1")  # 12 s and the last probe
    assert "is marked unfinished; resume it with `ddbpipe export --resume s3://" in line
    assert took < 150  # far below the connector's 10 minutes, with room for a busy machine
    left = _keys(s3, bucket, "lost/")
    assert any(k.endswith("/" + layout.IN_PROGRESS) for k in left)  # never taken as finished
    assert not any(k.endswith("/" + layout.SUCCESS) for k in left)


def test_import_names_a_lost_dynamodb_endpoint(aws, dynalite, s3, ddb, bucket,
                                                              unique):
    table = f"lost-imp-{unique}"
    sample.create_table(ddb, table, read=1000, write=4)  # 2 items a second at 0.5
    folder = S3Uri(bucket, "lost-import")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(400)))
    with CapacityProxy(dynalite.url, port=localstack.free_port(),
                       config=ProxyConfig(burst_seconds=1.0)) as p:
        proc = start(aws, "import", "--from", str(folder), "--table", table, *aws_args(aws),
                     dynamodb=p.url)
        _wait_until(lambda: len(items_of(ddb, table)) > 0)
    lost = time.monotonic()
    out, err = proc.communicate(timeout=300)
    took = time.monotonic() - lost
    assert proc.returncode == 2, err[-3000:]
    waiting = [line for line in err.splitlines() if line.startswith("ddbpipe: waiting: ")]
    line = one_line(out, "\n".join(x for x in err.splitlines() if x not in waiting))
    assert line.startswith(f"ddbpipe: error: Nothing answers at DynamoDB table {table} "
                           f"({p.url}): no connection for 1")
    assert f"({table} holds part of the export. Re-running the import is safe.)" in line
    assert line.endswith(f"run the same import with --resume (`ddbpipe import ... --resume`, or "
                         f"`ddbpipe emr import ... --resume`; its state is in s3://{bucket}/"
                         f"_ddbpipe-state/import-{table}-{_digest(folder, table)}/).")
    assert 10 < took < 150  # far below 10 minutes, with room for a busy machine


def _digest(folder: S3Uri, table: str) -> str:
    from ddbpipe.importer.state import Identity

    return Identity(str(folder), table, "us-east-1", "merge").digest()


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _wait_for_key(s3: Any, bucket: str, prefix: str, name: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [k for k in _keys(s3, bucket, prefix) if k.endswith("/" + name)]
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"no {name} under s3://{bucket}/{prefix}")


def test_s3_outage_during_export_is_said_in_one_line(aws, logs_dir, ddb, unique):
    from ddbpipe.aws import client

    moto = localstack.start_moto(localstack.free_port(), logs_dir / f"moto-{unique}.log")
    try:
        s3 = client(AwsConfig(aws.region, {"s3": moto.url}), "s3")
        name, bucket = f"s3out-{unique}", f"s3out-{unique}"
        s3.create_bucket(Bucket=bucket)
        sample.create_table(ddb, name, read=5, write=1000)
        sample.put_items(ddb, name, sample.sample_items(600))  # read for ~15 s, then written
        proc = start(aws, "export", "--table", name, "--to", f"s3://{bucket}",
                     *aws_args(aws), s3=moto.url)
        _wait_for_key(s3, bucket, "", "run.json")  # the scan has started
    finally:
        localstack.stop(moto)
    stopped = time.monotonic()
    out, err = proc.communicate(timeout=600)
    took = time.monotonic() - stopped
    waiting = [line for line in err.splitlines() if line.startswith("ddbpipe: waiting: ")]
    line = one_line(out, "\n".join(x for x in err.splitlines() if x not in waiting))
    assert proc.returncode == 2, err[-3000:]
    assert line.startswith(f"ddbpipe: error: Nothing answers at S3 ({moto.url}): no connection "
                           "for 1")  # DDBPIPE_UNREACHABLE_SECONDS=12
    assert "its partly written files could not be deleted" in line
    assert "resume it with `ddbpipe export --resume s3://" in line
    assert took < 150


# --- 4. signals -----------------------------------------------------------------------------

def test_ctrl_c_during_import_cancels_and_says_what_is_left(aws, s3, ddb, bucket, unique):
    table = f"slow-{unique}"
    sample.create_table(ddb, table, read=1000, write=4)  # 2 items a second at 0.5
    folder = S3Uri(bucket, "slow")
    exports.write_datapipeline(s3, folder, list(sample.sample_items(400)))
    proc = start(aws, "import", "--from", str(folder), "--table", table, *aws_args(aws))
    _wait_until(lambda: len(items_of(ddb, table)) > 0)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole group
    out, err = proc.communicate(timeout=120)
    line = one_line(out, err)
    assert proc.returncode == 130
    assert line.startswith(f"ddbpipe: interrupted: Import into {table} stopped by SIGINT; "
                           f"{table} holds part of the export.")
    assert "Re-run the import: it is safe to repeat. To skip what is written, run the same " \
           "import with --resume" in line
    written = len(items_of(ddb, table))
    time.sleep(3)
    assert len(items_of(ddb, table)) == written < 400  # nothing writes after the exit


def test_sigterm_during_export_leaves_a_resumable_folder(aws, s3, ddb, bucket, unique):
    name = f"term-{unique}"
    sample.create_table(ddb, name, read=5, write=1000)
    sample.put_items(ddb, name, sample.sample_items(3000))
    proc = start(aws, "export", "--table", name, "--to", f"s3://{bucket}/term", *aws_args(aws))
    _wait_for_key(s3, bucket, "term/", layout.IN_PROGRESS)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    line = one_line(out, err)
    assert proc.returncode == 143
    assert line.startswith(f"ddbpipe: interrupted: Export of {name} stopped by SIGTERM; ")
    assert "is marked unfinished" in line and "reads only what is missing" in line
    left = _keys(s3, bucket, "term/")
    assert any(k.endswith("/" + layout.IN_PROGRESS) for k in left)
    assert not any(k.endswith("/" + layout.SUCCESS) for k in left)


def _wait_until(condition: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.3)


# --- 6. --create-table only after validation --------------------------------------------------

def test_create_table_is_not_left_behind_when_validation_fails(aws, spark, s3, ddb, bucket,
                                                              unique):
    from ddbpipe import export, importer
    from ddbpipe.errors import ExportFormatError

    source, copy = f"ct-src-{unique}", f"ct-copy-{unique}"
    sample.create_table(ddb, source)
    sample.put_items(ddb, source, sample.sample_items(50))
    (exp,) = export.run(spark, export.ExportConfig((source,), S3Uri(bucket), aws))
    uri = S3Uri.parse(exp.files[0].url)
    lines = s3.get_object(Bucket=bucket, Key=uri.key)["Body"].read().splitlines()
    lines[3] = lines[3][:20]
    s3.put_object(Bucket=bucket, Key=uri.key, Body=b"\n".join(lines) + b"\n")
    with pytest.raises(ExportFormatError, match="line 4.*Nothing was written"):
        importer.run(spark, importer.ImportConfig(exp.folder, copy, aws, create_table=True))
    assert copy not in ddb.list_tables()["TableNames"]


# --- 7. one set of argument checks ------------------------------------------------------------

@pytest.mark.parametrize("argv, says", [
    (["export", "--table", "ab", "--to", "s3://bkt-x"], "--table 'ab' is not a DynamoDB table"),
    (["export", "--table", "bad name!", "--to", "s3://bkt-x"], "--table 'bad name!' is not"),
    (["import", "--table", "ab", "--from", "s3://bkt-x/f"], "--table 'ab' is not a DynamoDB"),
    (["emr", "export", "--table", "ab", "--to", "s3://bkt-x", "--log-uri", "s3://bkt-x/l",
      "--dry-run"], "--table 'ab' is not a DynamoDB table"),
    (["export", "--table", "good", "--to", "s3://bkt-x", "--region", "mars"],
     "--region 'mars' is not an AWS region"),
    (["import", "--table", "good", "--from", "s3://bkt-x/f", "--write-percent", "2"],
     "--write-percent 2.0 is outside 0.1..1.5"),
    (["emr", "import", "--table", "good", "--from", "s3://bkt-x/f", "--log-uri", "s3://bkt-x/l",
      "--write-percent", "2", "--dry-run"], "--write-percent 2.0 is outside 0.1..1.5"),
    (["import", "--table", "good", "--from", "s3://bkt-x/f", "--max-retry-time", "0"],
     "--max-retry-time 0.0 is too short"),
    (["export", "--table", "good"], "--to is required"),
    (["export"], "--table and --to are required"),
    (["export", "--resume", "s3://bkt-x"], "--resume s3://bkt-x is a bucket, not a run folder"),
    (["export", "--resume", "s3://bkt-x/a/t/1", "--table", "one", "--table", "two"],
     "--resume finishes one table's run folder"),
    (["emr", "export", "--resume", "s3://bkt-x/a/t/1", "--log-uri", "s3://bkt-x/l",
      "--dry-run"], "`ddbpipe emr export --resume` needs --table too"),
    (["schedule", "create", "--name", "n", "--cron", "rate(1 day)", "--dry-run", "export",
      "--resume", "s3://bkt-x/a/t/1", "--table", "good", "--log-uri", "s3://bkt-x/l"],
     "A scheduled export cannot --resume"),
])
def test_every_command_checks_arguments_the_same_way(argv, says, capsys):
    if "--region" not in argv:
        argv = [*argv, "--region", "us-east-1"]
    code, line = in_process(capsys, *argv)
    assert code == 2 and line.startswith("ddbpipe: error: ") and says in line

