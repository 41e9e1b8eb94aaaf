"""The ``#{...}`` expressions of a definition that an export or import pipeline uses.

Understood: a parameter (``#{myDDBTableName}``), a field of the object itself
(``#{directoryPath}``), a field of a referenced object (``#{input.tableName}``,
``#{output.directoryPath}``, chained), and the run's time (``#{@scheduledStartTime}``,
``#{format(@scheduledStartTime, 'YYYY-MM-dd-HH-mm-ss')}``), which becomes :data:`RUN_TIME`: ddbpipe
names each run's folder by its own start time. Anything else is :class:`Unsupported`.
"""

from __future__ import annotations

import re

from ddbpipe.migrate.definition import Definition, PipelineObject, Ref

#: Stands for the run's start time in an evaluated value; ddbpipe writes its own timestamp there.
RUN_TIME = "<run start time>"

_EXPR = re.compile(r"#\{([^}]*)\}")
_TIME = re.compile(r"^(?:format\(\s*)?@(?:scheduledStartTime|actualStartTime)"
                   r"(?:\s*,\s*'[^']*'\s*\))?$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_DEPTH = 10


class Unsupported(Exception):
    """An expression ddbpipe cannot evaluate; the message says which and why."""


def evaluate(definition: Definition, obj: PipelineObject, text: str, _depth: int = 0) -> str:
    """``text`` with every ``#{...}`` replaced, evaluated in the context of ``obj``."""
    if _depth > _DEPTH:
        raise Unsupported(f"expressions nest deeper than {_DEPTH} levels in {text!r}")

    def one(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if _TIME.match(inner):
            return RUN_TIME
        if not _PATH.match(inner):
            raise Unsupported(f"#{{{inner}}} (only parameters, fields and "
                              "format(@scheduledStartTime, ...) are evaluated)")
        return _lookup(definition, obj, inner, _depth)

    return _EXPR.sub(one, text)


def _lookup(definition: Definition, obj: PipelineObject, path: str, depth: int) -> str:
    head, _, rest = path.partition(".")
    if not rest:
        if head in definition.values:
            return definition.values[head]
        if head in definition.defaults:
            return definition.defaults[head]
        if head.startswith("my"):
            raise Unsupported(f"parameter {head} has no value and no default (pass "
                              f"--parameter-value {head}=VALUE)")
    values = definition.get(obj, head)
    if not values:
        raise Unsupported(f"#{{{path}}}: {obj.id} has no field {head!r}")
    value = values[0]
    if isinstance(value, Ref):
        target = definition.objects.get(value.id)
        if target is None:
            raise Unsupported(f"#{{{path}}}: {obj.id}.{head} refers to {value.id!r}, which the "
                              "definition does not have")
        if not rest:
            return target.id
        return _lookup(definition, target, rest, depth + 1)
    if rest:
        raise Unsupported(f"#{{{path}}}: {obj.id}.{head} is not a reference")
    return evaluate(definition, obj, value, depth + 1)
