"""DynamoDB native export lines in ION format, written: :func:`item_to_ion_line`.

The lines :mod:`.ion` reads, as the service writes them: decimals, blobs, the
``$dynamodb_SS/NS/BS`` set annotations, one ``$ion_1_0`` marker per line.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from ddbpipe.formats.values import (
    AttributeValue,
    BadValue,
    encode_base64,
    encode_fields,
    encode_members,
    is_simple_number,
    number_parts,
    path_text,
    short_repr,
)

# Escapes for Ion's double-quoted strings: the quote, the backslash and every control character
# (as \xHH); everything else is written as UTF-8 text.
_ION_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\",
                **{c: f"\\x{c:02x}" for c in range(0x20)}, 0x7F: "\\x7f"}
_ION_BARE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*").fullmatch
_ION_KEYWORDS = frozenset({"null", "true", "false", "nan"})
_ION_PLAIN_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?").fullmatch


def _ion_str(text: str) -> str:
    return '"' + text.translate(_ION_ESCAPES) + '"'


def _ion_field(name: Any) -> str:
    if type(name) is not str:
        raise BadValue(f"map key {short_repr(name)} is not a string")
    if _ION_BARE_NAME(name) and name not in _ION_KEYWORDS:
        return name
    return _ion_str(name)


def ion_decimal(number: str) -> str:
    """An Ion decimal for a DynamoDB number's text: ``"103"`` -> ``103.``, ``"1.50"`` ->
    ``1.50`` (the reader gives the same text back), ``"1E+125"`` -> ``1d125`` (the reader
    gives the same value in plain notation)."""
    if is_simple_number(number) and _ION_PLAIN_DECIMAL(number):
        return number if "." in number else number + "."
    negative, sig, lead = number_parts(number)
    if not sig:
        return "-0." if negative else "0."
    return ("-" if negative else "") + sig + "d" + str(lead - len(sig) + 1)


def _ion_value(av: Any) -> str:
    if type(av) is not dict or len(av) != 1:
        raise BadValue(f"not an AttributeValue (a one-key dict): {short_repr(av)}")
    ((t, v),) = av.items()
    if t == "S":
        if type(v) is str:
            return _ion_str(v)
        raise BadValue(f"S value must be str, got {type(v).__name__}")
    if t == "N":
        if type(v) is not str:
            raise BadValue(f"a number must be given as a string, got {short_repr(v)}")
        return ion_decimal(v)
    if t == "M":
        if type(v) is not dict:
            raise BadValue(f"M value must be a dict, got {type(v).__name__}")
        return _ion_struct(v)
    if t == "L":
        if type(v) is not list and type(v) is not tuple:
            raise BadValue(f"L value must be a list, got {type(v).__name__}")
        return "[" + ",".join(encode_members(v, _ion_value)) + "]"
    if t == "BOOL":
        if type(v) is bool:
            return "true" if v else "false"
        raise BadValue(f"BOOL value must be bool, got {type(v).__name__}")
    if t == "NULL":
        if v is True:
            return "null"
        raise BadValue(f"NULL value must be True, got {short_repr(v)}")
    if t == "B":
        return "{{" + encode_base64(v) + "}}"
    if t in ("SS", "NS", "BS"):
        if type(v) is not list and type(v) is not tuple:
            raise BadValue(f"{t} value must be a list, got {type(v).__name__}")
        if not v:
            raise BadValue(f"empty {t} set")
        member = {"SS": "S", "NS": "N", "BS": "B"}[t]
        return f"$dynamodb_{t}::[" + ",".join(_ion_value({member: m}) for m in v) + "]"
    raise BadValue(f"unknown AttributeValue type {t!r}")


def _ion_struct(fields: Mapping[Any, Any]) -> str:
    return "{" + ",".join(encode_fields(fields, _ion_field, _ion_value)) + "}"


def item_to_ion_line(item: Mapping[str, AttributeValue]) -> str:
    """Render a low-level item as one line of a DynamoDB ION export (no trailing newline):
    ``$ion_1_0 {Item:{Id:103.,Pic:{{AAEC}},Tags:$dynamodb_SS::["a"]}}``.

    Raises:
        ValueError: the item is not in the boto3 low-level shape, naming the attribute.
    """
    try:
        return "$ion_1_0 {Item:" + _ion_struct(item) + "}"
    except BadValue as err:
        raise ValueError(f"attribute {path_text(err.path)!r}: {err.message}") from None
