"""The target table: its key schema against the export's, and ``--create-table`` from the
export's sidecar (only after validation, see :mod:`ddbpipe.importer.driver`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Optional

from ddbpipe import tablesettings
from ddbpipe.errors import KeySchemaMismatch, TableNotFound
from ddbpipe.importer.options import ImportConfig
from ddbpipe.importer.sources import Source
from ddbpipe.tables import TableInfo, describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def key_schema_of(info: TableInfo) -> list[tuple[str, str, str]]:
    return [(name, role, dict(info.key_types)[name]) for name, role in info.key_schema]


def source_key_schema(source: Source) -> Optional[list[tuple[str, str, str]]]:
    if not source.key_schema or not source.attribute_definitions:
        return None
    types = {a["AttributeName"]: a["AttributeType"] for a in source.attribute_definitions}
    return [(k["AttributeName"], k["KeyType"], types.get(k["AttributeName"], "?"))
            for k in source.key_schema]


def describe_keys(keys: Iterable[tuple[str, str, str]]) -> str:
    return ", ".join(f"{n} ({t}, {r})" for n, r, t in keys)


def check_keys(info: TableInfo, source: Source) -> None:
    want = source_key_schema(source)
    have = key_schema_of(info)
    if want is not None and sorted(want) != sorted(have):
        raise KeySchemaMismatch(
            f"Table {info.name!r} in {info.region} has key {describe_keys(have)} but the "
            f"export's table had {describe_keys(want)}.",
            "Import into a table with the same key schema (names, types, HASH/RANGE); nothing "
            "was written.")


def create_request(cfg: ImportConfig, source: Source) -> dict[str, Any]:
    """The CreateTable request for ``--create-table``, from the export's sidecar."""
    definition = (source.sidecar or {}).get("tableDefinition")
    if not definition:
        raise TableNotFound(
            f"Table {cfg.table!r} does not exist in {cfg.aws.region} and {source.folder}/ has no "
            "ddbpipe sidecar to create it from.",
            "Create the table first (same key schema as the export's).")
    args = dict(definition)
    args["TableName"] = cfg.table
    on_demand = args.get("BillingMode") == "PAY_PER_REQUEST"
    if on_demand:
        args.pop("ProvisionedThroughput", None)
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        for index in args.get(kind, []):
            if on_demand or kind == "LocalSecondaryIndexes":
                index.pop("ProvisionedThroughput", None)
            index.pop("OnDemandThroughput", None)
    return args


def create_table(ddb: DynamoDBClient, cfg: ImportConfig, source: Source) -> TableInfo:
    """Create the table (its stream and class with it), wait until it is ACTIVE, then restore
    the TTL, tags and PITR the export recorded; prints one line per setting."""
    ddb.create_table(**create_request(cfg, source))
    ddb.get_waiter("table_exists").wait(TableName=cfg.table,
                                        WaiterConfig={"Delay": 1, "MaxAttempts": 600})
    print(f"Created table {cfg.table} in {cfg.aws.region} from the export's definition.",
          flush=True)
    info = describe(ddb, cfg.table, cfg.aws.region, cfg.aws.endpoint("dynamodb"))
    for line in tablesettings.restore(ddb, info.description,
                                      tablesettings.recorded(source.sidecar)):
        print(line, flush=True)
    return info

