"""Incremental export records (DYNAMODB_JSON and ION) read as puts and deletes."""

from __future__ import annotations

import pytest

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats import Deletion, ion_change, json_change
from tests.support.exports import Change, incremental_ion_line, incremental_json_line

KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}
OLD = {**KEY, "v": {"S": "before"}}
NEW = {**KEY, "v": {"S": "after"}, "b": {"B": bytes(range(256))}, "ns": {"NS": ["1.50", "2"]},
       "m": {"M": {"l": {"L": [{"NULL": True}, {"BOOL": False}]}}}}

LINES = {"json": (incremental_json_line, json_change), "ion": (incremental_ion_line, ion_change)}


@pytest.mark.parametrize("fmt", sorted(LINES))
@pytest.mark.parametrize("view", ["NEW_IMAGE", "NEW_AND_OLD_IMAGES"])
def test_records_become_puts_of_the_new_image_or_deletes_of_the_keys(fmt, view):
    line, parse = LINES[fmt]
    assert parse(line(Change(KEY, NEW, None), view)) == NEW  # inserted in the window
    assert parse(line(Change(KEY, NEW, OLD), view)) == NEW  # updated
    deleted = parse(line(Change(KEY, None, OLD), view))
    assert isinstance(deleted, Deletion) and deleted.key == KEY


def test_the_documented_json_shape():
    line = ('{"Metadata":{"WriteTimestampMicros":{"N":"1699014742136004"}},'
            '"Keys":{"pk":{"S":"a"},"sk":{"N":"1"}},'
            '"OldImage":{"pk":{"S":"a"},"sk":{"N":"1"},"v":{"S":"before"}}}')
    assert json_change(line) == Deletion(KEY)


@pytest.mark.parametrize(("line", "message"), [
    ('{"Item":{"pk":{"S":"a"}}}', r"unexpected members \['Item'\]"),
    ('{"Metadata":{},"NewImage":{"pk":{"S":"a"}}}', 'no "Keys"'),
    ('{"Keys":{}}', '"Keys" is empty'),
    ('{"Keys":{"pk":{"S":"a"}},"NewImage":{"pk":{"S":"b"}}}', "does not hold the key attribute"),
    ('{"Keys":{"pk":{"S":"a"}},"NewImage":[1]}', '"NewImage" is an array'),
    ('{"Keys":{"pk":{"X":"a"}}}', "in Keys"),
    ("[1]", "not an incremental export record"),
])
def test_malformed_json_records_say_what(line, message):
    with pytest.raises(ExportFormatError, match=message):
        json_change(line)


@pytest.mark.parametrize(("line", "message"), [
    ("$ion_1_0 {Item:{pk:\"a\"}}", r"unexpected members \['Item'\]"),
    ("$ion_1_0 {Keys:{pk:\"a\"},NewImage:[1]}", "NewImage is not a struct"),
    ("$ion_1_0 [1]", "expected an incremental export record"),
])
def test_malformed_ion_records_say_what(line, message):
    with pytest.raises(ExportFormatError, match=message):
        ion_change(line)
