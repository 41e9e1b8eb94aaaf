"""ddbpipe.formats.native: DynamoDB native export lines in DYNAMODB_JSON. Pure, no servers."""

from __future__ import annotations

import pytest
from hypothesis import given

from ddbpipe.formats import native_line_to_item
from tests.support.format_samples import EVERY_TYPE, PROPERTY, export_error
from tests.support.strategies import item_to_native_line, items


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


@PROPERTY
@given(items())
def test_native_json_round_trip_is_exact(item: dict) -> None:
    assert native_line_to_item(item_to_native_line(item)) == item
