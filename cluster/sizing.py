"""Table sizing for the core-node count: the capacity each table's step will use.

The arithmetic (one core node per 1,500 units x percent) is pure and lives in
:func:`ddbpipe.cluster.definition.size_core_nodes`; this module reads the tables it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ddbpipe.capacity import capacity_for
from ddbpipe.cluster import definition as d
from ddbpipe.errors import TableNotFound
from ddbpipe.tables import describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def table_capacities(ddb: Optional[DynamoDBClient], job: d.JobSpec,
                     endpoint: Optional[str] = None) -> list[d.TableCapacity]:
    """The capacity each table's step will use, as the job will plan it.

    With ``--read-capacity`` / ``--write-capacity`` no table is read (``ddb`` may be None).
    """
    kind = "read" if job.kind == "export" else "write"
    out = []
    for table in job.tables:
        if job.capacity is not None:  # the job will not look at the table either
            units, source = capacity_for(None, kind, job.capacity)
        elif ddb is None:
            raise ValueError("a DynamoDB client is needed to size from the tables")
        else:
            try:
                units, source = capacity_for(describe(ddb, table, job.region, endpoint), kind)
            except TableNotFound:
                if not job.creates_table:
                    raise
                units, source = capacity_for(None, kind)
                source = f"to be created; {source}"
        out.append(d.TableCapacity(table, units, job.percent, job.unit, source))
    return out
