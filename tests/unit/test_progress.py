"""Progress lines: what one says, and the driver thread that prints them from the beacons."""

from __future__ import annotations

import io
import json
import time
from typing import Any

from ddbpipe import progress
from ddbpipe.progress import Beacon, Reporter, Tally, Target
from ddbpipe.s3uri import S3Uri


def test_a_line_says_items_bytes_share_rate_and_eta():
    target = Target("Orders", "RCU", 500, 2_560_000)
    line = progress.line(target, Tally(1_204_000, 1_933_100_000, 0), 498.4, 1000.0)
    assert line == ("ddbpipe: progress: Orders: 1,204,000 items, 1,933.1 MB (47% of ~2,560,000), "
                    "498 RCU/s of 500, ETA 22m36s")


def test_a_resumed_run_counts_what_the_stopped_run_did():
    target = Target("import into Orders", "WCU", 100, 1000, before=600, estimate=False)
    line = progress.line(target, Tally(200, 0, 0), 99.0, 50.0)
    assert "800 items" in line and "(80% of 1,000)" in line
    assert "600 from the resumed run" in line and "ETA 4s" in line


def test_no_share_or_eta_without_an_estimate_and_past_it():
    assert "%" not in progress.line(Target("T", "RCU", 10, 0), Tally(5, 0, 0), 1, 1)
    over = progress.line(Target("T", "RCU", 10, 100), Tally(150, 0, 0), 1, 1)
    assert "(100% of ~100)" in over and "ETA" not in over  # DynamoDB's estimate was low


def test_durations():
    assert [progress.duration(s) for s in (0, 59, 61, 3600, 7322)] == [
        "0s", "59s", "1m01s", "1h00m", "2h02m"]


class FakeS3:
    """put_object / list_objects_v2 / get_object over a dict, enough for beacons."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.fail = False

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        if self.fail:
            raise ConnectionError("S3 is gone")
        self.objects[Key] = Body

    def get_paginator(self, _name: str) -> Any:
        outer = self

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> Any:
                return [{"Contents": [{"Key": k} for k in sorted(outer.objects)
                                      if k.startswith(Prefix)]}]
        return Pages()

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        return {"Body": io.BytesIO(self.objects[Key])}


def test_beacons_are_summed_and_never_fail_their_process():
    s3 = FakeS3()
    where = S3Uri("b", "run/_ddbpipe-state/progress")
    one, two = Beacon(s3, where, every=3600), Beacon(s3, where, every=3600)  # type: ignore[arg-type]
    one.update(Tally(10, 100, 5.0))  # too soon: not written
    assert s3.objects == {}
    one.update(Tally(10, 100, 5.0), force=True)
    two.update(Tally(7, 50, 1.5), force=True)
    assert progress.read_beacons(s3, where) == Tally(17, 150, 6.5)  # type: ignore[arg-type]
    assert json.loads(s3.objects[one.key.key]) == {"items": 10, "bytes": 100, "units": 5.0}
    s3.fail = True
    two.update(Tally(8, 60, 2.0), force=True)  # S3 down: skipped, no exception


def test_the_reporter_prints_what_the_beacons_say_until_the_run_ends():
    totals = iter([Tally(100, 1000, 50.0)] + [Tally(300, 3000, 150.0)] * 50)
    out = io.StringIO()
    with Reporter(Target("T", "RCU", 100, 1000), lambda: next(totals), out=out, every=0.2):
        deadline = time.monotonic() + 10
        while out.getvalue().count("\n") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ddbpipe: progress: T: 100 items, 0.0 MB (10% of ~1,000)")
    assert lines[1].startswith("ddbpipe: progress: T: 300 items, 0.0 MB (30% of ~1,000)")
    after = len(out.getvalue())
    time.sleep(0.5)
    assert len(out.getvalue()) == after  # nothing once the run has ended
