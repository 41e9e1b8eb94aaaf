"""What DynamoDB computes from a whole item: its size, the capacity units, its primary key.

:func:`item_size` follows AWS's documented size rules, :func:`write_units` and
:func:`read_units` turn a size into capacity units, :func:`key_of` gives a hashable key that
compares numbers as DynamoDB does, and :func:`make_key_checker` checks an item's key attributes
against a table's key schema.
"""

from __future__ import annotations

import binascii
from typing import Any, Callable, Mapping, Optional, Sequence, Tuple

from ddbpipe.formats.values import (
    AttributeValue,
    BadValue,
    base64_size,
    check_number,
    is_simple_number,
    normalize_number,
    number_parts,
    short_repr,
)

# --------------------------------------------------------------------------------------------
# Sizes and capacity
# --------------------------------------------------------------------------------------------


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _number_size(s: Any) -> int:
    """1 byte per two significant digits, rounded up, plus 1 (AWS's documented estimate)."""
    if is_simple_number(s):  # plain: drop sign and point, then leading and trailing zeros
        digits = len(s.replace(".", "", 1).lstrip("-").strip("0"))
    else:
        digits = len(number_parts(s)[1]) if type(s) is str else -1
        if digits < 0:
            raise BadValue(f"a number must be given as a string, got {short_repr(s)}")
    return (digits + 1) // 2 + 1


def _value_size(av: AttributeValue) -> int:
    for t in av:  # noqa: B007 -- the one key, without building a tuple
        break
    else:
        raise BadValue("empty AttributeValue")
    v = av[t]
    if t == "S":
        return len(v) if v.isascii() else _utf8_len(v)
    if t == "N":
        return _number_size(v)
    if t == "M":
        size = 3
        for k, x in v.items():
            size += (len(k) if k.isascii() else _utf8_len(k)) + _value_size(x) + 1
        return size
    if t == "L":
        size = 3
        for x in v:
            size += _value_size(x) + 1
        return size
    if t == "B":
        return len(v) if type(v) is not str else base64_size(v)
    if t == "BOOL" or t == "NULL":
        return 1
    if t == "SS":
        return sum(map(_utf8_len, v))
    if t == "NS":
        return sum(map(_number_size, v))
    if t == "BS":
        return sum(len(m) if type(m) is not str else base64_size(m) for m in v)
    raise BadValue(f"unknown AttributeValue type {t!r}")


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """DynamoDB's size of an item in bytes, by AWS's documented rules.

    Sum over attributes of the name's UTF-8 length plus the value's size: S = UTF-8 length;
    N = 1 byte per two significant digits (rounded up) + 1; B = raw length; SS/NS/BS = sum of
    members; BOOL/NULL = 1; M/L = 3 + per element (1 + element size, plus the key's UTF-8 length
    for M). The number rule is AWS's approximation; the rest is exact. Storage overheads (100
    bytes per item for indexing) are not included: they do not count toward capacity units.
    Binary may be ``bytes`` or, in a wire item (:mod:`ddbpipe.formats.wire`), its base64 text.

    Raises:
        ValueError: an AttributeValue has an unknown type or an invalid number.
    """
    total = 0
    for name, av in item.items():
        try:
            total += _utf8_len(name) + _value_size(av)
        except BadValue as err:
            raise ValueError(f"attribute {name!r}: {err.message}") from None
    return total


def write_units(size: int) -> int:
    """Write capacity units for one standard write of an item of ``size`` bytes (1 KB units)."""
    return max(1, -(-size // 1024))


def read_units(size: int, *, consistent: bool = False) -> float:
    """Read capacity units for one read of ``size`` bytes (4 KB units; eventual reads cost half)."""
    units = max(1, -(-size // 4096))
    return float(units) if consistent else units / 2


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def key_of(item: Mapping[str, AttributeValue], key_names: Sequence[str]) -> Tuple[Any, ...]:
    """The hashable primary key of ``item``: one ``(type, value)`` pair per key name, in order.

    Numbers are compared as DynamoDB does (``"1.0"`` and ``"1"`` are the same key), so N values
    appear in :func:`normalize_number` form. S is ``str``, B is ``bytes`` (decoded from the
    base64 text of a wire item).

    Raises:
        ValueError: a key attribute is missing, not a scalar S/N/B, or an invalid number.
    """
    out = []
    for name in key_names:
        av = item.get(name)
        if av is None:
            raise ValueError(f"the item has no key attribute {name!r}")
        if len(av) == 1:
            if "S" in av:
                out.append(("S", av["S"]))
                continue
            if "N" in av:
                out.append(("N", normalize_number(av["N"])))
                continue
            if "B" in av:
                value = av["B"]
                out.append(("B", binascii.a2b_base64(value) if type(value) is str
                            else bytes(value)))
                continue
        raise ValueError(f"key attribute {name!r} must be S, N or B, got {sorted(av)}")
    return tuple(out)


_KEY_LIMITS = {"HASH": ("partition", 2048), "RANGE": ("sort", 1024)}


def make_key_checker(
    key_schema: Sequence[Mapping[str, str]], attribute_definitions: Sequence[Mapping[str, str]]
) -> Callable[[Mapping[str, AttributeValue]], Optional[str]]:
    """Compile a table's key schema (``describe_table`` shapes) into a per-item checker.

    The checker returns None when the item carries every key attribute with the declared scalar
    type (S, N or B), a valid non-empty value and within DynamoDB's key size limits (2048 bytes
    for a partition key, 1024 for a sort key); otherwise a message saying which and why. It
    takes items and wire items (binary as base64 text) alike.

    Raises:
        ValueError: the schema names a key attribute that has no attribute definition.
    """
    declared = {d["AttributeName"]: d["AttributeType"] for d in attribute_definitions}
    keys = []
    for element in key_schema:
        name = element["AttributeName"]
        role, limit = _KEY_LIMITS.get(element.get("KeyType", "HASH"), ("key", 2048))
        if name not in declared:
            raise ValueError(f"key attribute {name!r} has no AttributeDefinition")
        keys.append((name, declared[name], role, limit))

    def check(item: Mapping[str, AttributeValue]) -> Optional[str]:
        for name, want, role, limit in keys:
            av = item.get(name)
            if av is None:
                return f"the item has no {role} key attribute {name!r} ({want})"
            if type(av) is not dict or len(av) != 1:
                return f"{role} key attribute {name!r} is not a valid AttributeValue"
            ((got, value),) = av.items()
            if got != want:
                return f"{role} key attribute {name!r} is {got} but the table declares {want}"
            if want == "S":
                if type(value) is not str:
                    return f"{role} key attribute {name!r} is not a string"
                if not value:
                    return f"{role} key attribute {name!r} is an empty string"
                size = _utf8_len(value)
            elif want == "B":
                if type(value) is str:  # a wire item: base64 text the reader checked
                    size = base64_size(value) if value else 0
                elif isinstance(value, (bytes, bytearray)):
                    size = len(value)
                else:
                    return f"{role} key attribute {name!r} is not bytes"
                if not size:
                    return f"{role} key attribute {name!r} is empty binary"
            else:
                try:
                    check_number(value)
                except BadValue as err:
                    return f"{role} key attribute {name!r}: {err.message}"
                size = 0
            if size > limit:
                return f"{role} key attribute {name!r} is {size} bytes, DynamoDB allows {limit}"
        return None

    return check


def key_type_error(
    item: Mapping[str, AttributeValue],
    key_schema: Sequence[Mapping[str, str]],
    attribute_definitions: Sequence[Mapping[str, str]],
) -> Optional[str]:
    """One-off form of :func:`make_key_checker`: None if the item's key fits, else why not."""
    return make_key_checker(key_schema, attribute_definitions)(item)
