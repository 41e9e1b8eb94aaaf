"""The import's run state (importer/state.py): names, the JSON of run.json, what a set of
recorded units says is written, and refusing a state of another import; the writer's flush."""

from __future__ import annotations

import argparse
import time
from typing import Any

import pytest

from ddbpipe.aws import AwsConfig
from ddbpipe.errors import ConfigError, PermissionDenied, ResumeStateError
from ddbpipe.importer import state
from ddbpipe.importer.options import ImportConfig, add_options, config_from_args
from ddbpipe.importer.sources import DataFile
from ddbpipe.importer.state import FileProgress, Identity, RunState, Unit, Written
from ddbpipe.importer.writer import BatchWriter
from ddbpipe.s3uri import S3Uri
from ddbpipe.throttle import Patience
from tests.support.table_double import TableDouble

AWS = AwsConfig("us-east-1")
WHO = Identity("s3://bkt/us-east-1/Orders/2026-01-02-03-04-05", "Orders", "us-east-1", "merge")
URL = "s3://bkt/us-east-1/Orders/2026-01-02-03-04-05/0b6f"


# --- names ---------------------------------------------------------------------------------

def test_the_default_state_sits_beside_the_export_folder_in_the_tables_folder():
    folder = S3Uri.parse(WHO.folder)
    where = state.default_location(folder, WHO)
    assert str(where) == f"s3://bkt/us-east-1/Orders/_ddbpipe-state/import-Orders-{WHO.digest()}"
    assert not where.key.startswith(folder.prefix)  # never inside what the import lists
    # an export folder at the top of a bucket, or the bucket itself
    assert str(state.default_location(S3Uri("bkt", "run1"), WHO)).startswith(
        "s3://bkt/_ddbpipe-state/import-Orders-")
    assert str(state.default_location(S3Uri("bkt"), WHO)).startswith(
        "s3://bkt/_ddbpipe-state/import-Orders-")


def test_every_part_of_the_identity_changes_the_digest():
    digests = {WHO.digest()}
    for field, value in (("folder", WHO.folder + "x"), ("table", "Other"),
                         ("region", "eu-west-1"), ("mode", "replace")):
        digests.add(Identity(**{**WHO.__dict__, field: value}).digest())
    assert len(digests) == 5
    assert WHO.digest() == Identity(*WHO.__dict__.values()).digest()
    assert len(WHO.digest()) == 12 and int(WHO.digest(), 16) >= 0


def test_a_unit_key_says_all_a_resume_needs():
    where = S3Uri("bkt", "p/_ddbpipe-state/import-Orders-abc")
    unit = Unit(URL, 30001, 40000, 9998, end=True)
    key = state.unit_key(where, "run1", unit)
    assert key == (f"p/_ddbpipe-state/import-Orders-abc/done/run1/{state.file_id(URL)}/"
                   "000000030001-000000040000-9998-end.json")
    relative = key[len(where.join("done", "run1").prefix):]
    assert state.parse_unit_key(relative, {state.file_id(URL): URL}) == unit
    more = Unit(URL, 1, 30000, 30000)
    relative = state.unit_key(where, "r", more)[len(where.join("done", "r").prefix):]
    assert state.parse_unit_key(relative, {state.file_id(URL): URL}) == more


@pytest.mark.parametrize("relative", [
    "0123/000000000001-000000000002-2.json",  # a file the state does not list
    "{id}/000000000001-000000000002-2.txt",
    "{id}/1-2.json",
    "{id}/sub/000000000001-000000000002-2.json",
    "{id}",
])
def test_keys_that_are_not_units_are_ignored(relative):
    urls = {state.file_id(URL): URL}
    assert state.parse_unit_key(relative.format(id=state.file_id(URL)), urls) is None


def test_run_json_round_trip():
    files = [DataFile(URL, 123), DataFile(URL + "2", 0)]
    run = state.new_run(WHO, files)
    again = RunState.from_json(run.to_json(), "s3://bkt/x/run.json")
    assert again == run
    assert again.files == ((URL, 123), (URL + "2", 0))


@pytest.mark.parametrize("body", [b"{not json", b'{"kind": "something-else", "format": 1}',
                                  b'{"kind": "ddbpipe-import-state", "format": 1}',
                                  b'{"kind": "ddbpipe-import-state", "format": 2}', b"[]"])
def test_a_run_json_that_cannot_be_read_is_one_clear_error(body):
    with pytest.raises(ResumeStateError, match=r"s3://bkt/x/run.json is not an import state "
                                               r"ddbpipe can read .*without --resume"):
        RunState.from_json(body, "s3://bkt/x/run.json")


# --- what is written -------------------------------------------------------------------------

def test_units_that_reach_the_end_make_a_complete_file():
    p = state.file_progress([Unit(URL, 31, 60, 30), Unit(URL, 1, 30, 30),
                             Unit(URL, 61, 75, 14, end=True)])
    assert p == FileProgress(((1, 75),), 74, True)


def test_a_gap_or_a_missing_end_leaves_the_file_in_part():
    gap = state.file_progress([Unit(URL, 1, 30, 30), Unit(URL, 61, 75, 15, end=True)])
    assert gap.ranges == ((1, 30), (61, 75)) and not gap.complete
    open_end = state.file_progress([Unit(URL, 1, 30, 30), Unit(URL, 31, 60, 30)])
    assert open_end.ranges == ((1, 60),) and not open_end.complete
    late = state.file_progress([Unit(URL, 2, 30, 29, end=True)])  # line 1 never written
    assert not late.complete


def test_a_unit_recorded_twice_counts_once():
    p = state.file_progress([Unit(URL, 1, 30, 30), Unit(URL, 1, 30, 30),
                             Unit(URL, 31, 40, 10, end=True)])
    assert (p.items, p.complete) == (40, True)


def test_units_without_lines_mark_the_end():
    assert state.file_progress([Unit(URL, 1, 0, 0, end=True)]) == FileProgress((), 0, True)
    # the lines were written by an earlier run; this one only found the end
    ended = state.file_progress([Unit(URL, 1, 30, 30), Unit(URL, 31, 30, 0, end=True)])
    assert (ended.ranges, ended.complete) == (((1, 30),), True)
    early = state.file_progress([Unit(URL, 1, 30, 30), Unit(URL, 40, 39, 0, end=True)])
    assert not early.complete


def test_written_counts_only_the_files_of_this_export():
    other = URL + "-gone"
    units = [Unit(URL, 1, 10, 10, end=True), Unit(URL + "2", 1, 5, 5), Unit(other, 1, 9, 9)]
    written = Written.of(units, [URL, URL + "2", URL + "3"])
    assert set(written.files) == {URL, URL + "2"}
    assert (written.complete_files, written.partial_files, written.items) == (1, 1, 15)
    assert written.complete(URL) and not written.complete(URL + "2")
    assert written.ranges(URL + "2") == ((1, 5),) and written.ranges(URL + "3") == ()
    assert written.describe(3) == "1 of 3 files written (and 1 in part; 15 items)"
    assert Written().describe(4) == "0 of 4 files written (0 items)"


def test_in_ranges():
    ranges = ((1, 30), (41, 41), (50, 60))
    inside = [n for n in range(0, 70) if state.in_ranges(n, ranges)]
    assert inside == [*range(1, 31), 41, *range(50, 61)]
    assert not state.in_ranges(5, ())


def test_a_unit_is_full_at_its_items_or_its_write_units():
    rec = state.Recorder(S3Uri("bkt", "s"), "r", {}, unit_items=10, unit_write_units=25)
    assert not rec.full(9, 24)
    assert rec.full(10, 10) and rec.full(3, 25)


# --- whose state ------------------------------------------------------------------------------

def test_mismatch_names_each_difference_and_this_runs_value():
    found = RunState("r", WHO, (), "")
    assert state.mismatch(found, WHO) == []
    other = Identity(WHO.folder + "-2", "Orders", "eu-west-1", "replace")
    assert state.mismatch(found, other) == [
        f"export folder {WHO.folder} (this run: {WHO.folder}-2)",
        "region us-east-1 (this run: eu-west-1)",
        "mode merge (this run: replace)",
    ]


def test_changed_files_tells_gone_new_and_resized():
    found = RunState("r", WHO, ((URL, 10), (URL + "2", 20)), "")
    assert state.changed_files(found, [DataFile(URL, 10), DataFile(URL + "2", 20)]) is None
    assert "1 file(s) it lists are no longer there (first: " + URL + "2)" in str(
        state.changed_files(found, [DataFile(URL, 10)]))
    assert "are new since" in str(state.changed_files(
        found, [DataFile(URL, 10), DataFile(URL + "2", 20), DataFile(URL + "3", 1)]))
    assert "changed size since (first: " + URL + ")" in str(state.changed_files(
        found, [DataFile(URL, 11), DataFile(URL + "2", 20)]))


# --- options -----------------------------------------------------------------------------------

def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_options(parser)
    return parser.parse_args(["--from", "s3://bkt/x/run", "--table", "Orders", *argv])


def test_resume_options():
    cfg = config_from_args(parse(), AWS)
    assert (cfg.resume, cfg.state_prefix, cfg.unit_items) == (False, None, state.UNIT_ITEMS)
    cfg = config_from_args(parse("--resume", "--state-prefix", "s3://bkt/states/orders/",
                                 "--resume-unit-items", "50"), AWS)
    assert (cfg.resume, cfg.state_prefix, cfg.unit_items) == \
        (True, S3Uri("bkt", "states/orders"), 50)


@pytest.mark.parametrize("argv, says", [
    (["--state-prefix", "s3://bkt"], "--state-prefix s3://bkt is a bucket root"),
    (["--state-prefix", "bkt/states"], "--state-prefix 'bkt/states' is not an S3 URI"),
    (["--resume-unit-items", "0"], "--resume-unit-items 0 is not a number of items"),
])
def test_bad_resume_options_are_refused(argv, says):
    with pytest.raises(ConfigError, match=says):
        config_from_args(parse(*argv), AWS)


def test_emr_and_schedules_carry_the_resume_options():
    from ddbpipe.commands import emr

    top = argparse.ArgumentParser()
    emr.register(top.add_subparsers(dest="command"))
    base = ["emr", "import", "--from", "s3://bkt/x/run", "--table", "Orders", "--log-uri",
            "s3://bkt/logs"]
    assert emr.job_args("import", top.parse_args(base)) == \
        ["--from", "s3://bkt/x/run", "--table", "Orders", "--write-percent", "0.5", "--mode",
         "merge", "--max-retry-time", "600.0"]
    argv = emr.job_args("import", top.parse_args(
        [*base, "--resume", "--state-prefix", "s3://bkt/states/orders"]))
    assert argv[-3:] == ["--resume", "--state-prefix", "s3://bkt/states/orders"]
    assert config_from_args(parse(*argv[4:]), AWS).resume


def test_import_config_is_frozen_with_the_new_fields():
    cfg = ImportConfig(S3Uri("bkt", "x"), "Orders", AWS, resume=True)
    with pytest.raises(AttributeError):
        cfg.resume = False  # type: ignore[misc]


# --- the writer's flush --------------------------------------------------------------------------

class SlowTable(TableDouble):
    """A BatchWriteItem stand-in: slow, and every other call leaves half its batch unprocessed."""

    def __init__(self) -> None:
        super().__init__(self.write)
        self.stored: dict[str, Any] = {}
        self.calls = 0

    def write(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(0.02)
        ((table, requests),) = request["RequestItems"].items()
        with self.lock:
            self.calls += 1
            held = requests[len(requests) // 2:] if self.calls % 2 and len(requests) > 1 else []
            for r in requests[:len(requests) - len(held)]:
                item = r["PutRequest"]["Item"]
                self.stored[item["pk"]["S"]] = item
        return 200, {"UnprocessedItems": {table: held} if held else {},
                     "ConsumedCapacity": [{"TableName": table,
                                           "CapacityUnits": len(requests) - len(held)}]}


def test_flush_returns_once_every_item_given_is_stored():
    table = SlowTable()
    writer = BatchWriter(table.client, "T", None, ["pk"], Patience("T"), threads=4)
    units = sum(writer.put({"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}) for i in range(130))
    assert units == 130  # one write unit per small item
    writer.flush()
    assert len(table.stored) == 130 and writer.stats.written == 130
    assert writer.stats.unprocessed_retries > 0  # the held-back halves were sent again first
    for i in range(130, 140):
        writer.put({"pk": {"S": f"k{i}"}})
    stats = writer.close()
    assert len(table.stored) == 140 and stats.written == 140


def test_the_emr_doctor_probes_a_given_state_prefix():
    from ddbpipe.commands import emr, emr_doctor

    top = argparse.ArgumentParser()
    emr.register(top.add_subparsers(dest="command"))
    base = ["emr", "import", "--from", "s3://bkt/x/run", "--table", "Orders", "--log-uri",
            "s3://bkt/logs", "--write-capacity", "100"]
    for extra, want in (([], []), (["--state-prefix", "s3://other/states/o"],
                                   [("import state folder", S3Uri("other", "states/o"))])):
        args = top.parse_args([*base, *extra])
        job = emr.job_spec("import", args, AWS)
        writable, readable = emr_doctor._job_folders(args, job, emr.cluster_options(args))
        assert writable[1:] == want
        assert readable == [("import source", S3Uri("bkt", "x/run"))]


class RefusingS3:
    """An S3 client whose DeleteObjects answers 200 with every key refused, as S3 does."""

    def __init__(self, keys: list[str]) -> None:
        self.keys, self.deleted_calls = keys, 0

    def get_paginator(self, _name: str) -> Any:
        keys = self.keys

        class Pages:
            def paginate(self, Bucket: str, Prefix: str) -> list[dict[str, Any]]:
                return [{"Contents": [{"Key": k} for k in keys if k.startswith(Prefix)]}]

        return Pages()

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> dict[str, Any]:
        self.deleted_calls += 1
        return {"Errors": [{"Key": o["Key"], "Code": "AccessDenied"} for o in Delete["Objects"]]}


def test_a_state_that_cannot_be_deleted_is_said_not_ignored():
    where = S3Uri("bkt", "s/_ddbpipe-state/import-Orders-abc")
    s3 = RefusingS3([f"{where.key}/done/r/f/000000000001-000000000002-2.json",
                     f"{where.key}/run.json", "s/other"])
    with pytest.raises(PermissionDenied, match=r"S3 DeleteObjects left 2 object\(s\) of "
                                        rf"{where}/ \(first: s3://bkt/{where.key}/done/"):
        state.discard(s3, where)  # type: ignore[arg-type]
    warning = state.finish(s3, where)  # type: ignore[arg-type]
    assert warning is not None and warning.startswith(
        f"The import is complete but its resume state at {where}/ could not be deleted (S3 "
        "DeleteObjects left 2 object(s)")
    assert warning.endswith("delete it by hand.")


def test_the_report_says_what_was_resumed():
    from ddbpipe.importer.plan import WritePlan
    from ddbpipe.importer.report import ImportResult
    from ddbpipe.importer.sources import Source
    from ddbpipe.importer.writer import WriteStats

    folder = S3Uri.parse(WHO.folder)
    files = [DataFile(f"{WHO.folder}/f{i}", 10) for i in range(5)]
    source = Source(folder, "ddbpipe", files, source_region="us-east-1")
    plan = WritePlan(100, "provisioned", 0.5, 2)
    fresh = ImportResult("Orders", "us-east-1", source, plan, read=500,
                         writes=WriteStats(written=500))
    assert fresh.summary().startswith(
        "Orders: imported 500 items (read 500, written 500, skipped 0) from 5 files of ")
    assert "resumed" not in fresh.summary()
    written = Written.of([Unit(files[0].url, 1, 100, 100, end=True),
                          Unit(files[1].url, 1, 100, 100, end=True),
                          Unit(files[2].url, 1, 30, 30)], [f.url for f in files])
    resumed = ImportResult("Orders", "us-east-1", source, plan, read=270, skipped=230,
                           writes=WriteStats(written=270), resumed=written)
    text = resumed.summary()
    assert text.startswith("Orders: imported 500 items (read 270, written 270, skipped 230) ")
    assert text.endswith("; resumed an earlier run: skipped the 230 items it wrote (2 of 5 files "
                         "whole, 1 in part)")
