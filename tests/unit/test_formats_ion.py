"""ddbpipe.formats.ion: DynamoDB native export lines in ION. Pure, no servers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from ddbpipe.formats import ion_line_to_item, validate_number
from tests.support.format_samples import EVERY_TYPE, PROPERTY, export_error, nested
from tests.support.strategies import comparable, item_to_ion_line, items


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


@PROPERTY
@given(items())
def test_ion_round_trip_keeps_every_value(item: dict) -> None:
    decoded = ion_line_to_item(item_to_ion_line(item))
    assert comparable(decoded) == comparable(item)
