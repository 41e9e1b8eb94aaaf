"""Data Pipeline export lines, both ways: :func:`line_to_item` and :func:`item_to_line`.

One JSON object per line, type keys with the first letter lower-cased (``s n b sS nS bS m l bOOL
nULL``), NULL also as ``nULLValue`` (connector 4.x); Hive-era lines (``name<ETX>value<STX>...``)
are read too. The writer builds each line as compact UTF-8 JSON text, one value at a time.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats.typed_json import (
    decode_attributes,
    encode_attributes,
    json_kind,
    json_loads,
    load_json,
    make_decoder,
    make_encoder,
)
from ddbpipe.formats.values import (
    AttributeValue,
    BadValue,
    Item,
    format_error,
    short_repr,
)

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


_DP_SPELLING = {
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
}
_decode_dp = make_decoder(_DP_SPELLING, _dp_type, '{"s":"text"}')
_decode_dp_wire = make_decoder(_DP_SPELLING, _dp_type, '{"s":"text"}', wire=True)


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


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
    return _read_line(line, _decode_dp)


def line_to_wire(line: str) -> Item:
    """:func:`line_to_item` in DynamoDB's wire form (:mod:`ddbpipe.formats.wire`): the same
    checks and errors, the type keys renamed, binary kept as the base64 text of the line."""
    return _read_line(line, _decode_dp_wire)


def _read_line(line: str, decode: Callable[[Any], AttributeValue]) -> Item:
    text = line.strip(" \t\r\n\ufeff")  # also a byte-order mark on a first line
    if not text:
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    try:
        if text[0] != "{":
            if ETX in text:
                return _hive_line(line.strip("\r\n\ufeff"), decode)
            try:
                obj = json_loads(text)
            except RecursionError:
                raise BadValue("the line is nested too deeply") from None
            except ValueError:
                raise BadValue(
                    "the line is neither a JSON object nor a Hive-style line "
                    "(name<ETX>value<STX>...)"
                ) from None
            raise BadValue(f"the line is {json_kind(obj)}, not an item object")
        obj = load_json(text, "the line")
        if type(obj) is not dict:
            raise BadValue(f"the line is {json_kind(obj)}, not an item object")
        return decode_attributes(obj, decode)
    except BadValue as err:
        raise format_error(err, _FIX_DP) from None
    except RecursionError:
        raise ExportFormatError("the line is nested too deeply.", _FIX_DP) from None


def _hive_line(text: str, decode: Callable[[Any], AttributeValue]) -> Item:
    item: Item = {}
    for part in text.split(STX):
        name, sep, value = part.partition(ETX)
        if not sep:
            raise BadValue(
                f"Hive-style attribute {short_repr(part)} has no ETX (0x03) after its name"
            )
        if name in item:
            raise BadValue(f"attribute {name!r} appears twice")
        try:
            item[name] = decode(load_json(value, "the value"))
        except BadValue as err:
            err.path.append(name)
            raise
    return item


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

_DP_ENCODERS = {key: make_encoder({**_DP_SPELLING, "NULL": key}) for key in NULL_KEYS}


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
    return encode_attributes(item, encode)
