"""Data Pipeline definitions for the migrate tests: the fixtures in tests/unit/data/datapipeline
(file form, as `aws datapipeline get-pipeline-definition` prints them) and their API form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "unit" / "data" / "datapipeline"


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


def api_form(doc: dict[str, Any]) -> dict[str, Any]:
    """The same definition as PutPipelineDefinition/GetPipelineDefinition spell it."""
    objects = []
    for obj in doc["objects"]:
        fields = []
        for key, val in obj.items():
            if key in ("id", "name"):
                continue
            for v in val if isinstance(val, list) else [val]:
                fields.append({"key": key, "refValue": v["ref"]} if isinstance(v, dict)
                              else {"key": key, "stringValue": v})
        objects.append({"id": obj["id"], "name": obj.get("name", obj["id"]), "fields": fields})
    params = [{"id": p["id"], "attributes": [{"key": k, "stringValue": v}
                                             for k, v in p.items() if k != "id"]}
              for p in doc.get("parameters", [])]
    values = [{"id": k, "stringValue": v} for k, v in doc.get("values", {}).items()]
    return {"pipelineObjects": objects, "parameterObjects": params, "parameterValues": values}
