"""ddbpipe.formats.items: item sizes, capacity units and keys. Pure, no servers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from ddbpipe.formats import (
    item_size,
    key_of,
    key_type_error,
    make_key_checker,
    normalize_number,
    read_units,
    write_units,
)
from tests.support.format_samples import DESIGN_ITEM
from tests.support.strategies import attribute_values, items

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
