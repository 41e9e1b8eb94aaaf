"""Hypothesis strategies for DynamoDB items in the boto3 low-level shape, and reference encoders.

Strategies (reusable by unit and functional tests):

* :func:`numbers` -- valid DynamoDB numbers as strings, in many spellings (``12``, ``-0.5``,
  ``1.50``, ``12.5e3``, ``1E-130``, 38-digit values).
* :func:`attribute_values` -- any AttributeValue, nested up to ``max_depth`` levels of M/L.
* :func:`items` -- whole items, optionally with key attributes of declared types.

Sets are non-empty with unique members (NS unique by numeric value, as DynamoDB requires) and no
empty strings or empty binaries inside sets; attribute names are non-empty.

Reference encoders, written independently of :mod:`ddbpipe.formats` so round trips through it test
something: :func:`item_to_native_line` (DynamoDB native DYNAMODB_JSON export line) and
:func:`item_to_ion_line` (native ION export line, numbers written as Ion decimals the way
DynamoDB's exporter does). :func:`comparable` puts an item in a form that compares equal across a
trip through DynamoDB (normalised numbers, sorted sets).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from decimal import Decimal
from typing import Any, Dict, Mapping, Optional

from hypothesis import strategies as st

from ddbpipe.formats import normalize_number

Item = Dict[str, Dict[str, Any]]

#: Numbers at DynamoDB's limits.
EDGE_NUMBERS = (
    "0",
    "1E-130",
    "-1E-130",
    "9.9999999999999999999999999999999999999E+125",
    "-9.9999999999999999999999999999999999999E+125",
    "99999999999999999999999999999999999999",
    "-0.00000000000000000000000000000000000001",
    "1.0000000000000000000000000000000000000000000",
)

names = st.text(min_size=1, max_size=12)
strings = st.text(max_size=30)
binaries = st.binary(max_size=30)


def _plain(digits: str, lead: int) -> str:
    """Plain text of the number whose digits are ``digits`` with the first at 10**lead."""
    if lead >= len(digits) - 1:
        return digits + "0" * (lead - len(digits) + 1)
    if lead >= 0:
        return digits[: lead + 1] + "." + digits[lead + 1 :]
    return "0." + "0" * (-lead - 1) + digits


@st.composite
def numbers(draw: st.DrawFn) -> str:
    """A valid DynamoDB number (1-38 significant digits, 1E-130..9.99E+125) as text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(EDGE_NUMBERS))
    size = draw(st.integers(1, 38))
    digits = draw(st.sampled_from("123456789")) + draw(
        st.text("0123456789", min_size=size - 1, max_size=size - 1)
    )
    sign = draw(st.sampled_from(["", "", "-"]))
    style = draw(st.sampled_from(["int", "plain", "sci"]))
    if style == "int":
        return sign + digits + "0" * draw(st.integers(0, 3))
    if style == "plain":
        text = _plain(digits, draw(st.integers(-20, 40)))
        if "." in text:
            text += "0" * draw(st.integers(0, 2))  # trailing zeros are kept as written
        return sign + text
    lead = draw(st.integers(-130, 125))
    point = draw(st.integers(1, len(digits)))
    mantissa = digits[:point] + ("." + digits[point:] if point < len(digits) else "")
    exponent = lead - (point - 1)
    plus = "+" if exponent >= 0 and draw(st.booleans()) else ""
    return f"{sign}{mantissa}{draw(st.sampled_from('eE'))}{plus}{exponent}"


@functools.cache
def scalar_values() -> st.SearchStrategy[Dict[str, Any]]:
    """S, N, B, BOOL, NULL and the three set types."""
    return st.one_of(
        strings.map(lambda s: {"S": s}),
        numbers().map(lambda n: {"N": n}),
        binaries.map(lambda b: {"B": b}),
        st.booleans().map(lambda b: {"BOOL": b}),
        st.builds(lambda: {"NULL": True}),
        st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=5, unique=True).map(
            lambda v: {"SS": v}
        ),
        st.lists(numbers(), min_size=1, max_size=5, unique_by=normalize_number).map(
            lambda v: {"NS": v}
        ),
        st.lists(st.binary(min_size=1, max_size=10), min_size=1, max_size=5, unique=True).map(
            lambda v: {"BS": v}
        ),
    )


@functools.cache
def attribute_values(max_depth: int = 3) -> st.SearchStrategy[Dict[str, Any]]:
    """Any AttributeValue, with M and L nested at most ``max_depth`` levels."""
    scalars = scalar_values()
    if max_depth <= 0:
        return scalars
    inner = attribute_values(max_depth - 1)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(names, inner, max_size=4).map(lambda v: {"M": v}),
    )


def key_values(attribute_type: str) -> st.SearchStrategy[Dict[str, Any]]:
    """A valid key value of a declared type: non-empty S or B, or N."""
    if attribute_type == "S":
        return st.text(min_size=1, max_size=20).map(lambda s: {"S": s})
    if attribute_type == "N":
        return numbers().map(lambda n: {"N": n})
    if attribute_type == "B":
        return st.binary(min_size=1, max_size=20).map(lambda b: {"B": b})
    raise ValueError(f"key attribute types are S, N or B, not {attribute_type!r}")


def items(
    max_depth: int = 3,
    min_size: int = 0,
    max_size: int = 8,
    key_schema: Optional[Mapping[str, str]] = None,
) -> st.SearchStrategy[Item]:
    """An item. ``key_schema`` (name -> ``"S"``/``"N"``/``"B"``) adds key attributes first."""
    keys = dict(key_schema or {})
    others = st.dictionaries(
        names.filter(lambda n: n not in keys) if keys else names,
        attribute_values(max_depth),
        min_size=min_size,
        max_size=max_size,
    )
    if not keys:
        return others
    key_part = st.fixed_dictionaries({name: key_values(t) for name, t in keys.items()})
    return st.tuples(key_part, others).map(lambda parts: {**parts[0], **parts[1]})


# ------------------------------------------------------------------------------------------
# Reference encoders and comparison
# ------------------------------------------------------------------------------------------


def _native(av: Mapping[str, Any]) -> Dict[str, Any]:
    ((t, v),) = av.items()
    if t == "B":
        return {"B": base64.b64encode(v).decode("ascii")}
    if t == "BS":
        return {"BS": [base64.b64encode(b).decode("ascii") for b in v]}
    if t == "M":
        return {"M": {k: _native(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [_native(x) for x in v]}
    return {t: v}


def item_to_native_line(item: Mapping[str, Mapping[str, Any]], *, ascii_only: bool = False) -> str:
    """A DynamoDB native export line (DYNAMODB_JSON): ``{"Item":{...}}``."""
    body = {k: _native(v) for k, v in item.items()}
    return json.dumps({"Item": body}, ensure_ascii=ascii_only)


_ION_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ION_KEYWORDS = {"null", "true", "false", "nan"}


def _ion_name(name: str) -> str:
    if _ION_IDENTIFIER.fullmatch(name) and name not in _ION_KEYWORDS:
        return name
    return json.dumps(name, ensure_ascii=False)  # JSON escapes are valid Ion escapes


def _ion_number(text: str) -> str:
    """Ion decimal for a DynamoDB number, as DynamoDB's exporter writes them (``6d2``, ``103.``)."""
    sign, digits, exponent = Decimal(text).as_tuple()
    assert isinstance(exponent, int)
    coefficient = "".join(map(str, digits))
    stripped = coefficient.rstrip("0")
    if not stripped:
        return "0."
    exponent += len(coefficient) - len(stripped)
    prefix = "-" if sign else ""
    return f"{prefix}{stripped}." if exponent == 0 else f"{prefix}{stripped}d{exponent}"


def _ion(av: Mapping[str, Any]) -> str:
    ((t, v),) = av.items()
    if t == "S":
        return json.dumps(v, ensure_ascii=False)
    if t == "N":
        return _ion_number(v)
    if t == "B":
        return "{{" + base64.b64encode(v).decode("ascii") + "}}"
    if t == "BOOL":
        return "true" if v else "false"
    if t == "NULL":
        return "null"
    if t == "SS":
        return "$dynamodb_SS::[" + ",".join(json.dumps(s, ensure_ascii=False) for s in v) + "]"
    if t == "NS":
        return "$dynamodb_NS::[" + ",".join(_ion_number(n) for n in v) + "]"
    if t == "BS":
        return "$dynamodb_BS::[" + ",".join(_ion({"B": b}) for b in v) + "]"
    if t == "M":
        return "{" + ",".join(f"{_ion_name(k)}:{_ion(x)}" for k, x in v.items()) + "}"
    if t == "L":
        return "[" + ",".join(_ion(x) for x in v) + "]"
    raise ValueError(f"unknown type {t!r}")


def item_to_ion_line(item: Mapping[str, Mapping[str, Any]]) -> str:
    """A DynamoDB native export line in ION format: ``$ion_1_0 {Item:{...}}``."""
    return "$ion_1_0 {Item:" + _ion({"M": item}) + "}"


def _comparable_value(av: Mapping[str, Any]) -> Dict[str, Any]:
    ((t, v),) = av.items()
    if t == "N":
        return {"N": normalize_number(v)}
    if t == "NS":
        return {"NS": sorted(normalize_number(n) for n in v)}
    if t in ("SS", "BS"):
        return {t: sorted(v)}
    if t == "M":
        return {"M": {k: _comparable_value(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [_comparable_value(x) for x in v]}
    return {t: v}


def comparable(item: Mapping[str, Mapping[str, Any]]) -> Item:
    """``item`` with numbers normalised and sets sorted, as DynamoDB would hand it back."""
    return {k: _comparable_value(v) for k, v in item.items()}
