"""Lines of a DynamoDB native INCREMENTAL export: :func:`json_change`, :func:`ion_change`.

An incremental export (``ExportType`` ``INCREMENTAL_EXPORT``) writes one record per item that
changed in its window, in DYNAMODB_JSON or ION::

    {"Metadata":{"WriteTimestampMicros":{"N":"..."}},"Keys":{...},"OldImage":{...},"NewImage":{...}}

``Keys`` is always there; ``NewImage`` is the item's state at the end of the window and is absent
when the item was deleted; ``OldImage`` (view type ``NEW_AND_OLD_IMAGES`` only) is its state
before the window. So a record is a put of ``NewImage`` or, without one, a delete of ``Keys``:
the readers return the item (a dict, as every other reader) or a :class:`Deletion`.
``OldImage`` and ``Metadata`` are checked for shape but not decoded: nothing is done with them.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

from ddbpipe.errors import ExportFormatError
from ddbpipe.formats.ion import ion_line_fields
from ddbpipe.formats.native import decode_native, load_line
from ddbpipe.formats.typed_json import decode_attributes, json_kind
from ddbpipe.formats.values import AttributeValue, BadValue, Item, format_error

_FIX = ('incremental export lines look like {"Metadata":{...},"Keys":{"Id":{"N":"1"}},'
        '"NewImage":{...}}; check that the file is one the export\'s manifest-files.json lists '
        "and was not truncated or edited.")
_MEMBERS = frozenset({"Metadata", "Keys", "NewImage", "OldImage"})


class Deletion:
    """An item the export records as deleted in its window: its key (``Keys``)."""

    __slots__ = ("key",)

    def __init__(self, key: Item) -> None:
        self.key = key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deletion) and other.key == self.key

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.key)))

    def __repr__(self) -> str:
        return f"Deletion({self.key!r})"


#: What one line of an incremental export asks for: put this item, or delete this key.
Change = Union[Item, Deletion]


def _change(keys: Item, new: Optional[Item]) -> Change:
    if not keys:
        raise BadValue('"Keys" is empty')
    if new is None:
        return Deletion(keys)
    for name, value in keys.items():
        if new.get(name) != value:
            raise BadValue(f'"NewImage" does not hold the key attribute {name!r} of "Keys" '
                           "with the same value")
    return new


def _check_members(names: Any) -> None:
    extra = sorted(set(names) - _MEMBERS)
    if extra:
        raise BadValue(f"unexpected members {extra} in an incremental export record")
    if "Keys" not in names:
        raise BadValue('the record has no "Keys" member')


def json_change(line: str) -> Change:
    """One line of an incremental export in DYNAMODB_JSON: the item to put, or a
    :class:`Deletion`.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    try:
        obj = load_line(line)
        if type(obj) is not dict:
            raise BadValue(f"the line is {json_kind(obj)}, not an incremental export record")
        _check_members(obj)
        for member in ("Keys", "NewImage", "OldImage", "Metadata"):
            if member in obj and type(obj[member]) is not dict:
                raise BadValue(f'"{member}" is {json_kind(obj[member])}, not an object')
        keys = _decoded(obj["Keys"], "Keys")
        new = _decoded(obj["NewImage"], "NewImage") if "NewImage" in obj else None
        return _change(keys, new)
    except BadValue as err:
        raise format_error(err, _FIX) from None
    except RecursionError:
        raise ExportFormatError("the line is nested too deeply.", _FIX) from None


def _decoded(body: dict[str, Any], member: str) -> Item:
    try:
        return decode_attributes(body, decode_native)
    except BadValue as err:
        err.message = f"{err.message} (in {member})"
        raise


def ion_change(line: str) -> Change:
    """One line of an incremental export in ION (``$ion_1_0 {Metadata:{...},Keys:{...},
    NewImage:{...}}``): the item to put, or a :class:`Deletion`.

    Raises:
        ExportFormatError: the line is blank or malformed; the message says what and where.
    """
    fields = ion_line_fields(line, _FIX, "an incremental export record (a struct with Keys)")
    try:
        _check_members(fields)
        keys = _struct(fields, "Keys")
        assert keys is not None
        for member in ("OldImage", "Metadata"):
            _struct(fields, member)
        return _change(keys, _struct(fields, "NewImage"))
    except BadValue as err:
        raise format_error(err, _FIX) from None


def _struct(fields: Mapping[str, AttributeValue], member: str) -> Optional[Item]:
    if member not in fields:
        return None
    body = fields[member].get("M")
    if body is None:
        raise BadValue(f"{member} is not a struct")
    return body
