"""The writers of DynamoDB's native export lines (DYNAMODB_JSON and ION). Pure, no servers.

Each writer is checked against its own reader (round trips, exact for every type) and against
the form AWS documents, so a file ddbpipe writes is one DynamoDB's ImportTable, Glue and Athena
read.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from ddbpipe.formats import (
    ion_line_to_item,
    item_size,
    item_to_ion_line,
    item_to_line,
    item_to_native_line,
    line_to_item,
    native_line_to_item,
)
from ddbpipe.formats.ion_writer import ion_decimal
from tests.support.format_samples import ALL_BYTES, EVERY_TYPE, PROPERTY, nested
from tests.support.strategies import comparable, items

WRITERS = [
    pytest.param(item_to_native_line, native_line_to_item, id="dynamodb-json"),
    pytest.param(item_to_ion_line, ion_line_to_item, id="ion"),
]


def test_native_json_line_is_the_documented_form() -> None:
    item = {"Id": {"N": "103"}, "Authors": {"SS": ["Author1", "Author2"]},
            "InPublication": {"BOOL": False}, "Pic": {"B": b"\x00\x01\x02"},
            "Nil": {"NULL": True}, "M": {"M": {"k": {"L": [{"S": "é"}]}}}}
    line = item_to_native_line(item)
    assert line == ('{"Item":{"Id":{"N":"103"},"Authors":{"SS":["Author1","Author2"]},'
                    '"InPublication":{"BOOL":false},"Pic":{"B":"AAEC"},"Nil":{"NULL":true},'
                    '"M":{"M":{"k":{"L":[{"S":"é"}]}}}}}')
    assert json.loads(line)["Item"]["Pic"] == {"B": "AAEC"}


def test_ion_line_is_the_documented_form() -> None:
    item = {"Authors": {"SS": ["Author1", "Author2"]}, "Id": {"N": "103"},
            "Price": {"N": "1.50"}, "InPublication": {"BOOL": False},
            "Pic": {"B": b"\x00\x01\x02"}, "Pics": {"BS": [b"\x00\x01"]},
            "Nums": {"NS": ["1", "-2.5"]}, "Nil": {"NULL": True},
            "M": {"M": {"k": {"S": 'q"\\\n'}}}, "L": {"L": []}, "null": {"S": "a keyword"},
            "two words": {"M": {}}}
    assert item_to_ion_line(item) == (
        '$ion_1_0 {Item:{Authors:$dynamodb_SS::["Author1","Author2"],Id:103.,Price:1.50,'
        'InPublication:false,Pic:{{AAEC}},Pics:$dynamodb_BS::[{{AAE=}}],'
        'Nums:$dynamodb_NS::[1.,-2.5],Nil:null,M:{k:"q\\"\\\\\\x0a"},L:[],"null":"a keyword",'
        '"two words":{}}}')


@pytest.mark.parametrize(("number", "ion"), [
    ("0", "0."), ("-7", "-7."), ("1.50", "1.50"), ("0.001", "0.001"), ("007", "7d0"),
    (".5", "5d-1"), ("1E+125", "1d125"), ("-3e2", "-3d2"), ("1e-130", "1d-130"),
    ("99999999999999999999999999999999999999", "99999999999999999999999999999999999999."),
    ("0e5", "0."),
])
def test_numbers_become_exact_ion_decimals(number: str, ion: str) -> None:
    assert ion_decimal(number) == ion


@pytest.mark.parametrize(("write", "read"), WRITERS)
@pytest.mark.parametrize(("value", "_dp"), EVERY_TYPE)
def test_every_type_round_trips(write, read, value: dict, _dp: object) -> None:
    item = {"Id": {"S": "x"}, "v": value, "in a map": {"M": {"v": value}},
            "in a list": {"L": [value, value]}}
    assert comparable(read(write(item))) == comparable(item)


@pytest.mark.parametrize(("write", "read"), WRITERS)
def test_edge_items_round_trip(write, read) -> None:
    big = {"Id": {"S": "big"}, "text": {"S": "é" * 150_000}, "blob": {"B": ALL_BYTES * 350},
           "nums": {"NS": [str(i) for i in range(1000)]}}
    assert 390_000 < item_size(big) <= 400 * 1024
    for item in (big, {"Id": {"N": "1"}, "deep": nested(31)},
                 {"Id": {"B": ALL_BYTES}, "m": {"M": {}}, "l": {"L": []}, "b": {"B": b""}},
                 {"Id": {"N": "-12345678901234567890123456789012345678"},
                  "small": {"N": "1e-130"},
                  "large": {"N": "9.9999999999999999999999999999999999999E+125"},
                  "ctl": {"S": "".join(map(chr, range(0x80)))}}):
        line = write(item)
        assert "\n" not in line
        assert comparable(read(line)) == comparable(item)


@PROPERTY
@given(items())
def test_native_json_round_trips_exactly(item: dict) -> None:
    assert native_line_to_item(item_to_native_line(item)) == item


@PROPERTY
@given(items())
def test_ion_round_trips_to_the_same_values(item: dict) -> None:
    line = item_to_ion_line(item)
    assert "\n" not in line
    assert comparable(ion_line_to_item(line)) == comparable(item)


@PROPERTY
@given(items())
def test_data_pipeline_to_native_to_ion_and_back(item: dict) -> None:
    native = native_line_to_item(item_to_native_line(line_to_item(item_to_line(item))))
    back = line_to_item(item_to_line(ion_line_to_item(item_to_ion_line(native))))
    assert comparable(back) == comparable(item)


@pytest.mark.parametrize(("write", "_read"), WRITERS)
@pytest.mark.parametrize(("item", "message"), [
    ({"a": {"X": "1"}}, "attribute 'a': unknown AttributeValue type 'X'"),
    ({"a": {"N": "1e999"}}, "attribute 'a'"),
    ({"a": {"SS": []}}, "attribute 'a': empty SS set"),
    ({"a": {"M": {"b": {"L": [{"BOOL": 1}]}}}}, "attribute 'a.b[0]': BOOL value must be"),
])
def test_values_not_in_the_low_level_shape_are_refused(write, _read, item, message) -> None:
    with pytest.raises(ValueError) as info:
        write(item)
    assert message in str(info.value)


# --- read by Amazon's own Ion library (amazon-ion), as DynamoDB's ImportTable reads ION --------

def _from_ion(value: Any) -> dict:
    """An AttributeValue of a value amazon-ion parsed, by DynamoDB's mapping (the docs' table)."""
    from amazon.ion.core import IonType

    kind = value.ion_type
    notes = [a.text for a in getattr(value, "ion_annotations", ())]
    if kind == IonType.STRING:
        return {"S": str(value)}
    if kind == IonType.DECIMAL:
        return {"N": str(value)}
    if kind == IonType.BLOB:
        return {"B": bytes(value)}
    if kind == IonType.BOOL:
        return {"BOOL": bool(value)}
    if kind == IonType.NULL:
        return {"NULL": True}
    if kind == IonType.STRUCT:
        return {"M": {k: _from_ion(x) for k, x in value.items()}}
    assert kind == IonType.LIST, kind
    members = [_from_ion(x) for x in value]
    if notes:
        ((t,),) = [[n.removeprefix("$dynamodb_")] for n in notes]
        return {t: [next(iter(m.values())) for m in members]}
    return {"L": members}


def _amazon_ion(line: str) -> dict:
    import amazon.ion.simpleion as ion

    (doc,) = ion.loads(line, single_value=False)
    assert list(doc) == ["Item"]
    return {k: _from_ion(x) for k, x in doc["Item"].items()}


def test_amazon_ion_reads_every_type_and_edge_case() -> None:
    item = {f"v{i}": value for i, (value, _dp) in enumerate(EVERY_TYPE)}
    item.update({"two words": {"S": "x"}, "null": {"N": "1.50"}, "deep": nested(31),
                 "all bytes": {"B": ALL_BYTES}, "ctl": {"S": "".join(map(chr, range(0x80)))}})
    got = _amazon_ion(item_to_ion_line(item))
    assert comparable(got) == comparable(item)
    assert got["null"] == {"N": "1.50"}  # the decimal's precision, as written


@PROPERTY
@given(items())
def test_amazon_ion_reads_what_ddbpipe_writes(item: dict) -> None:
    assert comparable(_amazon_ion(item_to_ion_line(item))) == comparable(item)
