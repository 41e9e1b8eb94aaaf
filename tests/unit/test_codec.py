"""ddbpipe.codec: export line formats, numbers, sizes and keys. Pure, no servers."""

from __future__ import annotations

import contextlib
import json
import pickle
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddbpipe.errors import DdbpipeError, ExportFormatError
from ddbpipe.formats import (
    b64decode_strict,
    ion_line_to_item,
    item_size,
    item_to_line,
    key_of,
    key_type_error,
    line_to_item,
    make_key_checker,
    native_line_to_item,
    normalize_number,
    read_units,
    validate_number,
    with_context,
    write_units,
)
from tests.support.strategies import (
    attribute_values,
    comparable,
    item_to_ion_line,
    item_to_native_line,
    items,
    numbers,
)

ALL_BYTES = bytes(range(256))

#: One value of every type, with the Data Pipeline JSON each must produce.
EVERY_TYPE = [
    ({"S": "Soldiers Farewell Hill"}, '{"s":"Soldiers Farewell Hill"}'),
    ({"S": ""}, '{"s":""}'),
    ({"S": 'q"uote\\ nl\n tab\t ctl\x02\x03 é 日本 😀'}, None),
    ({"N": "205"}, '{"n":"205"}'),
    ({"N": "-12.50"}, '{"n":"-12.50"}'),
    ({"N": "12345678901234567890123456789012345678"}, None),
    ({"N": "-1.2345678901234567890123456789012345678E+125"}, None),
    ({"N": "1e-130"}, '{"n":"1e-130"}'),
    ({"B": b"\x00\x01\x02"}, '{"b":"AAEC"}'),
    ({"B": ALL_BYTES}, None),
    ({"B": b""}, '{"b":""}'),
    ({"SS": ["a", "b"]}, '{"sS":["a","b"]}'),
    ({"NS": ["1", "2.5", "-3e2"]}, '{"nS":["1","2.5","-3e2"]}'),
    ({"BS": [b"\x00", b"\xff\xfe"]}, '{"bS":["AA==","//4="]}'),
    ({"M": {"k": {"S": "v"}}}, '{"m":{"k":{"s":"v"}}}'),
    ({"M": {}}, '{"m":{}}'),
    ({"L": [{"N": "1"}, {"S": "x"}, {"L": []}]}, '{"l":[{"n":"1"},{"s":"x"},{"l":[]}]}'),
    ({"L": []}, '{"l":[]}'),
    ({"NULL": True}, '{"nULL":true}'),
    ({"BOOL": True}, '{"bOOL":true}'),
    ({"BOOL": False}, '{"bOOL":false}'),
]

DESIGN_LINE = (
    '{"Id":{"n":"205"},"Tags":{"sS":["a","b"]},"Pic":{"b":"AAEC"},"Ok":{"bOOL":false},'
    '"X":{"nULLValue":true},"A":{"m":{"k":{"s":"v"}}}}'
)
DESIGN_ITEM = {
    "Id": {"N": "205"},
    "Tags": {"SS": ["a", "b"]},
    "Pic": {"B": b"\x00\x01\x02"},
    "Ok": {"BOOL": False},
    "X": {"NULL": True},
    "A": {"M": {"k": {"S": "v"}}},
}


def nested(depth: int) -> dict:
    """An attribute value nested ``depth`` containers deep, alternating M and L."""
    value: dict = {"S": "bottom"}
    for level in range(depth):
        value = {"M": {f"level{level}": value}} if level % 2 else {"L": [value, {"N": "1"}]}
    return value


def export_error(call, line: str) -> str:
    with pytest.raises(ExportFormatError) as info:
        call(line)
    return str(info.value)


# ------------------------------------------------------------------------------------------
# Data Pipeline lines
# ------------------------------------------------------------------------------------------


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


def test_errors_are_export_format_errors_that_pickle_and_take_context() -> None:
    with pytest.raises(ExportFormatError) as info:
        line_to_item('{"a":{"n":"x"}}')
    err = info.value
    assert isinstance(err, DdbpipeError)
    copy = pickle.loads(pickle.dumps(err))
    assert str(copy) == str(err)
    located = with_context(err, "s3://bucket/export/0f3c line 7")
    assert isinstance(located, ExportFormatError)
    assert str(located).startswith("s3://bucket/export/0f3c line 7: attribute 'a': 'x' is not")
    assert located.fix == err.fix


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
# Native DYNAMODB_JSON lines
# ------------------------------------------------------------------------------------------


def test_native_json_line_from_the_aws_documentation() -> None:
    line = (
        '{"Item":{"Authors":{"SS":["Author1","Author2"]},"Dimensions":{"S":"8.5 x 11.0 x 1.5"},'
        '"ISBN":{"S":"333-3333333333"},"Id":{"N":"103"},"InPublication":{"BOOL":false},'
        '"PageCount":{"N":"600"},"Price":{"N":"2000"},"ProductCategory":{"S":"Book"},'
        '"Title":{"S":"Book 103 Title"}}}'
    )
    assert native_line_to_item(line) == {
        "Authors": {"SS": ["Author1", "Author2"]},
        "Dimensions": {"S": "8.5 x 11.0 x 1.5"},
        "ISBN": {"S": "333-3333333333"},
        "Id": {"N": "103"},
        "InPublication": {"BOOL": False},
        "PageCount": {"N": "600"},
        "Price": {"N": "2000"},
        "ProductCategory": {"S": "Book"},
        "Title": {"S": "Book 103 Title"},
    }


@pytest.mark.parametrize(("value", "_dp"), EVERY_TYPE)
def test_native_json_every_type(value: dict, _dp: str | None) -> None:
    item = {"attr": value, "Id": {"N": "1"}}
    assert native_line_to_item(item_to_native_line(item)) == item
    assert native_line_to_item(item_to_native_line(item, ascii_only=True)) == item


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "the line is blank"),
        ('{"Id":{"N":"1"}}', 'not an object with an "Item" member'),
        ('{"Item":{"Id":{"N":"1"}},"Keys":{}}', "unexpected members ['Keys'] next to \"Item\""),
        ('{"Item":[]}', '"Item" is an array, not an object'),
        ('{"Item":{"a":{"s":"x"}}}', "attribute 'a': unknown type key 's' (expected one of S, N"),
        ('{"Item":{"a":{"nULLValue":true}}}', "unknown type key 'nULLValue'"),
        ('{"Item":{"a":{"B":"!!!!"}}}', "invalid base64"),
        ('{"Item":{"a":{"SS":[]}}}', "empty SS set"),
        ('{"Item":{"a":{"N":"1.2.3"}}}', "'1.2.3' is not a number"),
        ('{"Item":{"a":{"M":{"b":{"NULL":false}}}}}', "attribute 'a.b': NULL value must be true"),
        ('{"Item":', "not valid JSON"),
    ],
)
def test_malformed_native_lines(line: str, message: str) -> None:
    text = export_error(native_line_to_item, line)
    assert message in text
    if line:
        assert "DynamoDB JSON export lines" in text


# ------------------------------------------------------------------------------------------
# Native ION lines
# ------------------------------------------------------------------------------------------


def test_ion_line_from_the_brief() -> None:
    line = (
        '$ion_1_0 {Item:{Id:103.,Name:"x",Tags:$dynamodb_SS::["a","b"],'
        "Nums:$dynamodb_NS::[1.,2.5],Pic:{{AAEC}},Pics:$dynamodb_BS::[{{AAE=}}],"
        'M:{k:"v"},L:[1.,"x"],Nil:null,Ok:true}}'
    )
    assert ion_line_to_item(line) == {
        "Id": {"N": "103"},
        "Name": {"S": "x"},
        "Tags": {"SS": ["a", "b"]},
        "Nums": {"NS": ["1", "2.5"]},
        "Pic": {"B": b"\x00\x01\x02"},
        "Pics": {"BS": [b"\x00\x01"]},
        "M": {"M": {"k": {"S": "v"}}},
        "L": {"L": [{"N": "1"}, {"S": "x"}]},
        "Nil": {"NULL": True},
        "Ok": {"BOOL": True},
    }


def test_ion_line_from_the_aws_documentation_formatted_on_several_lines() -> None:
    line = """$ion_1_0 {
        Item:{
            Authors:$dynamodb_SS::["Author1","Author2"],
            Dimensions:"8.5 x 11.0 x 1.5",
            ISBN:"333-3333333333",
            Id:103.,
            InPublication:false,
            PageCount:6d2,
            Price:2d3,
            ProductCategory:"Book",
            Title:"Book 103 Title"
        }
    }"""
    item = ion_line_to_item(line)
    assert item["PageCount"] == {"N": "600"}
    assert item["Price"] == {"N": "2000"}
    assert item["Id"] == {"N": "103"}
    assert item["InPublication"] == {"BOOL": False}
    assert item["Authors"] == {"SS": ["Author1", "Author2"]}


@pytest.mark.parametrize(
    ("ion", "number"),
    [
        ("103.", "103"),
        ("1.5d2", "150"),
        ("1.5D2", "150"),
        ("1d-3", "0.001"),
        ("12.5d-1", "1.25"),
        ("1.50", "1.50"),
        ("0.50", "0.50"),
        ("-0.001", "-0.001"),
        ("0.", "0"),
        ("-0.", "0"),
        ("0d5", "0"),
        ("0d-3", "0"),
        ("-12.", "-12"),
        ("1_000.000_1", "1000.0001"),
        ("42", "42"),
        ("-0", "0"),
        ("1_000_000", "1000000"),
        ("0x1F", "31"),
        ("-0xff", "-255"),
        ("0b101", "5"),
        ("-0B1_0", "-2"),
        ("1.5e2", "150"),  # an Ion float is read from its text, exactly
        ("0.1e0", "0.1"),
        ("5E-1", "0.5"),
        ("1d125", "1" + "0" * 125),
        (
            "9.9999999999999999999999999999999999999d125",
            "99999999999999999999999999999999999999" + "0" * 88,
        ),
        ("1d-130", "0." + "0" * 129 + "1"),
        ("12345678901234567890123456789012345678.", "12345678901234567890123456789012345678"),
        (
            "1.000000000000000000000000000000000000000000",
            "1.000000000000000000000000000000000000000000",
        ),
    ],
)
def test_ion_numbers_map_exactly(ion: str, number: str) -> None:
    item = ion_line_to_item(f"$ion_1_0 {{Item:{{n:{ion}, s:$dynamodb_NS::[{ion}]}}}}")
    assert item == {"n": {"N": number}, "s": {"NS": [number]}}
    assert validate_number(number) == number
    if "x" not in ion.lower() and "b" not in ion.lower():
        text = ion.replace("_", "").lower().replace("d", "e")
        assert Decimal(number) == Decimal(text + ("0" if text.endswith(".") else ""))


def test_ion_strings_symbols_escapes_and_comments() -> None:
    line = (
        "/* leading comment */ $ion_1_0 {'Item': {"
        r'"quoted name": "\x41\u00e9\U0001F600\t\"\\\/\?\'\0\a\b\f\v\n\r", '
        r"'q\'s': 'symbol value', "
        "plain: bare_symbol, "
        r"pair: '\ud83d\ude00', "
        "long: '''it's a ''' /* between */ '''long string''', "
        'cont: "a\\\nb", '  # an escaped newline expands to nothing
        "nested: {a:[1, 2,], b:{c:null.string, d:null.struct},}, "  # trailing commas
        "nul: null.null, "
        'empty: "", '
        "blob: {{ AA EC }}, "
        "noblob: {{}}, "
        "tf: [true, false], "
        "$dollar_ok: 1., "
        "'null': 'true' "
        "}} // trailing comment"
    )
    assert ion_line_to_item(line) == {
        "quoted name": {"S": "Aé😀\t\"\\/?'\x00\x07\x08\x0c\x0b\n\r"},
        "q's": {"S": "symbol value"},
        "plain": {"S": "bare_symbol"},
        "pair": {"S": "😀"},
        "long": {"S": "it's a long string"},
        "cont": {"S": "ab"},
        "nested": {
            "M": {
                "a": {"L": [{"N": "1"}, {"N": "2"}]},
                "b": {"M": {"c": {"NULL": True}, "d": {"NULL": True}}},
            }
        },
        "nul": {"NULL": True},
        "empty": {"S": ""},
        "blob": {"B": b"\x00\x01\x02"},
        "noblob": {"B": b""},
        "tf": {"L": [{"BOOL": True}, {"BOOL": False}]},
        "$dollar_ok": {"N": "1"},
        "null": {"S": "true"},
    }


def test_ion_line_without_version_marker_and_empty_item() -> None:
    assert ion_line_to_item("{Item:{}}") == {}
    assert ion_line_to_item('$ion_1_0 $ion_1_0 {Item:{a:"b"}}\n') == {"a": {"S": "b"}}


def test_ion_every_type_and_twenty_deep() -> None:
    item = {"deep": nested(20)}
    for i, (value, _dp) in enumerate(EVERY_TYPE):
        item[f"a{i}"] = value
    assert comparable(ion_line_to_item(item_to_ion_line(item))) == comparable(item)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "the line is blank"),
        ("$ion_1_0", "holds no item"),
        ("$ion_1_1 {Item:{}}", "unsupported Ion version marker $ion_1_1"),
        ('$ion_symbol_table::{symbols:["a"]} {Item:{}}', "symbol tables) are not supported"),
        ("$ion_1_0 {Item:{}} {Item:{}}", "more than one value on the line"),
        ("$ion_1_0 {Keys:{}}", "expected a struct with an Item field"),
        ("$ion_1_0 [1]", "expected a struct with an Item field"),
        ("$ion_1_0 {Item:{}, Other:1}", "unexpected fields ['Other'] next to Item"),
        ("$ion_1_0 {Item:1}", "Item is not a struct"),
        ("$ion_1_0 {Item:{a:1}", "expected ',' or '}' in a struct"),
        ("$ion_1_0 {Item:{a 1}}", "expected ':', found '1'"),
        ("$ion_1_0 {Item:{a:1,,b:2}}", "expected a field name, found ','"),
        ("$ion_1_0 {Item:{a:[1,,2]}}", "attribute 'a[1]': unexpected character ','"),
        ("$ion_1_0 {Item:{a:1,a:2}}", "field 'a' appears twice"),
        ("$ion_1_0 {Item:{a:1.5e}}", "attribute 'a': invalid number ('1.5e')"),
        ("$ion_1_0 {Item:{a:0123}}", "invalid number ('0123')"),
        ("$ion_1_0 {Item:{a:1__0}}", "invalid number ('1__0')"),
        ("$ion_1_0 {Item:{a:+1}}", "invalid number ('+1')"),
        ("$ion_1_0 {Item:{a:1d126}}", "larger than DynamoDB's 9.99...E+125"),
        ("$ion_1_0 {Item:{a:1d-131}}", "smaller than DynamoDB's 1E-130"),
        ("$ion_1_0 {Item:{a:1d99999999999999}}", "larger than DynamoDB's"),
        ("$ion_1_0 {Item:{a:123456789012345678901234567890123456789}}", "has 39 significant"),
        ("$ion_1_0 {Item:{a:nan}}", "nan is not a DynamoDB number"),
        ("$ion_1_0 {Item:{a:-inf}}", "-inf is not a DynamoDB number"),
        ("$ion_1_0 {Item:{a:2007-02-23T12:14Z}}", "timestamps are not DynamoDB values"),
        ("$ion_1_0 {Item:{a:(x y)}}", "s-expressions are not DynamoDB values"),
        ('$ion_1_0 {Item:{a:{{"clob"}}}}', "clobs are not DynamoDB values"),
        ("$ion_1_0 {Item:{a:{{AAE}}}}", "invalid base64"),
        ("$ion_1_0 {Item:{a:{{AAEC}}", "expected ',' or '}' in a struct"),
        ("$ion_1_0 {Item:{a:{{AAEC", "unterminated {{ blob }}"),
        ("$ion_1_0 {Item:{a:money::1.}}", "unsupported annotation 'money'"),
        ("$ion_1_0 {Item:{a:$dynamodb_SS::$dynamodb_SS::[]}}", "more than one annotation"),
        ('$ion_1_0 {Item:{a:$dynamodb_SS::"x"}}', "$dynamodb_SS must annotate a list"),
        ("$ion_1_0 {Item:{a:$dynamodb_SS::[]}}", "attribute 'a': empty SS set"),
        ('$ion_1_0 {Item:{a:$dynamodb_SS::["x","x"]}}', "SS set has duplicate members"),
        ('$ion_1_0 {Item:{a:$dynamodb_NS::[1.,"2"]}}', "NS members must be N values, got S"),
        ("$ion_1_0 {Item:{a:$dynamodb_BS::[1.]}}", "BS members must be B values, got N"),
        ("$ion_1_0 {Item:{a:$10}}", "symbol ID $10 needs a symbol table"),
        ("$ion_1_0 {Item:{$10:1}}", "symbol ID $10 needs a symbol table"),
        ("$ion_1_0 {Item:{x::a:1}}", "a field name cannot be annotated"),
        ('$ion_1_0 {Item:{a:"x}}', "unterminated string"),
        ("$ion_1_0 {Item:{a:'''x}}", "unterminated ''' string"),
        (r'$ion_1_0 {Item:{a:"\q"}}', "invalid escape \\q"),
        (r'$ion_1_0 {Item:{a:"\x4"}}', "invalid escape \\x4"),
        (r'$ion_1_0 {Item:{a:"\ud800"}}', "lone high surrogate"),
        (r'$ion_1_0 {Item:{a:"\udc00"}}', "lone low surrogate"),
        (r'$ion_1_0 {Item:{a:"\U00110000"}}', "is not a Unicode code point"),
        ("$ion_1_0 {Item:{a:null.nothing}}", "invalid typed null"),
        ("$ion_1_0 {Item:{a:1}} /* open", "unterminated /* comment"),
        ("$ion_1_0 {Item:{a:" + "[" * 100 + "]" * 100 + "}}", "nested too deeply"),
        ("$ion_1_0 {Item:{a:{b:[1, {c:1d999}]}}}", "attribute 'a.b[1].c': number is larger"),
    ],
)
def test_malformed_ion_lines(line: str, message: str) -> None:
    text = export_error(ion_line_to_item, line)
    assert message in text
    if line:
        assert "DynamoDB ION export lines" in text


# ------------------------------------------------------------------------------------------
# Numbers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "-0",
        "205",
        "-12.5e3",
        "1.50",
        ".5",
        "5.",
        "007",
        "1E+5",
        "1e-5",
        "12345678901234567890123456789012345678",
        "-12345678901234567890123456789012345678",
        "1234567890123456789012345678901234567800000",  # trailing zeros are not significant
        "0.0000012345678901234567890123456789012345678",  # nor are leading zeros
        "1E-130",
        "9.9999999999999999999999999999999999999E+125",
        "-9.9999999999999999999999999999999999999E+125",
        "0.1E-129",
        "100E123",
        "0e999999999999999999",
    ],
)
def test_valid_numbers_are_returned_unchanged(text: str) -> None:
    assert validate_number(text) is text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a number"),
        ("-", "is not a number"),
        (".", "is not a number"),
        ("+1", "is not a number"),
        (" 1", "is not a number"),
        ("1 ", "is not a number"),
        ("1e", "is not a number"),
        ("1e+", "is not a number"),
        ("0x10", "is not a number"),
        ("1_000", "is not a number"),
        ("NaN", "is not a number"),
        ("Infinity", "is not a number"),
        ("١٢٣", "is not a number"),  # non-ASCII digits
        ("1.2.3", "is not a number"),
        ("123456789012345678901234567890123456789", "39 significant digits"),
        ("1.23456789012345678901234567890123456789", "39 significant digits"),
        ("1E+126", "larger than"),
        ("10E+125", "larger than"),
        ("1E-131", "smaller than"),
        ("0.1E-130", "smaller than"),
        ("1e99999999999999999999", "larger than"),
        ("1e-99999999999999999999", "smaller than"),
    ],
)
def test_invalid_numbers_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="") as info:
        validate_number(text)
    assert message in str(info.value)


def test_validate_number_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="must be given as a string"):
        validate_number(1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0", "0"),
        ("-0.000", "0"),
        ("1.50", "1.5"),
        ("-12.5e3", "-12500"),
        ("007", "7"),
        ("1E-5", "0.00001"),
        (".5", "0.5"),
        ("5.", "5"),
        ("100", "100"),
        ("1.0E+2", "100"),
    ],
)
def test_normalize_number(text: str, canonical: str) -> None:
    assert normalize_number(text) == canonical


def test_normalize_number_refuses_what_is_not_a_number_string() -> None:
    with pytest.raises(ValueError, match="must be given as a string"):
        normalize_number(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="is not a number"):
        normalize_number("1,5")


@given(numbers())
def test_generated_numbers_are_valid_and_normalise_to_the_same_value(text: str) -> None:
    assert validate_number(text) == text
    canonical = normalize_number(text)
    assert Decimal(canonical) == Decimal(text)
    assert normalize_number(canonical) == canonical
    assert "e" not in canonical.lower()


def test_b64decode_strict() -> None:
    assert b64decode_strict("AAEC") == b"\x00\x01\x02"
    assert b64decode_strict("") == b""
    for bad in ["AAE", "AA=C", "AB==", "AAE=\n", "AA E", "AAE-", "AA==AA=="]:
        with pytest.raises(ValueError, match="base64"):
            b64decode_strict(bad)


# ------------------------------------------------------------------------------------------
# Sizes and capacity
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({}, 0),
        ({"Id": {"N": "103"}}, 2 + 3),  # 3 significant digits: 2 bytes + 1
        ({"Id": {"N": "0"}}, 2 + 1),
        ({"Id": {"N": "12345"}}, 2 + 4),
        ({"Id": {"N": "100"}}, 2 + 2),  # trailing zeros are trimmed
        ({"Id": {"N": "-0.00120"}}, 2 + 2),
        ({"Id": {"N": "1.2e3"}}, 2 + 2),
        ({"Id": {"N": "9" * 38}}, 2 + 20),
        ({"Name": {"S": "héllo"}}, 4 + 6),
        ({"名": {"S": ""}}, 3 + 0),
        ({"B": {"B": b"\x00\x01\x02"}}, 1 + 3),
        ({"Ok": {"BOOL": True}}, 2 + 1),
        ({"X": {"NULL": True}}, 1 + 1),
        ({"M": {"M": {}}}, 1 + 3),
        ({"L": {"L": []}}, 1 + 3),
        ({"M": {"M": {"ab": {"S": "xyz"}}}}, 1 + 3 + (2 + 3 + 1)),
        ({"L": {"L": [{"N": "1"}, {"S": ""}]}}, 1 + 3 + (2 + 1) + (0 + 1)),
        ({"SS": {"SS": ["a", "bc"]}}, 2 + 3),
        ({"NS": {"NS": ["100", "-1.50"]}}, 2 + 2 + 2),
        ({"BS": {"BS": [b"ab", b"c"]}}, 2 + 3),
        (DESIGN_ITEM, 2 + 3 + 4 + 2 + 3 + 3 + 2 + 1 + 1 + 1 + 1 + 3 + (1 + 1 + 1)),
    ],
)
def test_item_size_follows_the_documented_rules(item: dict, size: int) -> None:
    assert item_size(item) == size


def test_item_size_refuses_unknown_types() -> None:
    with pytest.raises(ValueError, match="attribute 'a': unknown AttributeValue type 'Q'"):
        item_size({"a": {"Q": 1}})


def test_capacity_units() -> None:
    assert write_units(0) == 1
    assert write_units(1024) == 1
    assert write_units(1025) == 2
    assert read_units(4096, consistent=True) == 1
    assert read_units(4097, consistent=True) == 2
    assert read_units(100) == 0.5


# ------------------------------------------------------------------------------------------
# Keys
# ------------------------------------------------------------------------------------------

SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "N"},
    {"AttributeName": "gsi", "AttributeType": "B"},
]


def test_key_of_is_hashable_and_compares_numbers_by_value() -> None:
    a = {"pk": {"S": "a"}, "sk": {"N": "1.0"}, "x": {"S": "1"}}
    b = {"sk": {"N": "1"}, "pk": {"S": "a"}}
    assert key_of(a, ["pk", "sk"]) == (("S", "a"), ("N", "1"))
    assert key_of(a, ["pk", "sk"]) == key_of(b, ["pk", "sk"])
    assert len({key_of(a, ["pk", "sk"]), key_of(b, ["pk", "sk"])}) == 1
    assert key_of({"b": {"B": b"\x00"}}, ["b"]) == (("B", b"\x00"),)


def test_key_of_refuses_missing_or_non_scalar_keys() -> None:
    with pytest.raises(ValueError, match="no key attribute 'sk'"):
        key_of({"pk": {"S": "a"}}, ["pk", "sk"])
    with pytest.raises(ValueError, match="must be S, N or B"):
        key_of({"pk": {"SS": ["a"]}}, ["pk"])


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "other": {"M": {}}}, None),
        ({"pk": {"S": "a"}}, "the item has no sort key attribute 'sk' (N)"),
        ({"sk": {"N": "1"}}, "the item has no partition key attribute 'pk' (S)"),
        (
            {"pk": {"S": "a"}, "sk": {"S": "1"}},
            "sort key attribute 'sk' is S but the table declares N",
        ),
        ({"pk": {"N": "1"}, "sk": {"N": "1"}}, "partition key attribute 'pk' is N but the table"),
        ({"pk": {"S": ""}, "sk": {"N": "1"}}, "partition key attribute 'pk' is an empty string"),
        ({"pk": {"S": "a"}, "sk": {"N": "1e999"}}, "sort key attribute 'sk': number '1e999' is"),
        ({"pk": {"S": "a"}, "sk": {"N": 1}}, "must be given as a string"),
        ({"pk": {"S": "é" * 1025}, "sk": {"N": "1"}}, "'pk' is 2050 bytes, DynamoDB allows 2048"),
        ({"pk": {"S": "a", "N": "1"}, "sk": {"N": "1"}}, "'pk' is not a valid AttributeValue"),
    ],
)
def test_key_type_error(item: dict, message: str | None) -> None:
    error = key_type_error(item, SCHEMA, DEFINITIONS)
    if message is None:
        assert error is None
    else:
        assert error is not None and message in error


def test_key_checker_binary_keys_and_schema_errors() -> None:
    check = make_key_checker([{"AttributeName": "gsi", "KeyType": "HASH"}], DEFINITIONS)
    assert check({"gsi": {"B": b"\x01"}}) is None
    assert check({"gsi": {"B": b""}}) == "partition key attribute 'gsi' is empty binary"
    assert check({"gsi": {"B": b"x" * 2049}}) == (
        "partition key attribute 'gsi' is 2049 bytes, DynamoDB allows 2048"
    )
    with pytest.raises(ValueError, match="'nope' has no AttributeDefinition"):
        make_key_checker([{"AttributeName": "nope", "KeyType": "HASH"}], DEFINITIONS)


# ------------------------------------------------------------------------------------------
# Properties
# ------------------------------------------------------------------------------------------

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(items(), st.sampled_from(["nULL", "nULLValue"]))
def test_data_pipeline_round_trip_is_exact(item: dict, null_key: str) -> None:
    line = item_to_line(item, null_key=null_key)
    assert "\n" not in line and "\r" not in line
    assert line_to_item(line) == item
    assert json.loads(line) is not None  # plain JSON any reader can parse


@PROPERTY
@given(items())
def test_native_json_round_trip_is_exact(item: dict) -> None:
    assert native_line_to_item(item_to_native_line(item)) == item


@PROPERTY
@given(items())
def test_ion_round_trip_keeps_every_value(item: dict) -> None:
    decoded = ion_line_to_item(item_to_ion_line(item))
    assert comparable(decoded) == comparable(item)


@settings(max_examples=100, deadline=None)
@given(items(key_schema={"pk": "S", "sk": "N"}))
def test_generated_keyed_items_pass_the_key_check(item: dict) -> None:
    assert key_type_error(item, SCHEMA, DEFINITIONS) is None
    assert key_of(item, ["pk", "sk"])[1] == ("N", normalize_number(item["sk"]["N"]))


@given(attribute_values(max_depth=2))
def test_item_size_counts_every_value(value: dict) -> None:
    size = item_size({"a": value})
    assert size >= 1  # the name; an empty S or B adds nothing
    assert item_size({"a": value, "bb": value}) == 2 * size + 1


@st.composite
def damaged_lines(draw: st.DrawFn) -> str:
    """A valid line of one of the formats with a slice cut out or a character swapped in."""
    item = draw(items(max_depth=2, max_size=4))
    line = draw(
        st.sampled_from([item_to_line(item), item_to_native_line(item), item_to_ion_line(item)])
    )
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, min(len(line), start + 5)))
    return line[:start] + draw(st.sampled_from(["", "x", "}", '"', "\\", "\x02", "0"])) + line[end:]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=50), damaged_lines()))
def test_readers_fail_only_with_export_format_error(line: str) -> None:
    for reader in (line_to_item, native_line_to_item, ion_line_to_item):
        with contextlib.suppress(ExportFormatError):
            reader(line)
