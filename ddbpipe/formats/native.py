"""DynamoDB native export lines in DYNAMODB_JSON format: :func:`native_line_to_item`.

Each line is ``{"Item":{...}}`` with DynamoDB's own upper-case type keys; the values go through
the decoder of :mod:`ddbpipe.formats.typed_json`; :func:`item_to_native_line` writes them with its
encoder.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats.typed_json import (
    decode_attributes,
    encode_attributes,
    json_kind,
    load_json,
    make_decoder,
    make_encoder,
)
from ddbpipe.formats.values import AttributeValue, BadValue, Item, format_error

_FIX_NATIVE = (
    'DynamoDB JSON export lines look like {"Item":{"Id":{"N":"1"}}}; check that the file '
    "comes from the export's data/ folder and was not truncated or edited."
)


def _no_fallback(key: str) -> Optional[str]:
    return None


_NATIVE_SPELLING = {t: t for t in ("S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL")}
#: DynamoDB JSON's AttributeValue -> ours (also the incremental export's Keys and images).
decode_native = make_decoder(_NATIVE_SPELLING, _no_fallback, '{"S":"text"}')
#: ... -> DynamoDB's wire form: the same checks, binary kept as the line's base64 text.
decode_native_wire = make_decoder(_NATIVE_SPELLING, _no_fallback, '{"S":"text"}', wire=True)


def load_line(line: str) -> Any:
    """The JSON value of one export line (a :class:`BadValue` when it is not JSON).

    Raises:
        ExportFormatError: the line is blank.
    """
    text = line.strip(" \t\r\n")
    if not text:
        raise ExportFormatError("the line is blank.", "Skip blank lines before decoding.")
    return load_json(text, "the line")


def native_line_to_item(line: str) -> Item:
    """Parse one line of a DynamoDB native export in DYNAMODB_JSON format.

    The line is ``{"Item":{"Id":{"N":"103"},"Pic":{"B":"<base64>"},...}}`` with upper-case type
    keys. Numbers are checked and kept as written; binary must be strict, padded base64.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    return _read_line(line, decode_native)


def native_line_to_wire(line: str) -> Item:
    """:func:`native_line_to_item` in DynamoDB's wire form (:mod:`ddbpipe.formats.wire`): the
    same checks and errors, binary kept as the base64 text of the line."""
    return _read_line(line, decode_native_wire)


def _read_line(line: str, decode: Callable[[Any], AttributeValue]) -> Item:
    try:
        obj = load_line(line)
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


_encode_native = make_encoder(_NATIVE_SPELLING)


def item_to_native_line(item: Mapping[str, AttributeValue]) -> str:
    """Render a low-level item as one line of a DynamoDB JSON export (no trailing newline):
    ``{"Item":{"Id":{"N":"103"},...}}``, compact UTF-8 JSON, binary as padded base64.

    Raises:
        ValueError: the item is not in the boto3 low-level shape, naming the attribute.
    """
    return '{"Item":' + encode_attributes(item, _encode_native) + "}"
