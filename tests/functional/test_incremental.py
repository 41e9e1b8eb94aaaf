"""A table rolled forward from a full native export plus two INCREMENTAL ones (dynalite + moto)."""

from __future__ import annotations

from typing import Any

import pytest

from ddbpipe import convert, importer
from ddbpipe.errors import ConfigError, ExportFormatError, TableNotFound
from ddbpipe.importer import state
from ddbpipe.importer.driver import state_location
from ddbpipe.importer.sources import detect
from ddbpipe.s3uri import S3Uri
from ddbpipe.throttle import Patience, RetryStats
from ddbpipe_dev import sample
from tests.functional.test_export import special_items
from tests.support import exports
from tests.support.exports import Change

pytestmark = pytest.mark.functional

T0, T1, T2 = "2026-01-01T00:00:00Z", "2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z"


def key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}}


def history() -> tuple[list[dict[str, Any]], list[Change], list[Change]]:
    """The table at T0, and what changed in [T0, T1) and [T1, T2), one record an item a window
    (the export is compacted to the item's final state in its window)."""
    base = [*sample.sample_items(60), *special_items()]
    before = {i["pk"]["S"]: i for i in base}

    def update(pk: str, n: int) -> Change:
        return Change(key(pk), {**key(pk), "v": {"N": str(n)}, "b": {"B": bytes([n % 256])}},
                      before.get(pk))

    first = [
        *(update(f"item-{i:08d}", i) for i in range(5)),  # updated
        *(Change(key(f"item-{i:08d}"), None, before[f"item-{i:08d}"])  # deleted
          for i in range(10, 15)),
        *(Change(key(f"new-{i}"), {**key(f"new-{i}"), "l": {"L": [{"S": "x"}]}}, None)
          for i in range(5)),  # inserted
        Change(key("numbers"), None, before["numbers"]),
        Change(key("big"), {**before["big"], "t": {"S": "shorter"}}, before["big"]),
    ]
    before.update({c.keys["pk"]["S"]: c.new for c in first if c.new is not None})
    second = [
        Change(key("item-00000000"), None, before["item-00000000"]),  # updated, then deleted
        Change(key("item-00000010"), {**key("item-00000010"), "back": {"BOOL": True}}, None),
        Change(key("new-1"), {**key("new-1"), "m": {"M": {}}}, before["new-1"]),
        Change(key("new-2"), None, before["new-2"]),
        Change(key("gone-before-the-table-had-it"), None, None),  # deleting a missing item
    ]
    return base, first, second


def expected_state(windows: int = 2) -> dict[str, dict[str, Any]]:
    """The table after the full export and the first ``windows`` incremental ones."""
    base, first, second = history()
    state = {i["pk"]["S"]: i for i in base}
    for change in (*first, *second)[:len(first) if windows == 1 else None]:
        if change.new is None:
            state.pop(change.keys["pk"]["S"], None)
        else:
            state[change.keys["pk"]["S"]] = change.new
    return state


def items_of(ddb: Any, table: str) -> dict[str, dict[str, Any]]:
    return {i["pk"]["S"]: i for i in sample.scan_all(ddb, table)}


@pytest.fixture
def target(ddb, unique) -> str:
    name = f"rolled-{unique}"
    sample.create_table(ddb, name, read=1000, write=1000)
    return name


@pytest.mark.parametrize(("view", "fmt"), [("NEW_IMAGE", "DYNAMODB_JSON"),
                                           ("NEW_AND_OLD_IMAGES", "ION")])
def test_full_then_two_incremental_exports_roll_the_table_forward(
        view, fmt, aws, spark, ddb, s3, bucket, target, unique):
    base, first, second = history()
    prefix = S3Uri(bucket, "exports")
    full = exports.write_native(s3, prefix, base, fmt=fmt, per_file=20, export_time=T0)
    inc1 = exports.write_incremental(s3, prefix, first, start=T0, end=T1, view=view, fmt=fmt,
                                     per_file=7)
    inc2 = exports.write_incremental(s3, prefix, second, start=T1, end=T2, view=view, fmt=fmt,
                                     per_file=2)
    reference = f"ref-{unique}"  # numbers as DynamoDB stores them: the expected items, put
    sample.create_table(ddb, reference)
    sample.put_items(ddb, reference, iter(expected_state().values()))

    # the prefix holds three exports: the refusal says in which order to apply them
    with pytest.raises(ExportFormatError, match="in this order") as refused:
        importer.preflight(importer.ImportConfig(prefix, target, aws))
    text = str(refused.value)
    assert text.index(str(full)) < text.index(str(inc1)) < text.index(str(inc2))

    results = [importer.run(spark, importer.ImportConfig(folder, target, aws))
               for folder in (full, inc1, inc2)]

    assert items_of(ddb, target) == items_of(ddb, reference)
    one, two = results[1], results[2]
    assert one.source.incremental is not None and one.source.incremental.view == view
    assert (one.read, one.writes.written, one.writes.deleted) == (len(first), 11, 6)
    assert (two.read, two.writes.written, two.writes.deleted) == (len(second), 2, 3)
    assert f"{T1} to {T2}" in two.summary() and "2 puts, 3 deletes" in two.summary()
    # applying the last one again changes nothing (each key once, final state: idempotent)
    importer.run(spark, importer.ImportConfig(inc2, target, aws, skip_validation=True))
    assert items_of(ddb, target) == items_of(ddb, reference)


def test_incremental_exports_refuse_what_makes_no_sense(aws, spark, ddb, s3, bucket, target,
                                                        unique):
    _base, first, _second = history()
    inc = exports.write_incremental(s3, S3Uri(bucket, "inc"), first, start=T0, end=T1)
    before = items_of(ddb, target)

    with pytest.raises(ConfigError, match="incremental export.*Use --mode merge"):
        importer.run(spark, importer.ImportConfig(inc, target, aws, mode="replace", yes=True))
    with pytest.raises(TableNotFound, match="incremental export.*Import the full export"):
        importer.preflight(importer.ImportConfig(inc, f"absent-{unique}", aws,
                                                 create_table=True))
    # an export still running: data in the shared folder, no summary yet
    unfinished = exports.write_incremental(s3, S3Uri(bucket, "running"), first, start=T0, end=T1)
    s3.delete_object(Bucket=bucket, Key=unfinished.join("manifest-summary.json").key)
    with pytest.raises(ExportFormatError, match="has not finished.*describe-export"):
        importer.preflight(importer.ImportConfig(S3Uri(bucket, "running"), target, aws,
                                                 allow_incomplete=True))
    # a record whose key does not fit the table: refused by validation, nothing written
    bad = exports.write_incremental(
        s3, S3Uri(bucket, "bad"), [Change({"id": {"N": "1"}}, None, None), *first],
        start=T0, end=T1)
    with pytest.raises(ExportFormatError, match="Nothing was written"):
        importer.run(spark, importer.ImportConfig(bad, target, aws))
    assert items_of(ddb, target) == before
    # changes are applied to a table, not rewritten as a table's items
    with pytest.raises(ConfigError, match="is an incremental export.*convert full exports"):
        convert.preflight(convert.ConvertConfig(inc, S3Uri(bucket, f"conv-{unique}"), aws))


def test_a_stopped_incremental_import_resumes(aws, spark, ddb, s3, bucket, target, unique):
    base, first, _second = history()
    prefix = S3Uri(bucket, "resumed")
    importer.run(spark, importer.ImportConfig(
        exports.write_native(s3, prefix, base, export_time=T0), target, aws))
    inc = exports.write_incremental(s3, prefix, first, start=T0, end=T1, per_file=7)
    # as a run stopped after its first file leaves it: those 7 changes applied and recorded
    cfg = importer.ImportConfig(inc, target, aws, resume=True)
    source = detect(s3, inc)
    for change in first[:7]:
        if change.new is None:
            ddb.delete_item(TableName=target, Key=change.keys)
        else:
            ddb.put_item(TableName=target, Item=change.new)
    where = state_location(cfg, source)
    run = state.new_run(state.Identity(str(inc), target, aws.region, "merge"), source.files)
    state.begin(s3, where, run)
    state.Recorder(where, run.id, {}).record(
        s3, state.Unit(source.files[0].url, 1, 7, 7, end=True), RetryStats(), Patience("S3"))
    reference = f"ref-{unique}"
    sample.create_table(ddb, reference)
    sample.put_items(ddb, reference, iter(expected_state(windows=1).values()))

    result = importer.run(spark, cfg)

    assert (result.skipped, result.read) == (7, len(first) - 7)
    assert items_of(ddb, target) == items_of(ddb, reference)
