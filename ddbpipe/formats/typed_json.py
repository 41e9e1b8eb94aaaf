"""JSON text to AttributeValues and back, for the two JSON export formats (Data Pipeline and
native).

Both write an AttributeValue as a one-key JSON object, ``{"n":"1"}`` or ``{"N":"1"}``;
:func:`make_decoder` builds the converter for one spelling of the type keys (:func:`make_encoder`
the converter back), and
:func:`load_json` parses a line keeping JSON numbers as their text and raw control characters
inside strings, as the connector reads them.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional

from ddbpipe.formats.values import (
    MAX_DIGITS,
    AttributeValue,
    BadValue,
    Item,
    check_base64,
    check_number,
    decode_base64,
    encode_base64,
    encode_fields,
    encode_members,
    is_simple_number,
    path_text,
    short_repr,
    simple_number,
)


class _JsonNumber(str):
    """A bare JSON number, kept as its text (accepted for N/NS only)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


# strict=False: raw control characters inside strings are kept, as Gson (the connector) reads them.
_JSON = json.JSONDecoder(
    parse_float=_JsonNumber,
    parse_int=_JsonNumber,
    parse_constant=_reject_constant,
    strict=False,
)
json_loads = _JSON.decode


def json_kind(x: Any) -> str:
    if isinstance(x, _JsonNumber):
        return f"the number {x}"
    if isinstance(x, bool):
        return "true" if x else "false"
    if x is None:
        return "null"
    if isinstance(x, str):
        return f"the string {short_repr(x)}"
    if isinstance(x, list):
        return "an array"
    return "an object"


def _shape_error(v: Any, example: str) -> BadValue:
    if type(v) is not dict:
        return BadValue(f"expected a typed value like {example}, got {json_kind(v)}")
    if not v:
        return BadValue(f"empty value {{}}: expected a typed value like {example}")
    return BadValue(f"a value must have exactly one type key, got {sorted(v)}")


def _number_member(m: Any, what: str) -> str:
    if type(m) is _JsonNumber:
        m = str(m)
    elif type(m) is not str:
        raise BadValue(f"{what} must be a string, got {json_kind(m)}")
    return check_number(m)


def _decode_set(t: str, x: Any, binary: Callable[[Any], Any]) -> AttributeValue:
    if type(x) is not list:
        raise BadValue(f"{t} value must be an array, got {json_kind(x)}")
    if not x:
        raise BadValue(f"empty {t} set (DynamoDB sets have at least one member)")
    if t == "SS":
        for m in x:
            if type(m) is not str:
                raise BadValue(f"SS members must be strings, got {json_kind(m)}")
        members: List[Any] = x
    elif t == "NS":
        members = [m if is_simple_number(m) else _number_member(m, "NS members") for m in x]
    else:
        members = [binary(m) for m in x]  # canonical base64: same text <=> same bytes
    if len(set(members)) != len(members):
        raise BadValue(f"{t} set has duplicate members")
    return {t: members}


def make_decoder(
    spelling: Mapping[str, str], fallback: Callable[[str], Optional[str]], example: str,
    *, wire: bool = False,
) -> Callable[[Any], AttributeValue]:
    """Build the JSON-tree -> AttributeValue converter for one spelling of the type keys.

    ``spelling`` maps each type (``"S"``...) to its key in the file; ``"NULL2"`` is an optional
    second spelling of NULL. Keys matching none go through ``fallback`` (key -> type or None).
    This is the hot path of imports: keys are compared directly, most frequent types first.
    ``wire=True`` keeps binary as its (checked) base64 text: DynamoDB's wire form, what the
    import sends (:mod:`ddbpipe.formats.wire`); otherwise binary is decoded to ``bytes``.
    """
    binary: Callable[[Any], Any] = check_base64 if wire else decode_base64
    k_s, k_n, k_m, k_l = spelling["S"], spelling["N"], spelling["M"], spelling["L"]
    k_bool, k_null, k_b = spelling["BOOL"], spelling["NULL"], spelling["B"]
    k_null2 = spelling.get("NULL2", k_null)
    canonical = {key: t for t, key in spelling.items()}
    canonical[k_null2] = "NULL"
    known = ", ".join(k for k in spelling.values())

    def decode(v: Any) -> AttributeValue:
        if type(v) is not dict or len(v) != 1:
            raise _shape_error(v, example)
        for key in v:  # noqa: B007 -- the one key, without building a tuple
            break
        x = v[key]
        if key == k_s:
            if type(x) is str:
                return {"S": x}
            raise BadValue(f"S value must be a string, got {json_kind(x)}")
        if key == k_n:
            if (
                type(x) is str
                and len(x) <= MAX_DIGITS
                and ((x.isdigit() and x.isascii()) or simple_number(x) is not None)
            ):
                return {"N": x}
            return {"N": _number_member(x, "N value")}
        if key == k_m:
            if type(x) is not dict:
                raise BadValue(f"M value must be an object, got {json_kind(x)}")
            out = {}
            for name, sub in x.items():
                try:
                    out[name] = decode(sub)
                except BadValue as err:
                    err.path.append(name)
                    raise
            return {"M": out}
        if key == k_l:
            if type(x) is not list:
                raise BadValue(f"L value must be an array, got {json_kind(x)}")
            items = []
            for sub in x:
                try:
                    items.append(decode(sub))
                except BadValue as err:
                    err.path.append(len(items))
                    raise
            return {"L": items}
        if key == k_bool:
            if type(x) is bool:
                return {"BOOL": x}
            raise BadValue(f"BOOL value must be true or false, got {json_kind(x)}")
        if key in (k_null, k_null2):
            if x is True:
                return {"NULL": True}
            raise BadValue(f"NULL value must be true, got {json_kind(x)}")
        if key == k_b:
            return {"B": binary(x)}
        t = canonical.get(key) or fallback(key)
        if t is None:
            raise BadValue(f"unknown type key {key!r} (expected one of {known})")
        if t in ("SS", "NS", "BS"):
            return _decode_set(t, x, binary)
        return decode({spelling[t]: x})  # another spelling of a scalar/container type

    return decode


def decode_attributes(obj: Dict[str, Any], decode: Callable[[Any], AttributeValue]) -> Item:
    item: Item = {}
    for name, v in obj.items():
        try:
            item[name] = decode(v)
        except BadValue as err:
            err.path.append(name)
            raise
    return item


def load_json(text: str, what: str) -> Any:
    try:
        return json_loads(text)
    except json.JSONDecodeError as err:
        raise BadValue(f"{what} is not valid JSON: {err.msg} at column {err.colno}") from None
    except ValueError as err:  # NaN / Infinity
        raise BadValue(f"{what} is not valid JSON: {err}") from None
    except RecursionError:
        raise BadValue(f"{what} is nested too deeply") from None


# JSON string literal without \u escapes for non-ASCII (the C function json.dumps uses for
# ensure_ascii=False). Lines are built as text: no intermediate dict per value.
_jstr: Callable[[str], str] = json.encoder.encode_basestring


def _json_name(name: Any) -> str:
    if type(name) is not str:
        raise BadValue(f"map key {short_repr(name)} is not a string")
    return _jstr(name)


def make_encoder(spelling: Mapping[str, str]) -> Callable[[Any], str]:
    """Build the AttributeValue -> JSON text converter for one spelling of the type keys (the
    counterpart of :func:`make_decoder`): compact, UTF-8 (no ``\\u`` escapes for non-ASCII),
    binary as padded base64. Raises :class:`BadValue` for a value not in the low-level shape."""
    head = {t: '{"' + key + '":' for t, key in spelling.items()}
    k_s, k_n, k_m, k_l, k_b = head["S"], head["N"], head["M"], head["L"], head["B"]
    k_ss, k_ns, k_bs = head["SS"], head["NS"], head["BS"]
    null_text = head["NULL"] + "true}"
    true_text, false_text = head["BOOL"] + "true}", head["BOOL"] + "false}"

    def encode(av: Any) -> str:
        if type(av) is not dict or len(av) != 1:
            raise BadValue(f"not an AttributeValue (a one-key dict): {short_repr(av)}")
        for t in av:  # noqa: B007 -- the one key, without building a tuple
            break
        v = av[t]
        if t == "S":
            if type(v) is str:
                return k_s + _jstr(v) + "}"
            raise BadValue(f"S value must be str, got {type(v).__name__}")
        if t == "N":
            if is_simple_number(v):
                return k_n + '"' + v + '"}'
            return k_n + '"' + check_number(v) + '"}'  # digits, '.', 'e', signs: no escaping
        if t == "M":
            if type(v) is not dict:
                raise BadValue(f"M value must be a dict, got {type(v).__name__}")
            return k_m + "{" + ",".join(encode_fields(v, _json_name, encode)) + "}}"
        if t == "L":
            if type(v) is not list and type(v) is not tuple:
                raise BadValue(f"L value must be a list, got {type(v).__name__}")
            return k_l + "[" + ",".join(encode_members(v, encode)) + "]}"
        if t == "BOOL":
            if v is True:
                return true_text
            if v is False:
                return false_text
            raise BadValue(f"BOOL value must be bool, got {type(v).__name__}")
        if t == "NULL":
            if v is True:
                return null_text
            raise BadValue(f"NULL value must be True, got {short_repr(v)}")
        if t == "B":
            return k_b + '"' + encode_base64(v) + '"}'
        if t in ("SS", "NS", "BS"):
            if type(v) is not list and type(v) is not tuple:
                raise BadValue(f"{t} value must be a list, got {type(v).__name__}")
            if not v:
                raise BadValue(f"empty {t} set")
            if t == "SS":
                for m in v:
                    if type(m) is not str:
                        raise BadValue(f"SS members must be str, got {type(m).__name__}")
                return k_ss + "[" + ",".join(map(_jstr, v)) + "]}"
            if t == "NS":
                for m in v:
                    if not is_simple_number(m):
                        check_number(m)
                return k_ns + '["' + '","'.join(v) + '"]}'
            return k_bs + '["' + '","'.join([encode_base64(m) for m in v]) + '"]}'
        raise BadValue(f"unknown AttributeValue type {t!r}")

    return encode




def encode_attributes(item: Mapping[str, AttributeValue], encode: Callable[[Any], str]) -> str:
    """``{"name":<value>,...}`` of an item, in the item's order; raises :class:`ValueError`
    naming the attribute whose value is not in the low-level shape."""
    parts = []
    for name, av in item.items():
        if type(name) is not str:
            raise ValueError(f"attribute name {short_repr(name)} is not a string")
        try:
            parts.append(_jstr(name) + ":" + encode(av))
        except BadValue as err:
            err.path.append(name)
            raise ValueError(f"attribute {path_text(err.path)!r}: {err.message}") from None
    return "{" + ",".join(parts) + "}"
