"""The text ``ddbpipe migrate`` prints for one pipeline."""

from __future__ import annotations

import shlex
from typing import TextIO

from ddbpipe.migrate.mapping import Migration, Row


def command(migration: Migration) -> str:
    return "ddbpipe " + shlex.join(migration.argv)


def _table(rows: list[Row], last: str, out: TextIO) -> None:
    header = Row("field", "value", last)
    w1 = max(len(r.field) for r in [header, *rows])
    w2 = min(max(len(r.value) for r in [header, *rows]), 60)
    for r in [header, *rows]:
        print(f"  {r.field:<{w1}}  {r.value:<{w2}}  {r.where}", file=out)


def render(migration: Migration, out: TextIO) -> None:
    if not migration.migrated:
        print(f"# {migration.source}: not migratable: {'; '.join(migration.problems)}", file=out)
        return
    what = "one-off" if migration.run_once else "scheduled"
    print(f"# {migration.source}: migrated ({what} {migration.kind})", file=out)
    print(command(migration), file=out)
    print("mapped:", file=out)
    _table(migration.mapped, "went to", out)
    if migration.dropped:
        print("not carried over:", file=out)
        _table(migration.dropped, "why", out)
