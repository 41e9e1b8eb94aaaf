"""A Data Pipeline definition read into plain values: objects, parameters and their values.

Two spellings of the same definition are read alike: the file form kept in source control and
printed by ``aws datapipeline get-pipeline-definition`` (``{"id", "type", "field": value | {"ref":
id} | [..]}``) and the API form of PutPipelineDefinition/GetPipelineDefinition (``{"id", "name",
"fields": [{"key", "stringValue" | "refValue"}]}``, parameters with ``attributes``, values as
``parameterValues``). Every field is kept as a list, since a field may be given several times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from ddbpipe.errors import ConfigError


@dataclass(frozen=True)
class Ref:
    """A reference to another object of the pipeline (``{"ref": id}`` / ``refValue``)."""

    id: str


Value = Union[str, Ref]


@dataclass(frozen=True)
class PipelineObject:
    id: str
    name: str
    fields: Mapping[str, tuple[Value, ...]] = field(default_factory=dict)

    @property
    def type(self) -> str:
        values = self.fields.get("type", ())
        return values[0] if values and isinstance(values[0], str) else ""


@dataclass(frozen=True)
class Definition:
    source: str
    objects: Mapping[str, PipelineObject]
    defaults: Mapping[str, str]
    values: Mapping[str, str]

    def get(self, obj: PipelineObject, key: str) -> tuple[Value, ...]:
        """A field of ``obj``, else of its ``parent`` chain, else of ``Default`` (inheritance)."""
        seen: set[str] = set()
        current: Optional[PipelineObject] = obj
        while current is not None and current.id not in seen:
            seen.add(current.id)
            if key in current.fields:
                return current.fields[key]
            parents = current.fields.get("parent", ())
            parent = parents[0] if parents else None
            current = self.objects.get(parent.id) if isinstance(parent, Ref) else None
        default = self.objects.get("Default")
        if default is not None and default.id not in seen and key in default.fields:
            return default.fields[key]
        return ()

    def first(self, obj: PipelineObject, key: str) -> Optional[Value]:
        values = self.get(obj, key)
        return values[0] if values else None

    def of_type(self, *types: str) -> list[PipelineObject]:
        return [o for o in self.objects.values() if o.type in types]


def _invalid(source: str, what: str) -> ConfigError:
    return ConfigError(f"{source}: {what}",
                       "Give a Data Pipeline definition as `aws datapipeline "
                       "get-pipeline-definition` prints it: {\"objects\": [...]}.")


def _file_value(source: str, key: str, raw: Any) -> tuple[Value, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[Value] = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"ref"} and isinstance(item["ref"], str):
            out.append(Ref(item["ref"]))
        elif isinstance(item, (str, int, float)) and not isinstance(item, bool):
            out.append(str(item))
        else:
            raise _invalid(source, f"field {key!r} has a value that is neither a string nor "
                                   f"{{\"ref\": id}}: {json.dumps(item)}")
    return tuple(out)


def _object(source: str, raw: Any) -> PipelineObject:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise _invalid(source, f"an object has no string \"id\": {json.dumps(raw)[:80]}")
    fields: dict[str, tuple[Value, ...]] = {}
    if isinstance(raw.get("fields"), list):  # API form
        for f in raw["fields"]:
            if not isinstance(f, dict) or not isinstance(f.get("key"), str):
                raise _invalid(source, f"object {raw['id']!r} has a field without a \"key\"")
            if isinstance(f.get("refValue"), str):
                value: Value = Ref(f["refValue"])
            elif isinstance(f.get("stringValue"), str):
                value = f["stringValue"]
            else:
                raise _invalid(source, f"field {f['key']!r} of {raw['id']!r} has neither "
                                       "stringValue nor refValue")
            fields[f["key"]] = (*fields.get(f["key"], ()), value)
    else:
        for key, val in raw.items():
            if key not in ("id", "name"):
                fields[key] = _file_value(source, key, val)
    name = raw.get("name")
    name = name if isinstance(name, str) else raw["id"]
    return PipelineObject(id=raw["id"], name=name, fields=fields)


def _parameter(source: str, raw: Any) -> tuple[str, Optional[str]]:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise _invalid(source, f"a parameter has no string \"id\": {json.dumps(raw)[:80]}")
    if isinstance(raw.get("attributes"), list):  # API form
        attrs = {a.get("key"): a.get("stringValue") for a in raw["attributes"]
                 if isinstance(a, dict)}
        default = attrs.get("default")
    else:
        default = raw.get("default")
    return raw["id"], None if default is None else str(default)


def parse_values(source: str, raw: Any) -> dict[str, str]:
    """``{"values": {id: value}}``, ``{id: value}`` or ``[{"id", "stringValue"}]``.

    A parameter given several values (a list) is kept only when it has one; ddbpipe's commands
    take one table and one folder.
    """
    if isinstance(raw, dict) and set(raw) == {"values"}:
        raw = raw["values"]
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for item in raw:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str) \
                    or not isinstance(item.get("stringValue"), str):
                raise _invalid(source, "a parameter value is not {\"id\", \"stringValue\"}")
            if item["id"] in out:
                raise _invalid(source, f"parameter {item['id']!r} has several values")
            out[item["id"]] = item["stringValue"]
        return out
    if not isinstance(raw, dict):
        raise _invalid(source, "parameter values are not a JSON object")
    for key, val in raw.items():
        if isinstance(val, list):
            if len(val) != 1:
                raise _invalid(source, f"parameter {key!r} has {len(val)} values; give one")
            val = val[0]
        if not isinstance(val, (str, int, float)) or isinstance(val, bool):
            raise _invalid(source, f"parameter {key!r} has a value that is not a string")
        out[key] = str(val)
    return out


def read_json(path: Path) -> Any:
    """The JSON document in ``path``, or a one-line error naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot read {path}: {getattr(err, 'strerror', None) or err}.",
                          "Give the path of a JSON file.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON: {err.msg} at line {err.lineno} column "
                          f"{err.colno}.", "Give a Data Pipeline definition file.") from None


def parse(source: str, doc: Any, overrides: Sequence[Mapping[str, str]] = ()) -> Definition:
    """The definition in ``doc``; ``overrides`` are later parameter values, last one wins."""
    if not isinstance(doc, dict):
        raise _invalid(source, "the document is not a JSON object")
    raw_objects = doc.get("objects", doc.get("pipelineObjects"))
    if not isinstance(raw_objects, list) or not raw_objects:
        raise _invalid(source, "it has no \"objects\" list")
    objects: dict[str, PipelineObject] = {}
    for raw in raw_objects:
        obj = _object(source, raw)
        if obj.id in objects:
            raise _invalid(source, f"object id {obj.id!r} is given twice")
        objects[obj.id] = obj
    raw_params = doc.get("parameters", doc.get("parameterObjects", []))
    if not isinstance(raw_params, list):
        raise _invalid(source, "\"parameters\" is not a list")
    defaults = {pid: d for pid, d in (_parameter(source, p) for p in raw_params)
                if d is not None}
    values: dict[str, str] = {}
    raw_values = doc.get("values", doc.get("parameterValues"))
    if raw_values is not None:
        values.update(parse_values(source, raw_values))
    for layer in overrides:
        values.update(layer)
    return Definition(source=source, objects=objects, defaults=defaults, values=values)
