"""What ddbpipe needs to know about a DynamoDB table, read once with DescribeTable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping, Optional

from ddbpipe.aws import error_code
from ddbpipe.errors import EndpointUnreachable, PermissionDenied, TableNotFound

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ON_DEMAND = "PAY_PER_REQUEST"
PROVISIONED = "PROVISIONED"


@dataclass(frozen=True)
class TableInfo:
    name: str
    region: str
    billing_mode: str
    read_capacity: int
    write_capacity: int
    size_bytes: int
    item_count: int
    key_schema: tuple[tuple[str, str], ...]  # ((name, HASH|RANGE), ...)
    key_types: tuple[tuple[str, str], ...]  # ((name, S|N|B), ...) for the key attributes
    description: Mapping[str, Any]

    @property
    def on_demand(self) -> bool:
        return self.billing_mode == ON_DEMAND

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.key_schema)

    @property
    def average_item_size(self) -> float:
        return self.size_bytes / self.item_count if self.item_count else 0.0

    @classmethod
    def from_description(cls, table: Mapping[str, Any], region: str) -> TableInfo:
        billing = (table.get("BillingModeSummary") or {}).get("BillingMode") or PROVISIONED
        throughput = table.get("ProvisionedThroughput") or {}
        types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
        schema = tuple((k["AttributeName"], k["KeyType"]) for k in table["KeySchema"])
        return cls(
            name=table["TableName"],
            region=region,
            billing_mode=billing,
            read_capacity=int(throughput.get("ReadCapacityUnits") or 0),
            write_capacity=int(throughput.get("WriteCapacityUnits") or 0),
            size_bytes=int(table.get("TableSizeBytes") or 0),
            item_count=int(table.get("ItemCount") or 0),
            key_schema=schema,
            key_types=tuple((name, types[name]) for name, _ in schema),
            description=table,
        )


def describe(ddb: DynamoDBClient, name: str, region: str,
             endpoint: Optional[str] = None) -> TableInfo:
    """DescribeTable, turning the usual failures into errors that say what to do."""
    import botocore.exceptions

    try:
        table = ddb.describe_table(TableName=name)["Table"]
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        where = f"in {region}" + (f" at {endpoint}" if endpoint else "")
        if code == "ResourceNotFoundException":
            raise TableNotFound(
                f"Table {name!r} does not exist {where}.",
                "Check the name and --region (table names are case-sensitive).",
            ) from err
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise PermissionDenied(
                f"Not allowed to describe table {name!r} {where} ({code}).",
                "Grant dynamodb:DescribeTable on it (see `ddbpipe iam policy`).",
            ) from err
        raise
    except botocore.exceptions.EndpointConnectionError as err:
        raise EndpointUnreachable(
            f"Cannot reach DynamoDB at {endpoint or 'its AWS endpoint'} ({err}).",
            "Start the local stack or fix --endpoint-url / AWS_ENDPOINT_URL_DYNAMODB.",
        ) from err
    return TableInfo.from_description(table, region)
