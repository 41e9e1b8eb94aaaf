"""ddbpipe.formats.datapipeline: Data Pipeline and Hive-era lines, both ways. Pure, no servers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddbpipe.formats import item_size, item_to_line, line_to_item
from tests.support.format_samples import (
    ALL_BYTES,
    DESIGN_ITEM,
    DESIGN_LINE,
    EVERY_TYPE,
    PROPERTY,
    export_error,
    nested,
)
from tests.support.strategies import items


def test_design_example_line_is_reproduced_byte_for_byte() -> None:
    assert line_to_item(DESIGN_LINE) == DESIGN_ITEM
    assert item_to_line(DESIGN_ITEM, null_key="nULLValue") == DESIGN_LINE
    assert item_to_line(DESIGN_ITEM) == DESIGN_LINE.replace("nULLValue", "nULL")


@pytest.mark.parametrize(("value", "expected"), EVERY_TYPE)
def test_every_type_round_trips(value: dict, expected: str | None) -> None:
    item = {"attr": value}
    line = item_to_line(item)
    if expected is not None:
        assert line == '{"attr":' + expected + "}"
    assert line_to_item(line) == item
    assert "\n" not in line


def test_line_is_compact_utf8_json_like_json_dumps() -> None:
    item = {"név": {"S": "日本語 ü 😀 \u2028"}, "n": {"N": "1"}}
    line = item_to_line(item)
    assert line == '{"név":{"s":"日本語 ü 😀 \u2028"},"n":{"n":"1"}}'
    assert "\\u" not in line
    assert line == json.dumps(
        {"név": {"s": "日本語 ü 😀 \u2028"}, "n": {"n": "1"}},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def test_binary_with_all_256_byte_values_is_standard_padded_base64() -> None:
    line = item_to_line({"b": {"B": ALL_BYTES}, "bs": {"BS": [ALL_BYTES, ALL_BYTES[:1]]}})
    assert '"b":"AAECAwQFBgc' in line
    assert line.count("=") == 2 + 2 + 2  # 256 bytes and 1 byte both end in "=="
    assert "-" not in line and "_" not in line  # not the URL-safe alphabet
    assert line_to_item(line)["b"] == {"B": ALL_BYTES}


def test_numbers_are_kept_exactly_as_written() -> None:
    for text in ["1.50", "0.000", "-0", "1E+5", "1e5", ".5", "5.", "007", "1.0E-130"]:
        line = item_to_line({"n": {"N": text}, "ns": {"NS": [text, "42"]}})
        assert line_to_item(line) == {"n": {"N": text}, "ns": {"NS": [text, "42"]}}


def test_null_in_both_spellings_and_other_casings() -> None:
    for key in ["nULL", "nULLValue", "NULL", "null", "NULLVALUE"]:
        assert line_to_item('{"x":{"' + key + '":true}}') == {"x": {"NULL": True}}


def test_type_keys_are_matched_case_insensitively_like_the_connector() -> None:
    line = (
        '{"a":{"S":"x"},"b":{"ss":["y"]},"c":{"NS":["1"]},"d":{"Bs":["AA=="]},'
        '"e":{"BOOL":true},"f":{"bool":false},"g":{"M":{"h":{"L":[]}}}}'
    )
    assert line_to_item(line) == {
        "a": {"S": "x"},
        "b": {"SS": ["y"]},
        "c": {"NS": ["1"]},
        "d": {"BS": [b"\x00"]},
        "e": {"BOOL": True},
        "f": {"BOOL": False},
        "g": {"M": {"h": {"L": []}}},
    }


def test_empty_list_and_map_stay_empty_list_and_map() -> None:
    # The connector turns these into empty (invalid) AttributeValues; we must not.
    item = line_to_item('{"l":{"l":[]},"m":{"m":{}},"deep":{"m":{"x":{"l":[{"m":{}}]}}}}')
    assert item == {
        "l": {"L": []},
        "m": {"M": {}},
        "deep": {"M": {"x": {"L": [{"M": {}}]}}},
    }


def test_nested_twenty_deep_round_trips() -> None:
    item = {"deep": nested(20), "Id": {"S": "x"}}
    line = item_to_line(item)
    assert line.count('"m":') + line.count('"l":') == 20
    assert line_to_item(line) == item


def test_item_near_400_kb_round_trips() -> None:
    item = {
        "Id": {"S": "big"},
        "text": {"S": "é" * 150_000},  # 300,000 UTF-8 bytes
        "blob": {"B": ALL_BYTES * 350},  # 89,600 bytes
        "nums": {"NS": [str(i) for i in range(1000)]},
    }
    size = item_size(item)
    assert 390_000 < size <= 400 * 1024
    line = item_to_line(item)
    assert line_to_item(line) == item


def test_line_endings_and_surrounding_whitespace_are_ignored() -> None:
    assert line_to_item('{"a":{"s":"x"}}\r\n') == {"a": {"S": "x"}}
    assert line_to_item('  {"a":{"s":" x "}}  \n') == {"a": {"S": " x "}}


def test_raw_control_characters_and_a_byte_order_mark_are_tolerated() -> None:
    assert line_to_item('{"a":{"s":"tab\there"}}') == {"a": {"S": "tab\there"}}
    assert line_to_item('\ufeff{"a":{"s":"x"}}') == {"a": {"S": "x"}}
    assert line_to_item('\ufeffa\x03{"s":"x"}') == {"a": {"S": "x"}}
    assert "the line is blank" in export_error(line_to_item, "\ufeff")


def test_bare_json_numbers_are_accepted_for_numbers_only_and_kept_exactly() -> None:
    item = line_to_item('{"a":{"n":12.50},"b":{"nS":[1,"2",3e2]}}')
    assert item == {"a": {"N": "12.50"}, "b": {"NS": ["1", "2", "3e2"]}}
    assert "the number 5" in export_error(line_to_item, '{"a":{"s":5}}')


def test_attribute_order_is_kept() -> None:
    names = [f"a{i}" for i in range(50)][::-1]
    item = {name: {"N": str(i)} for i, name in enumerate(names)}
    assert list(line_to_item(item_to_line(item))) == names


# Hive-era lines ---------------------------------------------------------------------------


def test_hive_line_from_the_design() -> None:
    line = 'Name\x03{"s":"Soldiers Farewell Hill"}\x02Elevation\x03{"n":"6135"}'
    assert line_to_item(line) == {
        "Name": {"S": "Soldiers Farewell Hill"},
        "Elevation": {"N": "6135"},
    }


def test_hive_line_with_every_type_and_awkward_names() -> None:
    parts = [f"{name}\x03{json.dumps(value)}" for name, value in _hive_values()]
    line = "\x02".join(parts) + "\n"
    assert line_to_item(line) == {
        "id": {"S": "Seattle"},
        "scores": {"NS": ["100", "30", "45"]},
        'quo"te:,': {"B": b"\x00\x01"},
        "sp ace": {"M": {"k": {"L": [{"BOOL": True}, {"NULL": True}]}}},
        "tags": {"SS": ["a"]},
        "pics": {"BS": [b"\xff"]},
    }


def _hive_values() -> list:
    return [
        ("id", {"s": "Seattle"}),
        ("scores", {"nS": ["100", "30", "45"]}),
        ('quo"te:,', {"b": "AAE="}),
        ("sp ace", {"m": {"k": {"l": [{"bOOL": True}, {"nULLValue": True}]}}}),
        ("tags", {"sS": ["a"]}),
        ("pics", {"bS": ["/w=="]}),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('Name\x03{"s":"x"}\x02Elevation{"n":"1"}', "has no ETX (0x03) after its name"),
        ('a\x03{"s":"x"}\x02a\x03{"s":"y"}', "attribute 'a' appears twice"),
        ('a\x03{"q":"x"}', "attribute 'a': unknown type key 'q'"),
        ("a\x03not json", "attribute 'a': the value is not valid JSON"),
    ],
)
def test_malformed_hive_lines(line: str, message: str) -> None:
    assert message in export_error(line_to_item, line)


# Malformed lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "the line is blank"),
        ("   \r\n", "the line is blank"),
        ('{"a":{"s":"x"}', "the line is not valid JSON: Expecting ',' delimiter"),
        ("not an item", "neither a JSON object nor a Hive-style line"),
        ('[{"a":{"s":"x"}}]', "the line is an array, not an item object"),
        ('"text"', "the line is the string 'text', not an item object"),
        ('{"a":{"q":"x"}}', "attribute 'a': unknown type key 'q' (expected one of s, n, b"),
        ('{"a":{"s":"x","n":"1"}}', "exactly one type key, got ['n', 's']"),
        ('{"a":{}}', "attribute 'a': empty value {}"),
        ('{"a":"x"}', "attribute 'a': expected a typed value like"),
        ('{"a":{"n":"x1"}}', "attribute 'a': 'x1' is not a number"),
        ('{"a":{"n":"1e126"}}', "larger than DynamoDB's 9.99...E+125"),
        ('{"a":{"n":"1e-131"}}', "smaller than DynamoDB's 1E-130"),
        ('{"a":{"n":"1234567890123456789012345678901234567891"}}', "has 40 significant digits"),
        ('{"a":{"n":"+1"}}', "'+1' is not a number"),
        ('{"a":{"n":" 1"}}', "' 1' is not a number"),
        ('{"a":{"n":"NaN"}}', "'NaN' is not a number"),
        ('{"a":{"n":NaN}}', "the line is not valid JSON: NaN is not allowed"),
        ('{"a":{"n":true}}', "N value must be a string, got true"),
        ('{"a":{"sS":[]}}', "attribute 'a': empty SS set"),
        ('{"a":{"nS":[]}}', "attribute 'a': empty NS set"),
        ('{"a":{"bS":[]}}', "attribute 'a': empty BS set"),
        ('{"a":{"sS":["x","x"]}}', "SS set has duplicate members"),
        ('{"a":{"sS":"x"}}', "SS value must be an array"),
        ('{"a":{"sS":[1]}}', "SS members must be strings, got the number 1"),
        ('{"a":{"nS":["1","y"]}}', "'y' is not a number"),
        ('{"a":{"b":"AAE"}}', "invalid base64 'AAE'"),
        ('{"a":{"b":"AA=E"}}', "invalid base64"),
        ('{"a":{"b":"AA\\nEC"}}', "invalid base64"),
        ('{"a":{"b":"AAE-"}}', "invalid base64"),
        ('{"a":{"b":"AB=="}}', "padding bits are not zero"),
        ('{"a":{"b":"AAF="}}', "padding bits are not zero"),
        ('{"a":{"bS":["AA==","AA=="]}}', "BS set has duplicate members"),
        ('{"a":{"b":5}}', "binary data must be a base64 string"),
        ('{"a":{"bOOL":"true"}}', "BOOL value must be true or false, got the string 'true'"),
        ('{"a":{"nULL":false}}', "NULL value must be true, got false"),
        ('{"a":{"nULLValue":null}}', "NULL value must be true, got null"),
        ('{"a":{"m":[]}}', "M value must be an object, got an array"),
        ('{"a":{"l":{}}}', "L value must be an array, got an object"),
        ('{"a":{"m":{"b":{"l":[{"s":"ok"},{"n":"x"}]}}}}', "attribute 'a.b[1]': 'x' is not"),
        ('{"a":{"s":null}}', "S value must be a string, got null"),
    ],
)
def test_malformed_lines_give_a_clear_error(line: str, message: str) -> None:
    text = export_error(line_to_item, line)
    assert message in text
    if line.strip():
        assert "Data Pipeline export lines are JSON objects" in text  # the fix


def test_absurdly_deep_lines_are_refused_not_crashed_on() -> None:
    depth = 100_000
    assert "nested too deeply" in export_error(line_to_item, "[" * depth + "]" * depth)
    line = '{"a":' + '{"l":[' * depth + "]}" * depth + "}"
    assert "nested too deeply" in export_error(line_to_item, line)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"a": {"X": "1"}}, "attribute 'a': unknown AttributeValue type 'X'"),
        ({"a": {"S": 1}}, "S value must be str, got int"),
        ({"a": {"N": 1.5}}, "a number must be given as a string"),
        ({"a": {"N": "1e200"}}, "larger than DynamoDB's"),
        ({"a": {"SS": []}}, "empty SS set"),
        ({"a": {"SS": ["x", 1]}}, "SS members must be str"),
        ({"a": {"B": "AAEC"}}, "B/BS values must be bytes, got str"),
        ({"a": {"NULL": False}}, "NULL value must be True"),
        ({"a": {"BOOL": 1}}, "BOOL value must be bool"),
        ({"a": {"S": "x", "N": "1"}}, "not an AttributeValue"),
        ({"a": {"M": {"b": {"L": [{"S": "x"}, {"Q": 1}]}}}}, "attribute 'a.b[1]': unknown"),
        ({"a": {"M": {1: {"S": "x"}}}}, "map key 1 is not a string"),
        ({1: {"S": "x"}}, "attribute name 1 is not a string"),
    ],
)
def test_items_not_in_low_level_shape_are_refused_on_write(item: dict, message: str) -> None:
    with pytest.raises(ValueError, match="") as info:
        item_to_line(item)
    assert message in str(info.value)


def test_unknown_null_key_is_refused() -> None:
    with pytest.raises(ValueError, match="null_key"):
        item_to_line({"a": {"NULL": True}}, null_key="NULL")


def test_tuples_and_bytearrays_are_written_like_lists_and_bytes() -> None:
    line = item_to_line({"l": {"L": ({"S": "x"},)}, "b": {"B": bytearray(b"\x01")}})
    assert line == '{"l":{"l":[{"s":"x"}]},"b":{"b":"AQ=="}}'


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------


@PROPERTY
@given(items(), st.sampled_from(["nULL", "nULLValue"]))
def test_data_pipeline_round_trip_is_exact(item: dict, null_key: str) -> None:
    line = item_to_line(item, null_key=null_key)
    assert "\n" not in line and "\r" not in line
    assert line_to_item(line) == item
    assert json.loads(line) is not None  # plain JSON any reader can parse
