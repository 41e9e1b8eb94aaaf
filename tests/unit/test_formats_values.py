"""ddbpipe.formats.values: DynamoDB numbers as exact text, strict base64. Pure, no servers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given

from ddbpipe.formats import b64decode_strict, normalize_number, validate_number
from tests.support.strategies import numbers


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
