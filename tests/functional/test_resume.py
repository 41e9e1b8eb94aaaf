"""Import resume (issue 11): a run stopped part-way and resumed leaves the table item-for-item as
an uninterrupted run does, and the resumed run writes only what is missing (plus at most the one
unit each task had not recorded yet).

Faults hit at random points, drawn from a seed printed with every test (replay one with
``DDBPIPE_FAULT_SEED=<seed> pytest tests/functional/test_resume.py``): the ``ddbpipe import``
process group killed with SIGKILL, and the DynamoDB or the S3 stand-in made unreachable (a TCP
proxy in front of it is cut) while the import writes. Each import writes about 120 items a second
into a small table, so a run lasts a few seconds. Whether a kill point was reached is judged by
the table's item count, never by time.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional

import pytest

from ddbpipe import importer
from ddbpipe.aws import AwsConfig
from ddbpipe.cli import main
from ddbpipe.errors import DdbpipeError, EndpointUnreachable
from ddbpipe.importer import state
from ddbpipe.importer.sources import detect
from ddbpipe.s3uri import S3Uri
from ddbpipe.throttle import Patience, RetryStats
from ddbpipe_dev import sample
from tests.support import exports
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.functional

SEED = int(os.environ.get("DDBPIPE_FAULT_SEED") or random.randrange(1 << 31))
ITEMS = 360
PER_FILE = 90  # 4 data files
UNIT = 30  # items a task writes between two records of its progress (--resume-unit-items)
TASKS = 2  # local[2]: both tasks write at once, each 2 files
WCU = 240  # x 0.5: 120 items a second (the sample items cost 1 write unit each)
#: The failed runs give up on a lost endpoint after this long (DDBPIPE_UNREACHABLE_SECONDS).
UNREACHABLE = "2"


def draw(name: str, low: int, high: int) -> int:
    """A kill point for test ``name``, printed so that a failure can be replayed."""
    value = random.Random(f"{SEED}:{name}").randint(low, high)
    print(f"DDBPIPE_FAULT_SEED={SEED}: {name} stops at {value} items")
    return value


# --- the export and the reference table, once per module ---------------------------------------

class Export:
    def __init__(self, bucket: str, folder: S3Uri, reference: str) -> None:
        self.bucket, self.folder, self.reference = bucket, folder, reference


@pytest.fixture(scope="module")
def export(s3: Any, ddb: Any) -> Export:
    """A Data Pipeline export of ITEMS sample items and a table holding the same items written
    directly: DynamoDB normalises numbers, so the reference is what DynamoDB stores."""
    suffix = random.Random().getrandbits(40)
    bucket = f"resume-{suffix:x}"
    s3.create_bucket(Bucket=bucket)
    items = list(sample.sample_items(ITEMS))
    folder = S3Uri(bucket, "us-east-1/Orders/2026-01-02-03-04-05")
    exports.write_datapipeline(s3, folder, items, per_file=PER_FILE)
    reference = f"resume-ref-{suffix:x}"
    sample.create_table(ddb, reference)
    sample.put_items(ddb, reference, iter(items))
    return Export(bucket, folder, reference)


@pytest.fixture
def table(ddb: Any, unique: str) -> str:
    name = f"resume-{unique}"
    sample.create_table(ddb, name, read=1000, write=WCU)
    return name


@pytest.fixture(autouse=True)
def short_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDBPIPE_UNREACHABLE_SECONDS", UNREACHABLE)


def items_of(ddb: Any, name: str) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in sample.scan_all(ddb, name)}


def count(ddb: Any, name: str) -> int:
    total, kwargs = 0, {"TableName": name, "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def config(aws: AwsConfig, export: Export, name: str, **kw: Any) -> importer.ImportConfig:
    return importer.ImportConfig(export.folder, name, aws, unit_items=UNIT, **kw)


def location(aws: AwsConfig, export: Export, name: str, mode: str = "merge") -> S3Uri:
    who = state.Identity(str(export.folder), name, aws.region, mode)
    return state.default_location(export.folder, who)


def recorded(s3: Any, where: S3Uri) -> Optional[state.Written]:
    """What the state at ``where`` says is written (None: no state)."""
    run = state.load(s3, where)
    if run is None:
        return None
    return state.Written.of(state.load_units(s3, where, run), [u for u, _ in run.files])


class Trigger(threading.Thread):
    """Calls ``action`` once ``reached()`` is true (polled; ``reached`` asks dynalite or moto
    directly, never through a proxy the action cuts)."""

    def __init__(self, reached: Callable[[], bool], action: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.reached, self.action = reached, action
        self.fired = False
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            if self.reached():
                self.action()
                self.fired = True
                return
            time.sleep(0.1)


def holds(ddb: Any, name: str, items: int) -> Callable[[], bool]:
    return lambda: count(ddb, name) >= items


def stopped_run(spark: Any, cfg: importer.ImportConfig, trigger: Trigger) -> DdbpipeError:
    """Run ``cfg`` while ``trigger`` waits to cut an endpoint; the run must fail."""
    trigger.start()
    try:
        importer.run(spark, cfg)
    except DdbpipeError as err:
        return err
    finally:
        trigger.done.set()
        trigger.join()
    raise AssertionError(f"the import finished before its kill point (seed {SEED})")


def check_resumed(ddb: Any, s3: Any, export: Export, name: str, where: S3Uri,
                  missing: int, written: int, skipped: int, before: state.Written) -> None:
    """The resumed run's counts against what was missing, and the table against the reference.

    ``before`` and ``missing`` are read once the stopped run is gone; a request it had already
    sent may still land after that (a task's last record, its last batch), so the state the
    resumed run reads may hold one more unit per task than ``before``."""
    why = f"seed {SEED}: missing {missing}, written {written}, skipped {skipped}, {before}"
    assert before.items <= skipped <= before.items + TASKS * UNIT, why
    assert written + skipped == ITEMS, why
    assert written <= missing + TASKS * UNIT, why  # the share left plus one unit per task
    assert items_of(ddb, name) == items_of(ddb, export.reference), why
    assert recorded(s3, where) is None, "a finished import deletes its state"


# --- the kill points ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["dynamodb", "s3-a", "s3-b"])
def test_an_endpoint_lost_part_way_then_resumed(kind, aws, spark, s3, ddb, export, table):
    service = kind.split("-")[0]  # (the replace test below loses DynamoDB twice more)
    threshold = draw(f"{kind} lost", 3 * UNIT, ITEMS - 3 * UNIT)
    upstream = aws.endpoint(service)
    assert upstream
    with TcpProxy(upstream) as proxy:
        via = AwsConfig(aws.region, {**aws.endpoints, service: proxy.url})
        err = stopped_run(spark, config(via, export, table),
                          Trigger(holds(ddb, table, threshold), proxy.cut))
    where = location(aws, export, table)
    assert isinstance(err, EndpointUnreachable) or "failed part-way" in str(err), str(err)
    assert f"{table} holds part of the export. Re-running the import is safe." in err.fix
    assert (f"To skip what is written, run the same import with --resume (`ddbpipe import ... "
            f"--resume`, or `ddbpipe emr import ... --resume`; its state is in {where}/).") \
        in err.fix

    before = recorded(s3, where)
    assert before is not None and before.items >= UNIT, f"seed {SEED}: {before}"
    missing = ITEMS - count(ddb, table)
    result = importer.run(spark, config(aws, export, table, resume=True))
    check_resumed(ddb, s3, export, table, where, missing, result.written, result.skipped, before)
    assert result.resumed is not None and result.read == result.written
    assert "resumed an earlier run: skipped the" in result.summary()


def start_cli(aws: AwsConfig, *argv: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, AWS_REGION=aws.region,
               AWS_ENDPOINT_URL_DYNAMODB=aws.endpoint("dynamodb") or "",
               AWS_ENDPOINT_URL_S3=aws.endpoint("s3") or "")
    return subprocess.Popen([sys.executable, "-m", "ddbpipe.cli", *argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def cli_args(export: Export, name: str, *extra: str) -> list[str]:
    return ["import", "--from", str(export.folder), "--table", name, "--master", "local[2]",
            "--resume-unit-items", str(UNIT), *extra]


@pytest.mark.parametrize("point", ["a", "b"])
def test_the_driver_killed_then_resumed(point, aws, spark, s3, ddb, export, table):
    threshold = draw(f"SIGKILL {point}", 3 * UNIT, ITEMS - 4 * UNIT)
    proc = start_cli(aws, *cli_args(export, table))
    trigger = Trigger(holds(ddb, table, threshold), lambda: os.killpg(proc.pid, signal.SIGKILL))
    trigger.start()
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        trigger.done.set()
        trigger.join()
    assert trigger.fired, f"seed {SEED}: finished first\n{out}{err[-2000:]}"
    assert proc.returncode == -signal.SIGKILL

    where = location(aws, export, table)
    before = recorded(s3, where)
    assert before is not None and before.items >= UNIT, f"seed {SEED}: {before}"
    missing = ITEMS - count(ddb, table)
    result = importer.run(spark, config(aws, export, table, resume=True))
    check_resumed(ddb, s3, export, table, where, missing, result.written, result.skipped, before)


def test_replace_mode_resumes_its_writes_and_then_its_deletes(aws, spark, s3, ddb, export, table):
    extras = 200  # deleted at 120 a second: the second kill point has time to come
    sample.put_items(ddb, table, iter([{"pk": {"S": f"extra-{i:04d}"}} for i in range(extras)]))
    sample.put_items(ddb, table, iter([{"pk": {"S": "item-00000007"}, "old": {"S": "value"}}]))
    at_write = draw("replace: writes", extras + 1 + 3 * UNIT, extras + ITEMS - 3 * UNIT)
    at_delete = draw("replace: deletes", 10, extras // 2)
    where = location(aws, export, table, "replace")

    with TcpProxy(aws.endpoint("dynamodb") or "") as proxy:
        via = AwsConfig(aws.region, {**aws.endpoints, "dynamodb": proxy.url})
        stopped_run(spark, config(via, export, table, mode="replace", yes=True),
                    Trigger(holds(ddb, table, at_write), proxy.cut))
    first = recorded(s3, where)
    assert first is not None and 0 < first.items < ITEMS, f"seed {SEED}: {first}"

    full = extras + ITEMS  # what the table holds once every write is done

    def deleting() -> bool:  # every write recorded, then at_delete extras gone
        now = recorded(s3, where)
        return now is not None and now.items == ITEMS and count(ddb, table) <= full - at_delete

    with TcpProxy(aws.endpoint("dynamodb") or "") as proxy:
        via = AwsConfig(aws.region, {**aws.endpoints, "dynamodb": proxy.url})
        err = stopped_run(spark, config(via, export, table, mode="replace", yes=True,
                                        resume=True), Trigger(deleting, proxy.cut))
    assert "--resume" in err.fix, str(err)
    second = recorded(s3, where)
    assert second is not None and second.complete_files == ITEMS // PER_FILE, f"seed {SEED}"
    left = count(ddb, table) - ITEMS
    assert left <= extras - at_delete, f"seed {SEED}: {left} extras left"

    result = importer.run(spark, config(aws, export, table, mode="replace", yes=True,
                                        resume=True))
    assert (result.written, result.skipped) == (0, ITEMS), SEED
    assert result.deleted <= left, SEED  # (a delete sent before the cut may land after it)
    assert items_of(ddb, table) == items_of(ddb, export.reference)
    assert recorded(s3, where) is None


# --- what a run says about a state, and states it refuses -------------------------------------

def fake_state(s3: Any, aws: AwsConfig, export: Export, name: str, where: S3Uri,
               mode: str = "merge", sizes: Optional[dict[str, int]] = None) -> list[str]:
    """A state as a run killed part-way leaves it: file 1 whole, file 2 up to line 40 (none
    of it really written). Returns the data file URLs."""
    files = detect(s3, export.folder).files
    urls = [f.url for f in files]
    who = state.Identity(str(export.folder), name, aws.region, mode)
    run = state.new_run(who, [f if sizes is None else
                              type(f)(f.url, sizes.get(f.url, f.size)) for f in files])
    state.begin(s3, where, run)
    rec = state.Recorder(where, run.id, {})
    for unit in (state.Unit(urls[0], 1, 30, 30), state.Unit(urls[0], 31, 90, 60, end=True),
                 state.Unit(urls[1], 1, 40, 40)):
        rec.record(s3, unit, RetryStats(), Patience("S3"))
    return urls


@pytest.mark.parametrize("place", ["default", "state-prefix"])
def test_resume_skips_exactly_what_the_state_says(place, aws, spark, s3, ddb, export, table,
                                                  capsys):
    explicit = S3Uri(export.bucket, f"states/{table}") if place == "state-prefix" else None
    where = explicit or location(aws, export, table)
    urls = fake_state(s3, aws, export, table, where)
    result = importer.run(spark, config(aws, export, table, resume=True, state_prefix=explicit))
    out = capsys.readouterr().out
    assert (f"Resuming the import recorded in {where}/: 1 of 4 files written (and 1 in part; "
            "130 items) are skipped.") in out
    assert (result.read, result.written, result.skipped) == (ITEMS - 130, ITEMS - 130, 130)
    # the state lied (nothing was written): the table lacks exactly the skipped lines
    want = items_of(ddb, export.reference)
    skipped = {k for k in want if k in file_keys(s3, urls[0])} | set(
        list(file_keys(s3, urls[1]))[:40])
    assert set(items_of(ddb, table)) == set(want) - skipped
    assert recorded(s3, where) is None


def file_keys(s3: Any, url: str) -> Iterator[str]:
    import json

    uri = S3Uri.parse(url)
    for line in s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read().splitlines():
        yield json.loads(line)["pk"]["s"]


def test_without_resume_a_state_is_noted_and_the_import_starts_over(aws, spark, s3, ddb, export,
                                                                    table, capsys):
    where = location(aws, export, table)
    fake_state(s3, aws, export, table, where)
    result = importer.run(spark, config(aws, export, table))
    out = capsys.readouterr().out
    assert (f"A resumable state of an earlier import exists at {where}/: 1 of 4 files written "
            "(and 1 in part; 130 items); pass --resume to skip them.") in out
    assert (result.written, result.skipped, result.resumed) == (ITEMS, 0, None)
    assert items_of(ddb, table) == items_of(ddb, export.reference)
    assert recorded(s3, where) is None


def test_resume_without_a_state_imports_from_the_start(aws, spark, s3, ddb, export, table,
                                                       capsys):
    result = importer.run(spark, config(aws, export, table, resume=True))
    where = location(aws, export, table)
    assert (f"--resume: no state of an earlier import at {where}/; importing from the start."
            in capsys.readouterr().out)
    assert (result.written, result.skipped) == (ITEMS, 0)
    assert recorded(s3, where) is None


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return code, lines[0]


@pytest.fixture
def local_endpoints(aws: AwsConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", aws.endpoint("dynamodb") or "")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", aws.endpoint("s3") or "")


@pytest.mark.parametrize("resume", [True, False])
def test_a_state_prefix_holding_another_imports_state_is_refused(
        resume, aws, s3, ddb, export, table, capsys, local_endpoints):
    where = S3Uri(export.bucket, f"states/{table}")
    fake_state(s3, aws, export, "Customers", where)
    code, line = refused(capsys, *cli_args(export, table, "--state-prefix", str(where),
                                           *(["--resume"] if resume else [])),
                         "--region", aws.region)
    assert code == 2
    assert line == (f"ddbpipe: error: The state at {where}/ belongs to another import: table "
                    f"Customers (this run: {table}). Give this import another --state-prefix, "
                    "or resume that one with its own options; nothing was written.")
    assert count(ddb, table) == 0 and recorded(s3, where) is not None


def test_resume_of_another_mode_is_refused(aws, s3, ddb, export, table, capsys, local_endpoints):
    other = location(aws, export, table, "replace")
    fake_state(s3, aws, export, table, other, mode="replace")
    code, line = refused(capsys, *cli_args(export, table, "--resume"), "--region", aws.region)
    assert code == 2
    assert line == (f"ddbpipe: error: No state of this import at {location(aws, export, table)}/"
                    f", but the state at {other}/ is of an import with another mode replace "
                    "(this run: merge). Resume that one with its own options (--from, --region, "
                    "--mode), or run without --resume to start over; nothing was written.")
    assert count(ddb, table) == 0


def test_resume_of_a_changed_export_folder_is_refused(aws, s3, ddb, export, table, capsys,
                                                      local_endpoints):
    where = location(aws, export, table)
    url = detect(s3, export.folder).files[2].url
    fake_state(s3, aws, export, table, where, sizes={url: 7})
    code, line = refused(capsys, *cli_args(export, table, "--resume"), "--region", aws.region)
    assert code == 2
    assert line == (f"ddbpipe: error: Cannot resume from {where}/: the export folder changed "
                    f"since that import started (1 file(s) changed size since (first: {url})). "
                    "Run the import without --resume: it starts over; nothing was written.")
    assert count(ddb, table) == 0


def test_a_state_prefix_inside_the_export_folder_is_refused(aws, export, table, capsys,
                                                            local_endpoints):
    code, line = refused(capsys, *cli_args(export, table, "--state-prefix",
                                           f"{export.folder}/state"), "--region", aws.region)
    assert code == 2 and "is inside the export folder" in line


def test_progress_lines_while_writing_and_no_beacon_left(aws, spark, s3, ddb, export, table,
                                                         capsys, monkeypatch):
    monkeypatch.setenv("DDBPIPE_PROGRESS_SECONDS", "0.5")  # the driver's lines (~3 s of writes)
    capsys.readouterr()
    result = importer.run(spark, config(aws, export, table))
    lines = [x for x in capsys.readouterr().out.splitlines()
             if x.startswith("ddbpipe: progress: ")]
    assert result.written == ITEMS and lines
    assert all(f"import into {table}: " in x and f"WCU/s of {WCU // 2}" in x for x in lines)
    # A Data Pipeline manifest has no per-file counts: no share and no ETA, never a guess.
    assert not any("%" in x or "ETA" in x for x in lines)
    where = location(aws, export, table)
    assert s3.list_objects_v2(Bucket=where.bucket, Prefix=where.prefix).get("KeyCount", 0) == 0
