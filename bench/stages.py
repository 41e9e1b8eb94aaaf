"""Per-item CPU cost of each stage of the Python task paths, timed without a profiler.

cProfile inflates function-call-heavy code several times over, so the shares it shows are
distorted; these timings run each stage alone, single-threaded, over the lines of one real export
data file, and give microseconds per item. The last stages time what a leaner path would do: turn
an export line straight into DynamoDB's wire JSON (rename the type keys) and send it signed,
without building boto3 values, validating and serializing them again.
"""

from __future__ import annotations

import json
import time
from typing import Any, Callable

from bench.results import (
    STAGE_ITEM_SIZE,
    STAGE_ITEMS,
    STAGE_KEY_OF,
    STAGE_LEAN_DUMPS,
    STAGE_LEAN_WIRE,
    STAGE_LINE_TO_ITEM,
    STAGE_SERIALIZE,
    STAGE_SIGN,
    STAGE_SPLIT,
    STAGE_VALIDATE,
)
from ddbpipe import formats
from ddbpipe.aws import AwsConfig, client, session

WIRE_TYPES = {"s": "S", "n": "N", "b": "B", "sS": "SS", "nS": "NS", "bS": "BS", "m": "M",
              "l": "L", "bOOL": "BOOL", "nULL": "NULL", "nULLValue": "NULL"}


def _wire_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    wire = WIRE_TYPES[kind]
    if wire == "M":
        return {"M": {k: _wire_value(v) for k, v in inner.items()}}
    if wire == "L":
        return {"L": [_wire_value(v) for v in inner]}
    return {wire: inner}


def line_to_wire(line: bytes) -> dict[str, Any]:
    """An export line (Data Pipeline JSON) as a DynamoDB wire-format item, binary left as the
    base64 text it already is."""
    return {k: _wire_value(v) for k, v in json.loads(line).items()}


def _per_item(fn: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) / count * 1e6


def measure(data: bytes, aws: AwsConfig, table: str = "t") -> dict[str, float]:
    """Microseconds per item of each stage over the lines of ``data``."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.serialize import create_serializer
    from botocore.validate import validate_parameters

    lines = [x for x in data.split(b"\n") if x.strip()]
    n = len(lines)
    texts = [x.decode("utf-8") for x in lines]
    out: dict[str, float] = {STAGE_ITEMS: float(n)}
    out[STAGE_SPLIT] = _per_item(lambda: [x for x in data.split(b"\n") if x.strip()], n)
    items: list[dict[str, Any]] = []
    out[STAGE_LINE_TO_ITEM] = _per_item(
        lambda: items.extend(formats.line_to_item(t) for t in texts), n)
    out[STAGE_ITEM_SIZE] = _per_item(lambda: [formats.item_size(i) for i in items], n)
    out[STAGE_KEY_OF] = _per_item(lambda: [formats.key_of(i, ("pk",)) for i in items], n)
    ddb = client(aws, "dynamodb")
    model = ddb.meta.service_model.operation_model("BatchWriteItem")
    batches = [{"RequestItems": {table: [{"PutRequest": {"Item": i}} for i in items[k:k + 25]]},
                "ReturnConsumedCapacity": "TOTAL"} for k in range(0, n, 25)]

    shape = model.input_shape
    assert shape is not None  # BatchWriteItem has an input

    def validate() -> None:
        for b in batches:
            validate_parameters(b, shape)

    out[STAGE_VALIDATE] = _per_item(validate, n)
    serializer = create_serializer(model.metadata["protocol"], include_validation=False)
    requests: list[Any] = []
    out[STAGE_SERIALIZE] = _per_item(
        lambda: requests.extend(serializer.serialize_to_request(b, model) for b in batches), n)
    creds = session(aws).get_credentials()
    if creds is None:
        raise ValueError("no AWS credentials (set AWS_ACCESS_KEY_ID for the local servers)")
    signer = SigV4Auth(creds.get_frozen_credentials(), "dynamodb", aws.region)
    bodies = [r["body"] for r in requests]

    def sign() -> None:
        for body in bodies:
            req = AWSRequest("POST", "http://127.0.0.1:1/", data=body,
                             headers={"X-Amz-Target": "DynamoDB_20120810.BatchWriteItem"})
            signer.add_auth(req)

    out[STAGE_SIGN] = _per_item(sign, n)
    wire: list[dict[str, Any]] = []
    out[STAGE_LEAN_WIRE] = _per_item(
        lambda: wire.extend(line_to_wire(x) for x in lines), n)
    out[STAGE_LEAN_DUMPS] = _per_item(
        lambda: [json.dumps({"RequestItems": {table: [{"PutRequest": {"Item": i}}
                                                       for i in wire[k:k + 25]]}})
                 for k in range(0, n, 25)], n)
    return out
