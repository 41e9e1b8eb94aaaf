"""Where an export run writes, and the bytes of its manifest and sidecar.

A run folder holds UUID-named data files, ``manifest`` (the Data Pipeline format, version 3,
byte-exact), ``ddbpipe-export.json`` (our sidecar, ignored by the old import flow) and
``_SUCCESS``, written last. While a run is in progress the folder also holds
``_ddbpipe-in-progress``; a folder without ``_SUCCESS`` is never taken for a finished export.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Optional

from ddbpipe.s3uri import S3Uri

MANIFEST = "manifest"
SUCCESS = "_SUCCESS"
SIDECAR = "ddbpipe-export.json"
IN_PROGRESS = "_ddbpipe-in-progress"
#: What an unfinished run keeps to be resumed (ddbpipe/export/state.py); deleted once committed.
STATE_DIR = "_ddbpipe-state"
SIDECAR_FORMAT = 1
#: A new data file every this many items, as the old service did.
ITEMS_PER_FILE = 100_000
TIMESTAMP_FORMAT = "%Y-%m-%d-%H-%M-%S"


def run_timestamp(now: Optional[datetime] = None) -> str:
    """The run's sub-folder name, ``YYYY-MM-DD-HH-mm-ss`` in UTC, taken when the run starts."""
    now = now or datetime.now(timezone.utc)
    return now.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def table_folder(dest: S3Uri, region: str, table: str) -> S3Uri:
    """``s3://BUCKET/REGION/TABLE`` for a bare bucket, ``s3://BUCKET/PREFIX/TABLE`` else: the
    folder of a table's runs, and the narrowest prefix a least-privilege policy grants."""
    return dest.join(table) if dest.key else dest.join(region, table)


def run_folder(dest: S3Uri, region: str, table: str, timestamp: str) -> S3Uri:
    """``s3://BUCKET/REGION/TABLE/TS`` for a bare bucket, ``s3://BUCKET/PREFIX/TABLE/TS`` else."""
    return table_folder(dest, region, table).join(timestamp)


def manifest_bytes(urls: Iterable[str]) -> bytes:
    """The manifest exactly as the Data Pipeline export wrote it (absolute URLs, in order)."""
    entries = ",\n".join(
        '{"url":' + json.dumps(url) + ',"mandatory":true}' for url in urls
    )
    text = '{"name":"DynamoDB-export","version":3,\n"entries": [\n' + entries + "\n]}"
    return text.encode("utf-8")


def parse_manifest(data: bytes) -> list[str]:
    """The entry URLs of a manifest (any whitespace; mandatory or not)."""
    doc = json.loads(data.decode("utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("entries"), list):
        raise ValueError("a manifest is a JSON object with an 'entries' list")
    urls = []
    for entry in doc["entries"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise ValueError("every manifest entry needs a 'url' string")
        urls.append(entry["url"])
    return urls


_INDEX_KEEP = (
    "IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput",
)
_THROUGHPUT_KEEP = ("ReadCapacityUnits", "WriteCapacityUnits")


def _clean_index(index: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: index[k] for k in _INDEX_KEEP if k in index}
    if "ProvisionedThroughput" in out:
        out["ProvisionedThroughput"] = {
            k: v for k, v in out["ProvisionedThroughput"].items() if k in _THROUGHPUT_KEEP
        }
    return out


def table_definition(description: Mapping[str, Any]) -> dict[str, Any]:
    """What it takes to create the table again, from a DescribeTable ``Table``."""
    billing = (description.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    out: dict[str, Any] = {
        "TableName": description["TableName"],
        "KeySchema": description["KeySchema"],
        "AttributeDefinitions": description["AttributeDefinitions"],
        "BillingMode": billing,
    }
    throughput = description.get("ProvisionedThroughput") or {}
    out["ProvisionedThroughput"] = {k: throughput[k] for k in _THROUGHPUT_KEEP if k in throughput}
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if description.get(kind):
            out[kind] = [_clean_index(i) for i in description[kind]]
    if description.get("StreamSpecification"):
        out["StreamSpecification"] = description["StreamSpecification"]
    if description.get("TableClassSummary", {}).get("TableClass"):
        out["TableClass"] = description["TableClassSummary"]["TableClass"]
    return out


def sidecar_bytes(fields: Mapping[str, Any]) -> bytes:
    doc = {"tool": "ddbpipe", "format": SIDECAR_FORMAT, **fields}
    return (json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8")
