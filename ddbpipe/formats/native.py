"""DynamoDB native export lines in DYNAMODB_JSON format: :func:`native_line_to_item`.

Each line is ``{"Item":{...}}`` with DynamoDB's own upper-case type keys; the values go through
the decoder of :mod:`ddbpipe.formats.typed_json`. Read only: there is no writer for this format.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats.typed_json import decode_attributes, json_kind, load_json, make_decoder
from ddbpipe.formats.values import AttributeValue, BadValue, Item, format_error

_FIX_NATIVE = (
    'DynamoDB JSON export lines look like {"Item":{"Id":{"N":"1"}}}; check that the file '
    "comes from the export's data/ folder and was not truncated or edited."
)


def _no_fallback(key: str) -> Optional[str]:
    return None


_NATIVE_SPELLING = {t: t for t in ("S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL")}
_decode_native = make_decoder(_NATIVE_SPELLING, _no_fallback, '{"S":"text"}')
_decode_native_wire = make_decoder(_NATIVE_SPELLING, _no_fallback, '{"S":"text"}', wire=True)


def native_line_to_item(line: str) -> Item:
    """Parse one line of a DynamoDB native export in DYNAMODB_JSON format.

    The line is ``{"Item":{"Id":{"N":"103"},"Pic":{"B":"<base64>"},...}}`` with upper-case type
    keys. Numbers are checked and kept as written; binary must be strict, padded base64.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    return _read_line(line, _decode_native)


def native_line_to_wire(line: str) -> Item:
    """:func:`native_line_to_item` in DynamoDB's wire form (:mod:`ddbpipe.formats.wire`): the
    same checks and errors, binary kept as the base64 text of the line."""
    return _read_line(line, _decode_native_wire)


def _read_line(line: str, decode: Callable[[Any], AttributeValue]) -> Item:
    text = line.strip(" \t\r\n")
    if not text:
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    try:
        obj = load_json(text, "the line")
        if type(obj) is not dict or "Item" not in obj:
            raise BadValue('the line is not an object with an "Item" member')
        if len(obj) != 1:
            others = sorted(k for k in obj if k != "Item")
            raise BadValue(f'unexpected members {others} next to "Item"')
        body = obj["Item"]
        if type(body) is not dict:
            raise BadValue(f'"Item" is {json_kind(body)}, not an object')
        return decode_attributes(body, decode)
    except BadValue as err:
        raise format_error(err, _FIX_NATIVE) from None
    except RecursionError:
        raise ExportFormatError("the line is nested too deeply.", _FIX_NATIVE) from None
