"""Items in and out of the export file formats, exactly: no float, no lost type, no lost byte.

Everywhere in ddbpipe an item is the boto3 *low-level client* shape, ``dict[str, AttributeValue]``,
where an AttributeValue is a one-key dict: ``{"S": str}``, ``{"N": str}`` (the number's text as
written, never a float), ``{"B": bytes}``, ``{"SS": [str]}``, ``{"NS": [str]}``,
``{"BS": [bytes]}``, ``{"M": {name: AttributeValue}}``, ``{"L": [AttributeValue]}``,
``{"NULL": True}`` or ``{"BOOL": bool}``.

Formats (see design.md section 3), one module each:

* **Data Pipeline export line** (:mod:`.datapipeline`) -- :func:`item_to_line` /
  :func:`line_to_item`. One JSON object per line; type keys with the first letter lower-cased
  (``s n b sS nS bS m l bOOL nULL``), NULL also as ``nULLValue`` (connector 4.x); Hive-era lines
  (``name<ETX>value<STX>...``) are read too.
* **DynamoDB native export, DYNAMODB_JSON** (:mod:`.native`) -- :func:`item_to_native_line` /
  :func:`native_line_to_item`.
* **DynamoDB native export, ION** (:mod:`.ion`) -- :func:`item_to_ion_line` /
  :func:`ion_line_to_item`, a small Ion text reader and writer limited to what an item can hold.
* **DynamoDB native INCREMENTAL export**, either format (:mod:`.incremental`) --
  :func:`json_change` / :func:`ion_change`: the item to put, or a :class:`Deletion` of its key.
* **DynamoDB's wire form** (:mod:`.wire`) -- what the import sends: items whose binary stays
  the base64 text of the line. :func:`line_to_wire`, :func:`native_line_to_wire`,
  :func:`ion_line_to_wire` read lines into it with the same checks as the readers above;
  :func:`item_to_wire` converts an item.

The two JSON formats share their value decoder (:mod:`.typed_json`); all of them share the
number, base64 and error rules of :mod:`.values`.

Errors: the readers raise :class:`~ddbpipe.errors.ExportFormatError` whose ``what`` says what is
wrong with the line (and in which attribute). They do not know the file or line number: callers
catch the error and add that context, e.g. with :func:`with_context`. A blank line is an error
too ("the line is blank"); callers that want to skip blank lines test ``line.strip()`` first.
The writers raise :class:`ValueError` for an item that is not in the low-level shape (a programming
error, not a data error).

Helpers for capacity math and imports: :func:`validate_number`, :func:`normalize_number`
(:mod:`.values`); :func:`item_size`, :func:`key_of`, :func:`key_type_error` /
:func:`make_key_checker` (:mod:`.items`).
"""

from __future__ import annotations

from ddbpipe.formats.datapipeline import NULL_KEYS, item_to_line, line_to_item, line_to_wire
from ddbpipe.formats.incremental import Change, Deletion, ion_change, json_change
from ddbpipe.formats.ion import ion_line_to_item
from ddbpipe.formats.ion_writer import item_to_ion_line
from ddbpipe.formats.items import (
    item_size,
    key_of,
    key_type_error,
    make_key_checker,
    read_units,
    write_units,
)
from ddbpipe.formats.native import item_to_native_line, native_line_to_item, native_line_to_wire
from ddbpipe.formats.values import (
    AttributeValue,
    Item,
    b64decode_strict,
    normalize_number,
    validate_number,
    with_context,
)
from ddbpipe.formats.wire import ion_line_to_wire, item_to_wire, request_to_wire

__all__ = [
    "NULL_KEYS",
    "AttributeValue",
    "Change",
    "Deletion",
    "Item",
    "b64decode_strict",
    "ion_change",
    "ion_line_to_item",
    "ion_line_to_wire",
    "item_size",
    "item_to_ion_line",
    "item_to_line",
    "item_to_native_line",
    "item_to_wire",
    "json_change",
    "key_of",
    "key_type_error",
    "line_to_item",
    "line_to_wire",
    "make_key_checker",
    "native_line_to_item",
    "native_line_to_wire",
    "normalize_number",
    "read_units",
    "request_to_wire",
    "validate_number",
    "with_context",
    "write_units",
]
