"""Items in and out of the export file formats, exactly: no float, no lost type, no lost byte.

Everywhere in ddbpipe an item is the boto3 *low-level client* shape, ``dict[str, AttributeValue]``,
where an AttributeValue is a one-key dict: ``{"S": str}``, ``{"N": str}`` (the number's text as
written, never a float), ``{"B": bytes}``, ``{"SS": [str]}``, ``{"NS": [str]}``,
``{"BS": [bytes]}``, ``{"M": {name: AttributeValue}}``, ``{"L": [AttributeValue]}``,
``{"NULL": True}`` or ``{"BOOL": bool}``.

Formats (see design.md section 3):

* **Data Pipeline export line** -- :func:`item_to_line` / :func:`line_to_item`. One JSON object per
  line; type keys with the first letter lower-cased (``s n b sS nS bS m l bOOL nULL``), NULL also
  as ``nULLValue`` (connector 4.x); Hive-era lines (``name<ETX>value<STX>...``) are read too.
* **DynamoDB native export, DYNAMODB_JSON** -- :func:`native_line_to_item`.
* **DynamoDB native export, ION** -- :func:`ion_line_to_item`, a small Ion text reader limited to
  what an item can hold.

Errors: the readers raise :class:`~ddbpipe.errors.ExportFormatError` whose ``what`` says what is
wrong with the line (and in which attribute). They do not know the file or line number: callers
catch the error and add that context, e.g. with :func:`with_context`. A blank line is an error
too ("the line is blank"); callers that want to skip blank lines test ``line.strip()`` first.
The writers raise :class:`ValueError` for an item that is not in the low-level shape (a programming
error, not a data error).

Helpers for capacity math and imports: :func:`validate_number`, :func:`normalize_number`,
:func:`item_size`, :func:`key_of`, :func:`key_type_error` / :func:`make_key_checker`.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from ddbpipe.errors import ExportFormatError

__all__ = [
    "NULL_KEYS",
    "AttributeValue",
    "Item",
    "b64decode_strict",
    "ion_line_to_item",
    "item_size",
    "item_to_line",
    "key_of",
    "key_type_error",
    "line_to_item",
    "make_key_checker",
    "native_line_to_item",
    "normalize_number",
    "read_units",
    "validate_number",
    "with_context",
    "write_units",
]

AttributeValue = Dict[str, Any]
Item = Dict[str, AttributeValue]

#: Spellings of the NULL type key that :func:`item_to_line` can write: ``nULL`` (connector 5.x+)
#: or ``nULLValue`` (the old service, connector 4.x).
NULL_KEYS = ("nULL", "nULLValue")

STX = "\x02"  # separates attributes in Hive-era lines
ETX = "\x03"  # separates an attribute's name from its value in Hive-era lines

_FIX_DP = (
    "Data Pipeline export lines are JSON objects like "
    '{"Id":{"n":"1"},"Name":{"s":"x"}}; check that the file is an export data file '
    "(not the manifest) and that it was not truncated or edited."
)
_FIX_NATIVE = (
    'DynamoDB JSON export lines look like {"Item":{"Id":{"N":"1"}}}; check that the file '
    "comes from the export's data/ folder and was not truncated or edited."
)
_FIX_ION = (
    'DynamoDB ION export lines look like $ion_1_0 {Item:{Id:1.,Name:"x"}}; check that the '
    "file comes from the export's data/ folder and was not truncated or edited."
)


class _Bad(Exception):
    """Internal: a value is malformed. ``path`` collects attribute names while unwinding."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: List[Any] = []


def _path_text(path: List[Any]) -> str:
    out = ""
    for part in reversed(path):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out


def _format_error(err: _Bad, fix: str) -> ExportFormatError:
    if err.path:
        return ExportFormatError(f"attribute {_path_text(err.path)!r}: {err.message}.", fix)
    return ExportFormatError(f"{err.message}.", fix)


def with_context(err: ExportFormatError, where: str) -> ExportFormatError:
    """Return a copy of ``err`` whose message starts with ``where`` (e.g. ``"s3://b/k line 7"``)."""
    return type(err)(f"{where}: {err.what}", err.fix)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

# sign, integer digits, fraction digits, exponent. At least one digit is checked separately.
_NUMBER_RE = re.compile(r"(-?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")

_MAX_DIGITS = 38
_MAX_EXP = 125  # largest exponent of the leading digit: 9.99...E+125
_MIN_EXP = -130  # smallest exponent of the leading digit: 1E-130


def _number_parts(s: str) -> Tuple[bool, str, int]:
    """Parse a DynamoDB number: (negative, significant digits, exponent of the first digit).

    Significant digits have leading and trailing zeros removed; zero is ``(neg, "", 0)``.
    Raises :class:`_Bad` when the text is not a number or is out of DynamoDB's range.
    """
    m = _NUMBER_RE.fullmatch(s)
    if m is None:
        raise _Bad(f"{_short(s)} is not a number")
    sign, int_part, frac_part, exp_text = m.groups()
    frac_part = frac_part or ""
    if not int_part and not frac_part:
        raise _Bad(f"{_short(s)} is not a number")
    digits = int_part + frac_part
    stripped = digits.lstrip("0")
    if not stripped:
        return bool(sign), "", 0
    sig = stripped.rstrip("0")
    if len(sig) > _MAX_DIGITS:
        raise _Bad(f"number {_short(s)} has {len(sig)} significant digits, DynamoDB allows 38")
    exponent = 0
    if exp_text:
        body = exp_text.lstrip("+-").lstrip("0")
        if len(body) > 12:  # far outside the range whatever the digits; avoid a huge int()
            exponent = -(10**13) if exp_text[0] == "-" else 10**13
        else:
            exponent = int(exp_text)
    # Position of the first significant digit relative to the decimal point.
    lead = exponent + len(int_part) - (len(digits) - len(stripped)) - 1
    if lead > _MAX_EXP:
        raise _Bad(f"number {_short(s)} is larger than DynamoDB's 9.99...E+125")
    if lead < _MIN_EXP:
        raise _Bad(f"number {_short(s)} is smaller than DynamoDB's 1E-130")
    return bool(sign), sig, lead


# Short plain decimals (at most 38 characters, no exponent) are always within DynamoDB's range
# and precision, so the common case needs one regex match instead of a full parse.
_simple_number = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)").fullmatch


def _is_number(v: Any) -> bool:
    return (
        type(v) is str
        and len(v) <= _MAX_DIGITS
        and ((v.isdigit() and v.isascii()) or _simple_number(v) is not None)
    )


def _check_number(s: Any) -> str:
    """Validate a number's text (fast path for short plain numbers); raise :class:`_Bad`."""
    if type(s) is not str:
        raise _Bad(f"a number must be given as a string, got {_short(s)}")
    if not _is_number(s):
        _number_parts(s)
    return s


def validate_number(s: str) -> str:
    """Check ``s`` against DynamoDB's number rules and return it unchanged (``"1.50"`` stays).

    Syntax: optional ``-``, digits with an optional fraction (``12``, ``1.5``, ``.5``, ``5.``),
    optional exponent (``e``/``E``, optional sign). At most 38 significant digits (leading and
    trailing zeros do not count); a non-zero magnitude between 1E-130 and
    9.9999999999999999999999999999999999999E+125. A leading ``+``, spaces, ``NaN`` and
    ``Infinity`` are rejected.

    Raises:
        ValueError: ``s`` is not a valid DynamoDB number; the message says why.
    """
    try:
        return _check_number(s)
    except _Bad as err:
        raise ValueError(err.message) from None


def _plain(negative: bool, sig: str, lead: int) -> str:
    """Plain decimal text (no exponent) of ``0.sig x 10**(lead+1)``, ``sig`` non-empty."""
    if lead >= len(sig) - 1:
        text = sig + "0" * (lead - len(sig) + 1)
    elif lead >= 0:
        text = sig[: lead + 1] + "." + sig[lead + 1 :]
    else:
        text = "0." + "0" * (-lead - 1) + sig
    return "-" + text if negative else text


def normalize_number(s: str) -> str:
    """DynamoDB's canonical text for a number, as it returns numbers: ``"1.50e2"`` -> ``"150"``.

    Plain notation, no leading or trailing zeros, ``"0"`` for any zero. Use it to compare numbers
    (keys, set members), never to rewrite what a user wrote.

    Raises:
        ValueError: ``s`` is not a valid DynamoDB number.
    """
    try:
        if type(s) is not str:
            raise _Bad(f"a number must be given as a string, got {_short(s)}")
        negative, sig, lead = _number_parts(s)
    except _Bad as err:
        raise ValueError(err.message) from None
    if not sig:
        return "0"
    return _plain(negative, sig, lead)


# --------------------------------------------------------------------------------------------
# Base64
# --------------------------------------------------------------------------------------------

_B64_RE = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_INDEX = {c: i for i, c in enumerate(_B64_ALPHABET)}


def _b64decode(text: Any) -> bytes:
    if type(text) is not str:
        raise _Bad(f"binary data must be a base64 string, got {_short(text)}")
    n = len(text)
    if n % 4 or _B64_RE.fullmatch(text) is None:
        raise _Bad(f"invalid base64 {_short(text)} (standard alphabet, padded to 4 characters)")
    # Reject non-canonical encodings (unused low bits set), which no encoder writes.
    if n and text[-1] == "=":
        if text[-2] == "=":
            if _B64_INDEX[text[-3]] & 0x0F:
                raise _Bad(f"invalid base64 {_short(text)}: padding bits are not zero")
        elif _B64_INDEX[text[-2]] & 0x03:
            raise _Bad(f"invalid base64 {_short(text)}: padding bits are not zero")
    return binascii.a2b_base64(text)


def b64decode_strict(text: str) -> bytes:
    """Decode standard, padded, canonical base64; anything else raises :class:`ValueError`."""
    try:
        return _b64decode(text)
    except _Bad as err:
        raise ValueError(err.message) from None


def _b64encode(data: Any) -> str:
    if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
        raise _Bad(f"B/BS values must be bytes, got {type(data).__name__}")
    return binascii.b2a_base64(data, newline=False).decode("ascii")


# --------------------------------------------------------------------------------------------
# Reading JSON lines (Data Pipeline and native DYNAMODB_JSON)
# --------------------------------------------------------------------------------------------


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
_json_loads = _JSON.decode

# The connector matches type keys case-insensitively; so do we, after the exact spellings.
_DP_TYPES_UPPER = {
    "S": "S",
    "N": "N",
    "B": "B",
    "SS": "SS",
    "NS": "NS",
    "BS": "BS",
    "M": "M",
    "L": "L",
    "BOOL": "BOOL",
    "NULL": "NULL",
    "NULLVALUE": "NULL",
}


def _dp_type(key: str) -> Optional[str]:
    return _DP_TYPES_UPPER.get(key.upper())


def _no_fallback(key: str) -> Optional[str]:
    return None


def _json_kind(x: Any) -> str:
    if isinstance(x, _JsonNumber):
        return f"the number {x}"
    if isinstance(x, bool):
        return "true" if x else "false"
    if x is None:
        return "null"
    if isinstance(x, str):
        return f"the string {_short(x)}"
    if isinstance(x, list):
        return "an array"
    return "an object"


def _shape_error(v: Any, example: str) -> _Bad:
    if type(v) is not dict:
        return _Bad(f"expected a typed value like {example}, got {_json_kind(v)}")
    if not v:
        return _Bad(f"empty value {{}}: expected a typed value like {example}")
    return _Bad(f"a value must have exactly one type key, got {sorted(v)}")


def _number_member(m: Any, what: str) -> str:
    if type(m) is _JsonNumber:
        m = str(m)
    elif type(m) is not str:
        raise _Bad(f"{what} must be a string, got {_json_kind(m)}")
    return _check_number(m)


def _decode_set(t: str, x: Any) -> AttributeValue:
    if type(x) is not list:
        raise _Bad(f"{t} value must be an array, got {_json_kind(x)}")
    if not x:
        raise _Bad(f"empty {t} set (DynamoDB sets have at least one member)")
    if t == "SS":
        for m in x:
            if type(m) is not str:
                raise _Bad(f"SS members must be strings, got {_json_kind(m)}")
        members: List[Any] = x
    elif t == "NS":
        members = [m if _is_number(m) else _number_member(m, "NS members") for m in x]
    else:
        members = [_b64decode(m) for m in x]
    if len(set(members)) != len(members):
        raise _Bad(f"{t} set has duplicate members")
    return {t: members}


def _decoder(
    spelling: Mapping[str, str], fallback: Callable[[str], Optional[str]], example: str
) -> Callable[[Any], AttributeValue]:
    """Build the JSON-tree -> AttributeValue converter for one spelling of the type keys.

    ``spelling`` maps each type (``"S"``...) to its key in the file; ``"NULL2"`` is an optional
    second spelling of NULL. Keys matching none go through ``fallback`` (key -> type or None).
    This is the hot path of imports: keys are compared directly, most frequent types first.
    """
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
            raise _Bad(f"S value must be a string, got {_json_kind(x)}")
        if key == k_n:
            if (
                type(x) is str
                and len(x) <= _MAX_DIGITS
                and ((x.isdigit() and x.isascii()) or _simple_number(x) is not None)
            ):
                return {"N": x}
            return {"N": _number_member(x, "N value")}
        if key == k_m:
            if type(x) is not dict:
                raise _Bad(f"M value must be an object, got {_json_kind(x)}")
            out = {}
            for name, sub in x.items():
                try:
                    out[name] = decode(sub)
                except _Bad as err:
                    err.path.append(name)
                    raise
            return {"M": out}
        if key == k_l:
            if type(x) is not list:
                raise _Bad(f"L value must be an array, got {_json_kind(x)}")
            items = []
            for sub in x:
                try:
                    items.append(decode(sub))
                except _Bad as err:
                    err.path.append(len(items))
                    raise
            return {"L": items}
        if key == k_bool:
            if type(x) is bool:
                return {"BOOL": x}
            raise _Bad(f"BOOL value must be true or false, got {_json_kind(x)}")
        if key in (k_null, k_null2):
            if x is True:
                return {"NULL": True}
            raise _Bad(f"NULL value must be true, got {_json_kind(x)}")
        if key == k_b:
            return {"B": _b64decode(x)}
        t = canonical.get(key) or fallback(key)
        if t is None:
            raise _Bad(f"unknown type key {key!r} (expected one of {known})")
        if t in ("SS", "NS", "BS"):
            return _decode_set(t, x)
        return decode({spelling[t]: x})  # another spelling of a scalar/container type

    return decode


_decode_dp = _decoder(
    {
        "S": "s",
        "N": "n",
        "B": "b",
        "SS": "sS",
        "NS": "nS",
        "BS": "bS",
        "M": "m",
        "L": "l",
        "BOOL": "bOOL",
        "NULL": "nULL",
        "NULL2": "nULLValue",
    },
    _dp_type,
    '{"s":"text"}',
)
_decode_native = _decoder(
    {t: t for t in ("S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL")},
    _no_fallback,
    '{"S":"text"}',
)


def _decode_attributes(obj: Dict[str, Any], decode: Callable[[Any], AttributeValue]) -> Item:
    item: Item = {}
    for name, v in obj.items():
        try:
            item[name] = decode(v)
        except _Bad as err:
            err.path.append(name)
            raise
    return item


def _load_json(text: str, what: str) -> Any:
    try:
        return _json_loads(text)
    except json.JSONDecodeError as err:
        raise _Bad(f"{what} is not valid JSON: {err.msg} at column {err.colno}") from None
    except ValueError as err:  # NaN / Infinity
        raise _Bad(f"{what} is not valid JSON: {err}") from None
    except RecursionError:
        raise _Bad(f"{what} is nested too deeply") from None


def line_to_item(line: str) -> Item:
    """Parse one Data Pipeline export line into a low-level item.

    Accepts JSON lines (``{"Id":{"n":"1"}}``; type keys matched case-insensitively as the
    connector does; NULL as ``nULL`` or ``nULLValue``) and Hive-era lines
    (``Id<ETX>{"n":"1"}<STX>Name<ETX>{"s":"x"}``). Empty ``l``/``m`` stay empty L/M. Binary must be
    strict, padded, standard base64. Numbers are checked and kept as written; a bare JSON number
    (``{"n":12.50}``) is accepted for N/NS and kept as its text. Empty sets and sets with
    duplicate members (same text) are refused. A trailing ``\\r`` or ``\\n`` is ignored. Not
    detected: a JSON object naming the same attribute twice (the last one wins).

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    text = line.strip(" \t\r\n\ufeff")  # also a byte-order mark on a first line
    if not text:
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    try:
        if text[0] != "{":
            if ETX in text:
                return _hive_line(line.strip("\r\n\ufeff"))
            try:
                obj = _json_loads(text)
            except RecursionError:
                raise _Bad("the line is nested too deeply") from None
            except ValueError:
                raise _Bad(
                    "the line is neither a JSON object nor a Hive-style line "
                    "(name<ETX>value<STX>...)"
                ) from None
            raise _Bad(f"the line is {_json_kind(obj)}, not an item object")
        obj = _load_json(text, "the line")
        if type(obj) is not dict:
            raise _Bad(f"the line is {_json_kind(obj)}, not an item object")
        return _decode_attributes(obj, _decode_dp)
    except _Bad as err:
        raise _format_error(err, _FIX_DP) from None
    except RecursionError:
        raise ExportFormatError("the line is nested too deeply.", _FIX_DP) from None


def _hive_line(text: str) -> Item:
    item: Item = {}
    for part in text.split(STX):
        name, sep, value = part.partition(ETX)
        if not sep:
            raise _Bad(f"Hive-style attribute {_short(part)} has no ETX (0x03) after its name")
        if name in item:
            raise _Bad(f"attribute {name!r} appears twice")
        try:
            item[name] = _decode_dp(_load_json(value, "the value"))
        except _Bad as err:
            err.path.append(name)
            raise
    return item


def native_line_to_item(line: str) -> Item:
    """Parse one line of a DynamoDB native export in DYNAMODB_JSON format.

    The line is ``{"Item":{"Id":{"N":"103"},"Pic":{"B":"<base64>"},...}}`` with upper-case type
    keys. Numbers are checked and kept as written; binary must be strict, padded base64.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    text = line.strip(" \t\r\n")
    if not text:
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    try:
        obj = _load_json(text, "the line")
        if type(obj) is not dict or "Item" not in obj:
            raise _Bad('the line is not an object with an "Item" member')
        if len(obj) != 1:
            others = sorted(k for k in obj if k != "Item")
            raise _Bad(f'unexpected members {others} next to "Item"')
        body = obj["Item"]
        if type(body) is not dict:
            raise _Bad(f'"Item" is {_json_kind(body)}, not an object')
        return _decode_attributes(body, _decode_native)
    except _Bad as err:
        raise _format_error(err, _FIX_NATIVE) from None
    except RecursionError:
        raise ExportFormatError("the line is nested too deeply.", _FIX_NATIVE) from None


# --------------------------------------------------------------------------------------------
# Writing Data Pipeline lines
# --------------------------------------------------------------------------------------------

# JSON string literal without \u escapes for non-ASCII (the C function json.dumps uses for
# ensure_ascii=False). Lines are built as text: no intermediate dict per value.
_jstr: Callable[[str], str] = json.encoder.encode_basestring


def _dp_encoder(null_key: str) -> Callable[[Any], str]:
    null_text = '{"' + null_key + '":true}'

    def encode(av: Any) -> str:
        if type(av) is not dict or len(av) != 1:
            raise _Bad(f"not an AttributeValue (a one-key dict): {_short(av)}")
        for t in av:  # noqa: B007 -- the one key, without building a tuple
            break
        v = av[t]
        if t == "S":
            if type(v) is str:
                return '{"s":' + _jstr(v) + "}"
            raise _Bad(f"S value must be str, got {type(v).__name__}")
        if t == "N":
            if _is_number(v):
                return '{"n":"' + v + '"}'
            return '{"n":"' + _check_number(v) + '"}'  # digits, '.', 'e', signs: no escaping
        if t == "M":
            if type(v) is not dict:
                raise _Bad(f"M value must be a dict, got {type(v).__name__}")
            parts = []
            for name, sub in v.items():
                try:
                    if type(name) is not str:
                        raise _Bad(f"map key {_short(name)} is not a string")
                    parts.append(_jstr(name) + ":" + encode(sub))
                except _Bad as err:
                    err.path.append(name)
                    raise
            return '{"m":{' + ",".join(parts) + "}}"
        if t == "L":
            if type(v) is not list and type(v) is not tuple:
                raise _Bad(f"L value must be a list, got {type(v).__name__}")
            parts = []
            for sub in v:
                try:
                    parts.append(encode(sub))
                except _Bad as err:
                    err.path.append(len(parts))
                    raise
            return '{"l":[' + ",".join(parts) + "]}"
        if t == "BOOL":
            if v is True:
                return '{"bOOL":true}'
            if v is False:
                return '{"bOOL":false}'
            raise _Bad(f"BOOL value must be bool, got {type(v).__name__}")
        if t == "NULL":
            if v is True:
                return null_text
            raise _Bad(f"NULL value must be True, got {_short(v)}")
        if t == "B":
            return '{"b":"' + _b64encode(v) + '"}'
        if t in ("SS", "NS", "BS"):
            if type(v) is not list and type(v) is not tuple:
                raise _Bad(f"{t} value must be a list, got {type(v).__name__}")
            if not v:
                raise _Bad(f"empty {t} set")
            if t == "SS":
                for m in v:
                    if type(m) is not str:
                        raise _Bad(f"SS members must be str, got {type(m).__name__}")
                return '{"sS":[' + ",".join(map(_jstr, v)) + "]}"
            if t == "NS":
                for m in v:
                    if not _is_number(m):
                        _check_number(m)
                return '{"nS":["' + '","'.join(v) + '"]}'
            return '{"bS":["' + '","'.join([_b64encode(m) for m in v]) + '"]}'
        raise _Bad(f"unknown AttributeValue type {t!r}")

    return encode


_DP_ENCODERS = {key: _dp_encoder(key) for key in NULL_KEYS}


def item_to_line(item: Mapping[str, AttributeValue], *, null_key: str = "nULL") -> str:
    """Render a low-level item as one Data Pipeline export line (no trailing newline).

    Compact JSON (``,`` and ``:`` separators, as ``json.dumps(..., separators=(",", ":"),
    ensure_ascii=False)`` would write it), UTF-8 text (no ``\\u`` escapes for non-ASCII),
    attributes in the item's order, binary as standard padded base64. ``null_key="nULLValue"``
    writes NULL the way the old service (connector 4.x) did.

    Raises:
        ValueError: the item is not in the boto3 low-level shape (unknown type, bad number,
            empty set, wrong Python type), naming the attribute.
    """
    encode = _DP_ENCODERS.get(null_key)
    if encode is None:
        raise ValueError(f"null_key must be one of {NULL_KEYS}, got {null_key!r}")
    parts = []
    for name, av in item.items():
        if type(name) is not str:
            raise ValueError(f"attribute name {_short(name)} is not a string")
        try:
            parts.append(_jstr(name) + ":" + encode(av))
        except _Bad as err:
            err.path.append(name)
            raise ValueError(f"attribute {_path_text(err.path)!r}: {err.message}") from None
    return "{" + ",".join(parts) + "}"


# --------------------------------------------------------------------------------------------
# Reading native ION lines
# --------------------------------------------------------------------------------------------

_ION_WS = " \t\n\r\v\f"
_ION_PLAIN_START = frozenset('"{[(-+0123456789')
_ION_QUOTED_SPECIAL = {q: re.compile("[" + q + "\\\\\n\r]") for q in "\"'"}
_ION_LONG_SPECIAL = re.compile(r"'''|[\\\r]")
_ION_TOKEN_RE = re.compile(r"[^{}\[\](),\"' \t\n\r\v\f]*")
_ION_IDENT_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ION_SHORT_STR_RE = re.compile(r'"([^"\\\n\r]*)"')
_ION_INT_RE = re.compile(r"(-?)(0|[1-9](?:_?[0-9])*)")
_ION_RADIX_RE = re.compile(r"-?0(?:[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[bB][01](?:_?[01])*)")
_ION_REAL_RE = re.compile(
    r"(-?)(0|[1-9](?:_?[0-9])*)(?:\.([0-9](?:_?[0-9])*)?)?"
    r"(?:([dDeE])([+-]?[0-9](?:_?[0-9])*))?"
)
_ION_TIMESTAMP_RE = re.compile(r"[0-9]{4}(?:T|-[0-9])")
_ION_NULL_TYPES = frozenset(
    {
        *("null", "bool", "int", "float", "decimal", "timestamp", "string"),
        *("symbol", "blob", "clob", "struct", "list", "sexp"),
    }
)
_ION_SIMPLE_ESCAPES = {
    "0": "\x00",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "n": "\n",
    "f": "\x0c",
    "r": "\r",
    "v": "\x0b",
    '"': '"',
    "'": "'",
    "?": "?",
    "\\": "\\",
    "/": "/",
}
_HEX = frozenset("0123456789abcdefABCDEF")
_ION_SET_ANNOTATIONS = {"$dynamodb_SS": "SS", "$dynamodb_NS": "NS", "$dynamodb_BS": "BS"}
_ION_MAX_DEPTH = 64  # DynamoDB allows 32 levels; deeper input is rejected, not recursed into


def _ion_decimal_text(negative: bool, int_part: str, frac_part: str, exponent: int) -> str:
    """Plain DynamoDB number text of an Ion decimal, keeping its trailing fractional zeros."""
    digits = (int_part + frac_part).lstrip("0")
    if not digits:
        return "0"
    scale = exponent - len(frac_part)  # value = digits x 10**scale
    lead = scale + len(digits) - 1
    sig = digits.rstrip("0")
    if len(sig) > _MAX_DIGITS:
        raise _Bad(f"number has {len(sig)} significant digits, DynamoDB allows 38")
    if lead > _MAX_EXP:
        raise _Bad("number is larger than DynamoDB's 9.99...E+125")
    if lead < _MIN_EXP:
        raise _Bad("number is smaller than DynamoDB's 1E-130")
    if scale >= 0:
        text = digits + "0" * scale
    elif len(digits) > -scale:
        text = digits[:scale] + "." + digits[scale:]
    else:
        text = "0." + "0" * (-scale - len(digits)) + digits
    return "-" + text if negative else text


class _IonReader:
    """A recursive-descent reader for the part of Ion text that can hold a DynamoDB item."""

    __slots__ = ("i", "n", "s")

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    # -- lexical helpers ------------------------------------------------------------------------

    def fail(self, message: str) -> _Bad:
        return _Bad(f"{message} at column {self.i + 1}")

    def skip_ws(self) -> None:
        s, n, i = self.s, self.n, self.i
        while i < n:
            c = s[i]
            if c in _ION_WS:
                i += 1
            elif c == "/" and i + 1 < n and s[i + 1] == "/":
                end = s.find("\n", i)
                i = n if end < 0 else end + 1
            elif c == "/" and i + 1 < n and s[i + 1] == "*":
                end = s.find("*/", i + 2)
                if end < 0:
                    self.i = i
                    raise self.fail("unterminated /* comment")
                i = end + 2
            else:
                break
        self.i = i

    def peek(self) -> str:
        return self.s[self.i] if self.i < self.n else ""

    def expect(self, char: str) -> None:
        self.skip_ws()
        if self.peek() != char:
            got = repr(self.peek()) if self.i < self.n else "the end of the line"
            raise self.fail(f"expected {char!r}, found {got}")
        self.i += 1

    def read_escape(self, out: List[str]) -> None:
        """Read the escape after a backslash at ``self.i`` (already past the backslash)."""
        s, i = self.s, self.i
        if i >= self.n:
            raise self.fail("unterminated escape")
        c = s[i]
        simple = _ION_SIMPLE_ESCAPES.get(c)
        if simple is not None:
            out.append(simple)
            self.i = i + 1
            return
        if c == "\n":  # escaped newline: nothing
            self.i = i + 1
            return
        if c == "\r":
            self.i = i + 2 if s.startswith("\n", i + 1) else i + 1
            return
        width = {"x": 2, "u": 4, "U": 8}.get(c)
        if width is None:
            raise self.fail(f"invalid escape \\{c}")
        hex_text = s[i + 1 : i + 1 + width]
        if len(hex_text) != width or not all(h in _HEX for h in hex_text):
            raise self.fail(f"invalid escape \\{c}{hex_text}")
        code = int(hex_text, 16)
        self.i = i + 1 + width
        if 0xDC00 <= code <= 0xDFFF:
            raise self.fail("lone low surrogate in escape")
        if 0xD800 <= code <= 0xDBFF:
            # A UTF-16 pair written as two \u escapes; anything else is not Unicode text.
            low = s[self.i : self.i + 6]
            if len(low) == 6 and low.startswith("\\u") and all(h in _HEX for h in low[2:]):
                low_code = int(low[2:], 16)
                if 0xDC00 <= low_code <= 0xDFFF:
                    self.i += 6
                    out.append(chr(0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)))
                    return
            raise self.fail("lone high surrogate in escape")
        if code > 0x10FFFF:
            raise self.fail(f"escape \\{c}{hex_text} is not a Unicode code point")
        out.append(chr(code))

    def read_quoted(self, quote: str) -> str:
        """Read a short string or quoted symbol body; ``self.i`` is just past the opening quote."""
        s = self.s
        special = _ION_QUOTED_SPECIAL[quote]
        out: List[str] = []
        start = self.i
        while True:
            m = special.search(s, start)
            if m is None:
                self.i = self.n
                raise self.fail("unterminated string")
            i = m.start()
            out.append(s[start:i])
            c = s[i]
            if c == quote:
                self.i = i + 1
                return "".join(out)
            if c == "\\":
                self.i = i + 1
                self.read_escape(out)
                start = self.i
                continue
            self.i = i
            raise self.fail("unescaped newline in a quoted string")

    def read_long_strings(self) -> str:
        """Read one or more adjacent ``'''...'''`` strings (concatenated); at the first ``'''``."""
        s, n = self.s, self.n
        parts: List[str] = []
        while True:
            start = self.i + 3
            while True:
                m = _ION_LONG_SPECIAL.search(s, start)
                if m is None:
                    self.i = n
                    raise self.fail("unterminated ''' string")
                i = m.start()
                parts.append(s[start:i])
                c = s[i]
                if c == "'":  # the closing '''
                    self.i = i + 3
                    break
                if c == "\\":
                    self.i = i + 1
                    self.read_escape(parts)
                    start = self.i
                    continue
                # A raw CR or CRLF inside a long string reads as LF.
                parts.append("\n")
                start = i + 2 if s.startswith("\n", i + 1) else i + 1
            save = self.i
            self.skip_ws()
            if not self.s.startswith("'''", self.i):
                self.i = save
                return "".join(parts)

    def read_symbol_token(self) -> Optional[str]:
        """Read an identifier or a quoted symbol; return None if there is none here."""
        c = self.peek()
        if c == "'":
            if self.s.startswith("'''", self.i):
                return None
            self.i += 1
            return self.read_quoted("'")
        m = _ION_IDENT_RE.match(self.s, self.i)
        if m is None:
            return None
        self.i = m.end()
        return m.group()

    # -- values -----------------------------------------------------------------------------

    def read_field_name(self) -> str:
        self.skip_ws()
        c = self.peek()
        if c == '"':
            self.i += 1
            return self.read_quoted('"')
        if c == "'" and self.s.startswith("'''", self.i):
            return self.read_long_strings()
        start = self.i
        name = self.read_symbol_token()
        if name is None:
            raise self.fail(f"expected a field name, found {c!r}" if c else "unexpected end")
        if c != "'" and name[0] == "$" and name[1:].isdigit():
            self.i = start
            raise self.fail(f"symbol ID {name} needs a symbol table, which is not supported")
        return name

    def read_value(self, depth: int) -> AttributeValue:
        self.skip_ws()
        if depth > _ION_MAX_DEPTH:
            raise self.fail("value is nested too deeply")
        if self.i < self.n and self.s[self.i] in _ION_PLAIN_START:
            return self.read_plain_value(depth)  # cannot be annotated: no symbol token here
        annotation = None
        # Annotations: symbol tokens followed by '::'.
        while True:
            c = self.peek()
            if c != "'" and _ION_IDENT_RE.match(self.s, self.i) is None:
                break
            save = self.i
            token = self.read_symbol_token()
            if token is None:
                break
            self.skip_ws()
            if self.s.startswith("::", self.i):
                if annotation is not None:
                    self.i = save
                    raise self.fail("more than one annotation on a value")
                annotation = token
                if annotation not in _ION_SET_ANNOTATIONS:
                    self.i = save
                    raise self.fail(
                        f"unsupported annotation {annotation!r} (only $dynamodb_SS, "
                        "$dynamodb_NS and $dynamodb_BS are known)"
                    )
                self.i += 2
                self.skip_ws()
                continue
            self.i = save
            break
        if annotation is not None:
            if self.peek() != "[":
                raise self.fail(f"{annotation} must annotate a list")
            return self.read_set(_ION_SET_ANNOTATIONS[annotation], depth)
        return self.read_plain_value(depth)

    def read_plain_value(self, depth: int) -> AttributeValue:
        s, i = self.s, self.i
        c = self.peek()
        if c == "{":
            if s.startswith("{{", i):
                return {"B": self.read_blob()}
            return {"M": self.read_struct(depth)}
        if c == "[":
            return {"L": self.read_list(depth)}
        if c == '"':
            m = _ION_SHORT_STR_RE.match(s, i)
            if m is not None:
                self.i = m.end()
                return {"S": m.group(1)}
            self.i += 1
            return {"S": self.read_quoted('"')}
        if c == "'":
            if s.startswith("'''", i):
                return {"S": self.read_long_strings()}
            self.i += 1
            return {"S": self.read_quoted("'")}  # a quoted symbol: its text
        if c == "(":
            raise self.fail("s-expressions are not DynamoDB values")
        if c == "-" or c == "+" or c.isdigit():
            return {"N": self.read_number()}
        m = _ION_IDENT_RE.match(s, i)
        if m is not None:
            word = m.group()
            self.i = m.end()
            if word == "true":
                return {"BOOL": True}
            if word == "false":
                return {"BOOL": False}
            if word == "null":
                if self.peek() == ".":
                    m2 = _ION_IDENT_RE.match(s, self.i + 1)
                    if m2 is None or m2.group() not in _ION_NULL_TYPES:
                        raise self.fail("invalid typed null")
                    self.i = m2.end()
                return {"NULL": True}
            if word == "nan":
                self.i = i
                raise self.fail("nan is not a DynamoDB number")
            if word[0] == "$" and word[1:].isdigit():
                self.i = i
                raise self.fail(f"symbol ID {word} needs a symbol table, which is not supported")
            return {"S": word}  # an unquoted symbol: its text
        if not c:
            raise self.fail("unexpected end of the line, expected a value")
        raise self.fail(f"unexpected character {c!r}")

    def read_number(self) -> str:
        start = self.i
        m = _ION_TOKEN_RE.match(self.s, start)
        assert m is not None  # the pattern matches the empty string
        token = m.group()
        self.i = m.end()
        try:
            return self.number_text(token)
        except _Bad as err:
            self.i = start
            raise self.fail(f"{err.message} ({_short(token)})") from None

    @staticmethod
    def number_text(token: str) -> str:
        m = _ION_INT_RE.fullmatch(token)
        if m is not None:
            digits = m.group(2).replace("_", "").lstrip("0") or "0"
            if digits != "0":
                sig = digits.rstrip("0")
                if len(sig) > _MAX_DIGITS:
                    raise _Bad(f"integer has {len(sig)} significant digits, DynamoDB allows 38")
                if len(digits) - 1 > _MAX_EXP:
                    raise _Bad("integer is larger than DynamoDB's 9.99...E+125")
            return "-" + digits if m.group(1) and digits != "0" else digits
        if _ION_RADIX_RE.fullmatch(token):
            if len(token) > 450:
                raise _Bad("integer is larger than DynamoDB's 9.99...E+125")
            value = int(token.replace("_", ""), 0)
            return _ion_decimal_text(value < 0, str(abs(value)), "", 0)
        m = _ION_REAL_RE.fullmatch(token)
        if m is not None:
            sign, int_part, frac_part, marker, exp_text = m.groups()
            exp_digits = (exp_text or "0").replace("_", "")
            body = exp_digits.lstrip("+-").lstrip("0")
            if len(body) > 12:
                if (int_part + (frac_part or "")).replace("_", "").strip("0") == "":
                    return "0"
                big = exp_digits[0] != "-"
                raise _Bad(
                    "number is larger than DynamoDB's 9.99...E+125"
                    if big
                    else "number is smaller than DynamoDB's 1E-130"
                )
            # Ion floats (e/E) are read from their text as exact decimals.
            return _ion_decimal_text(
                bool(sign),
                int_part.replace("_", ""),
                (frac_part or "").replace("_", ""),
                int(exp_digits),
            )
        if token in ("+inf", "-inf"):
            raise _Bad(f"{token} is not a DynamoDB number")
        if _ION_TIMESTAMP_RE.match(token):
            raise _Bad("timestamps are not DynamoDB values")
        raise _Bad("invalid number")

    def read_blob(self) -> bytes:
        start = self.i
        end = self.s.find("}}", start + 2)
        if end < 0:
            raise self.fail("unterminated {{ blob }}")
        body = self.s[start + 2 : end]
        stripped = body.strip(_ION_WS)
        if stripped[:1] == '"' or stripped[:3] == "'''":
            raise self.fail("clobs are not DynamoDB values")
        text = "".join(body.split())
        try:
            data = _b64decode(text)
        except _Bad as err:
            raise self.fail(err.message) from None
        self.i = end + 2
        return data

    def read_struct(self, depth: int) -> Dict[str, AttributeValue]:
        self.i += 1  # '{'
        out: Dict[str, AttributeValue] = {}
        while True:
            self.skip_ws()
            if self.peek() == "}":
                self.i += 1
                return out
            name = self.read_field_name()
            if self.s.startswith(":", self.i) and not self.s.startswith("::", self.i):
                self.i += 1  # the usual compact form, name:value
            else:
                self.skip_ws()
                if self.s.startswith("::", self.i):
                    raise self.fail("a field name cannot be annotated")
                self.expect(":")
            try:
                value = self.read_value(depth + 1)
            except _Bad as err:
                err.path.append(name)
                raise
            if name in out:
                raise _Bad(f"field {name!r} appears twice")
            out[name] = value
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "}":
                raise self.fail("expected ',' or '}' in a struct")

    def read_list(self, depth: int) -> List[AttributeValue]:
        self.i += 1  # '['
        out: List[AttributeValue] = []
        while True:
            self.skip_ws()
            if self.peek() == "]":
                self.i += 1
                return out
            try:
                out.append(self.read_value(depth + 1))
            except _Bad as err:
                err.path.append(len(out))
                raise
            self.skip_ws()
            c = self.peek()
            if c == ",":
                self.i += 1
            elif c != "]":
                raise self.fail("expected ',' or ']' in a list")

    def read_set(self, t: str, depth: int) -> AttributeValue:
        elements = self.read_list(depth)
        if not elements:
            raise self.fail(f"empty {t} set (DynamoDB sets have at least one member)")
        want = t[0]  # S, N or B
        members = []
        for index, element in enumerate(elements):
            for et, ev in element.items():
                if et != want:
                    err = _Bad(f"{t} members must be {want} values, got {et}")
                    err.path.append(index)
                    raise err
                members.append(ev)
        if len(set(members)) != len(members):
            raise _Bad(f"{t} set has duplicate members")
        return {t: members}


def ion_line_to_item(line: str) -> Item:
    """Parse one line of a DynamoDB native export in ION format.

    The line is ``$ion_1_0 {Item:{...}}``. Mapping: string and symbol -> S; decimal and int -> N
    as plain decimal text of the exact value (``103.`` -> ``"103"``, ``1.5d2`` -> ``"150"``,
    ``1d-3`` -> ``"0.001"``, ``1.50`` -> ``"1.50"``; an Ion float's *text* is read the same way,
    never through a binary float); blob -> B; ``$dynamodb_SS/NS/BS::[...]`` -> sets; list -> L;
    struct -> M; bool -> BOOL; ``null`` and typed nulls -> NULL. Timestamps, clobs, s-expressions,
    other annotations, symbol IDs (``$10``) and local symbol tables are rejected: DynamoDB's
    exports never contain them.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    if not line.strip(_ION_WS):
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    reader = _IonReader(line)
    body: Optional[Item] = None
    try:
        while True:
            reader.skip_ws()
            if reader.i >= reader.n:
                break
            m = _ION_IDENT_RE.match(line, reader.i)
            if m is not None and m.group().startswith("$ion_"):
                if line[m.end() :].lstrip(_ION_WS).startswith("::"):
                    raise reader.fail(f"{m.group()}:: values (symbol tables) are not supported")
                if m.group() != "$ion_1_0":
                    raise reader.fail(f"unsupported Ion version marker {m.group()}")
                reader.i = m.end()
                continue
            if body is not None:
                raise reader.fail("more than one value on the line")
            start = reader.i
            value = reader.read_value(0)
            outer = value.get("M")
            if outer is None or "Item" not in outer:
                reader.i = start
                raise reader.fail("expected a struct with an Item field")
            if len(outer) != 1:
                others = sorted(k for k in outer if k != "Item")
                raise _Bad(f"unexpected fields {others} next to Item")
            inner = outer["Item"].get("M")
            if inner is None:
                raise _Bad("Item is not a struct")
            body = inner
    except _Bad as err:
        if err.path and err.path[-1] == "Item":
            err.path.pop()
        raise _format_error(err, _FIX_ION) from None
    if body is None:
        raise ExportFormatError("the line holds no item, only an Ion version marker.", _FIX_ION)
    return body


# --------------------------------------------------------------------------------------------
# Sizes and capacity
# --------------------------------------------------------------------------------------------


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _number_size(s: Any) -> int:
    """1 byte per two significant digits, rounded up, plus 1 (AWS's documented estimate)."""
    if _is_number(s):  # plain: drop sign and point, then leading and trailing zeros
        digits = len(s.replace(".", "", 1).lstrip("-").strip("0"))
    else:
        digits = len(_number_parts(s)[1]) if type(s) is str else -1
        if digits < 0:
            raise _Bad(f"a number must be given as a string, got {_short(s)}")
    return (digits + 1) // 2 + 1


def _value_size(av: AttributeValue) -> int:
    for t in av:  # noqa: B007 -- the one key, without building a tuple
        break
    else:
        raise _Bad("empty AttributeValue")
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
        return len(v)
    if t == "BOOL" or t == "NULL":
        return 1
    if t == "SS":
        return sum(map(_utf8_len, v))
    if t == "NS":
        return sum(map(_number_size, v))
    if t == "BS":
        return sum(map(len, v))
    raise _Bad(f"unknown AttributeValue type {t!r}")


def item_size(item: Mapping[str, AttributeValue]) -> int:
    """DynamoDB's size of an item in bytes, by AWS's documented rules.

    Sum over attributes of the name's UTF-8 length plus the value's size: S = UTF-8 length;
    N = 1 byte per two significant digits (rounded up) + 1; B = raw length; SS/NS/BS = sum of
    members; BOOL/NULL = 1; M/L = 3 + per element (1 + element size, plus the key's UTF-8 length
    for M). The number rule is AWS's approximation; the rest is exact. Storage overheads (100
    bytes per item for indexing) are not included: they do not count toward capacity units.

    Raises:
        ValueError: an AttributeValue has an unknown type or an invalid number.
    """
    total = 0
    for name, av in item.items():
        try:
            total += _utf8_len(name) + _value_size(av)
        except _Bad as err:
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
    appear in :func:`normalize_number` form. S is ``str``, B is ``bytes``.

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
                out.append(("B", bytes(av["B"])))
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
    for a partition key, 1024 for a sort key); otherwise a message saying which and why.

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
                if not isinstance(value, (bytes, bytearray)):
                    return f"{role} key attribute {name!r} is not bytes"
                if not value:
                    return f"{role} key attribute {name!r} is empty binary"
                size = len(value)
            else:
                try:
                    _check_number(value)
                except _Bad as err:
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
