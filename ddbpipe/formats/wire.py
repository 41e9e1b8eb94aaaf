"""Items in DynamoDB's wire form: what the import sends in a BatchWriteItem body.

DynamoDB's JSON protocol carries an item as ``{"Id":{"N":"205"},"Pic":{"B":"AAEC"}}``: the
low-level shape of :mod:`ddbpipe.formats`, except that binary (``B``, ``BS`` members) travels as
standard base64 text. An export line already holds that text, so the import keeps it: a *wire
item* is a low-level item whose binary is the checked base64 text of the line, numbers the text
as written. ``json.dumps`` of a wire item is byte for byte what botocore's serializer writes for
the same item in bytes form (a unit test holds the two side by side).

Readers, one per line format, with the same checks and errors as their ``*_to_item`` twins:
:func:`~ddbpipe.formats.datapipeline.line_to_wire` (Data Pipeline JSON and Hive-era lines),
:func:`~ddbpipe.formats.native.native_line_to_wire` (DYNAMODB_JSON) and :func:`ion_line_to_wire`
(ION, through its item reader and :func:`item_to_wire`). :func:`~ddbpipe.formats.item_size`,
:func:`~ddbpipe.formats.key_of` and the key checker take wire items as they take items.
"""

from __future__ import annotations

from typing import Any, Mapping

from ddbpipe.formats.ion import ion_line_to_item
from ddbpipe.formats.values import AttributeValue, BadValue, Item, encode_base64, path_text


def _value_to_wire(av: AttributeValue) -> AttributeValue:
    for t in av:  # noqa: B007 -- the one key, without building a tuple
        break
    else:
        raise BadValue("empty AttributeValue")
    v = av[t]
    if t == "B":
        return {"B": v if type(v) is str else encode_base64(v)}
    if t == "BS":
        return {"BS": [m if type(m) is str else encode_base64(m) for m in v]}
    if t == "M":
        out = {}
        for name, sub in v.items():
            try:
                out[name] = _value_to_wire(sub)
            except BadValue as err:
                err.path.append(name)
                raise
        return {"M": out}
    if t == "L":
        items = []
        for sub in v:
            try:
                items.append(_value_to_wire(sub))
            except BadValue as err:
                err.path.append(len(items))
                raise
        return {"L": items}
    return av  # S, N, SS, NS, BOOL, NULL: the same on the wire


def item_to_wire(item: Mapping[str, AttributeValue]) -> Item:
    """A low-level item (binary as ``bytes``) in the wire form (binary as base64 text); values
    without binary are shared, not copied.

    Raises:
        ValueError: an attribute's binary is neither bytes nor text.
    """
    out: Item = {}
    for name, av in item.items():
        try:
            out[name] = _value_to_wire(av)
        except BadValue as err:
            err.path.append(name)
            raise ValueError(f"attribute {path_text(err.path)!r}: {err.message}") from None
    return out


def ion_line_to_wire(line: str) -> Item:
    """One line of a DynamoDB native export in ION, as a wire item (read once by the ION
    reader, its blobs encoded as base64)."""
    return item_to_wire(ion_line_to_item(line))


def request_to_wire(request: Mapping[str, Any]) -> dict[str, Any]:
    """A BatchWriteItem request as botocore parsed it (an UnprocessedItems entry) in the wire
    form, to be sent again."""
    put = request.get("PutRequest")
    if put is not None:
        return {"PutRequest": {"Item": item_to_wire(put["Item"])}}
    return {"DeleteRequest": {"Key": item_to_wire(request["DeleteRequest"]["Key"])}}
