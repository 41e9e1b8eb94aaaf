"""Fidelity side by side: a table of every type through ddbpipe and through dynamodump.

Items are compared after a consistent scan of the source and of each restored table, with value
equality: sets compare as sets, numbers as decimals, binary byte for byte.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from ddbpipe_dev.sample import KEY, scan_all


def canonical(value: Any) -> Any:
    """A comparable form of a boto3 AttributeValue (or a whole item)."""
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "N":
            return ("N", Decimal(inner).normalize())
        if kind == "NS":
            return ("NS", frozenset(Decimal(x).normalize() for x in inner))
        if kind in ("SS", "BS"):
            return (kind, frozenset(bytes(x) if kind == "BS" else x for x in inner))
        if kind == "B":
            return ("B", bytes(inner))
        if kind == "M":
            return ("M", tuple(sorted((k, canonical(v)) for k, v in inner.items())))
        if kind == "L":
            return ("L", tuple(canonical(v) for v in inner))
        return (kind, inner)
    if isinstance(value, dict):  # an item
        return tuple(sorted((k, canonical(v)) for k, v in value.items()))
    return value


def compare(source: list[dict[str, Any]], restored: list[dict[str, Any]]) -> dict[str, Any]:
    """How many items of ``source`` come back identical in ``restored``, and which attributes
    differ (attribute name -> items where it differs or is missing)."""
    by_key = {item[KEY]["S"]: item for item in restored}
    identical = missing = 0
    differs: Counter[str] = Counter()
    for item in source:
        other = by_key.get(item[KEY]["S"])
        if other is None:
            missing += 1
            continue
        if canonical(item) == canonical(other):
            identical += 1
            continue
        for name in set(item) | set(other):
            if name not in item or name not in other or \
                    canonical(item[name]) != canonical(other[name]):
                differs[name] += 1
    return {"source_items": len(source), "restored_items": len(restored),
            "identical": identical, "missing": missing,
            "extra": len(restored) - (len(source) - missing),
            "attributes_differing": dict(sorted(differs.items()))}


def example_difference(source: list[dict[str, Any]], restored: list[dict[str, Any]],
                       attribute: str) -> tuple[Any, Any]:
    """The first (source value, restored value) of ``attribute`` that differ."""
    by_key = {item[KEY]["S"]: item for item in restored}
    for item in source:
        other = by_key.get(item[KEY]["S"])
        if other is None or attribute not in item:
            continue
        if canonical(item[attribute]) != canonical(other.get(attribute)):
            return item[attribute], other.get(attribute)
    return None, None


def scan_table(ddb: Any, name: str) -> list[dict[str, Any]]:
    return scan_all(ddb, name)
