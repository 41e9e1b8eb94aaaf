"""Build export folders the way other tools wrote them, to import in tests and benchmarks.

Writers here are the tests' own, kept apart from the product's readers: the old Data Pipeline
service (``nULLValue``, plain or gzip, Hive-era STX/ETX lines, absolute-URL manifests) and
DynamoDB's native Export to S3 (DYNAMODB_JSON and ION), full and INCREMENTAL.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from ddbpipe import layout
from ddbpipe.formats import item_to_line
from ddbpipe.s3uri import S3Uri


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)] or [[]]


def hive_line(item: dict[str, Any], null_key: str = "nULLValue") -> str:
    """The Hive-era form: ``name<ETX>{value json}<STX>name<ETX>...`` without braces."""
    parts = []
    for name, value in item.items():
        one = json.loads(item_to_line({name: value}, null_key=null_key))
        parts.append(name + "\x03" + json.dumps(one[name], separators=(",", ":"),
                                                ensure_ascii=False))
    return "\x02".join(parts)


def write_datapipeline(s3: Any, folder: S3Uri, items: Sequence[dict[str, Any]], *,
                       per_file: int = 100, null_key: str = "nULLValue", compress: bool = False,
                       hive: bool = False, manifest: bool = True,
                       manifest_folder: Optional[S3Uri] = None,
                       blank_lines: bool = False) -> list[str]:
    """A folder as the old service wrote it; returns the data file URLs.

    ``manifest_folder`` writes manifest URLs pointing at another place (a copied export)."""
    urls = []
    for part in chunks(items, per_file):
        name = str(uuid.uuid4()) + (".gz" if compress else "")
        lines = [hive_line(i, null_key) if hive else item_to_line(i, null_key=null_key)
                 for i in part]
        if blank_lines:
            lines.insert(len(lines) // 2, "")
        body = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
        if compress:
            body = gzip.compress(body)
        s3.put_object(Bucket=folder.bucket, Key=folder.join(name).key, Body=body)
        urls.append(str((manifest_folder or folder).join(name)))
    if manifest:
        s3.put_object(Bucket=folder.bucket, Key=folder.join(layout.MANIFEST).key,
                      Body=layout.manifest_bytes(urls))
    s3.put_object(Bucket=folder.bucket, Key=folder.join(layout.SUCCESS).key, Body=b"")
    return [str(folder.join(S3Uri.parse(u).name)) for u in urls]


# --- DynamoDB native Export to S3 -------------------------------------------------------------

def _native_value(av: dict[str, Any]) -> dict[str, Any]:
    ((t, v),) = av.items()
    if t == "B":
        return {"B": base64.b64encode(v).decode()}
    if t == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in v]}
    if t == "M":
        return {"M": {k: _native_value(x) for k, x in v.items()}}
    if t == "L":
        return {"L": [_native_value(x) for x in v]}
    return {t: v}


def native_json_line(item: dict[str, Any]) -> str:
    return json.dumps({"Item": {k: _native_value(v) for k, v in item.items()}},
                      ensure_ascii=False, separators=(",", ":"))


def _ion_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=True)  # JSON escapes are valid Ion string escapes


def _ion_number(n: str) -> str:
    text = n.strip()
    if "e" in text or "E" in text:
        mant, exp = text.replace("E", "e").split("e")
        if "." not in mant:
            mant += "."
        return f"{mant}d{int(exp)}"
    return text if "." in text else text + "."


def _ion_value(av: dict[str, Any]) -> str:
    ((t, v),) = av.items()
    if t == "S":
        return _ion_string(v)
    if t == "N":
        return _ion_number(v)
    if t == "B":
        return "{{" + base64.b64encode(v).decode() + "}}"
    if t == "BOOL":
        return "true" if v else "false"
    if t == "NULL":
        return "null"
    if t == "SS":
        return "$dynamodb_SS::[" + ",".join(_ion_string(s) for s in v) + "]"
    if t == "NS":
        return "$dynamodb_NS::[" + ",".join(_ion_number(s) for s in v) + "]"
    if t == "BS":
        return "$dynamodb_BS::[" + ",".join("{{" + base64.b64encode(b).decode() + "}}"
                                          for b in v) + "]"
    if t == "M":
        return "{" + ",".join(f"{_ion_string(k)}:{_ion_value(x)}" for k, x in v.items()) + "}"
    if t == "L":
        return "[" + ",".join(_ion_value(x) for x in v) + "]"
    raise ValueError(t)


def native_ion_line(item: dict[str, Any]) -> str:
    return "$ion_1_0 {Item:{" + ",".join(f"{_ion_string(k)}:{_ion_value(v)}"
                                          for k, v in item.items()) + "}}"


def _native_attributes(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _native_value(v) for k, v in item.items()}


def _ion_struct(item: dict[str, Any]) -> str:
    return "{" + ",".join(f"{_ion_string(k)}:{_ion_value(v)}" for k, v in item.items()) + "}"


@dataclass(frozen=True)
class Change:
    """One record of an incremental export: the item's key, its image after the window (None:
    deleted) and before it (None: it did not exist)."""

    keys: dict[str, Any]
    new: Optional[dict[str, Any]]
    old: Optional[dict[str, Any]] = None
    micros: int = 1_767_225_600_000_000


def incremental_json_line(change: Change, view: str) -> str:
    """As DynamoDB writes it (S3DataExport.Output, incremental export output): Metadata, Keys,
    OldImage (NEW_AND_OLD_IMAGES, when the item existed before), NewImage (absent: deleted)."""
    record: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(change.micros)}},
                              "Keys": _native_attributes(change.keys)}
    if view == "NEW_AND_OLD_IMAGES" and change.old is not None:
        record["OldImage"] = _native_attributes(change.old)
    if change.new is not None:
        record["NewImage"] = _native_attributes(change.new)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def incremental_ion_line(change: Change, view: str) -> str:
    fields = [f"Metadata:{{WriteTimestampMicros:{change.micros}.}}",
              f"Keys:{_ion_struct(change.keys)}"]
    if view == "NEW_AND_OLD_IMAGES" and change.old is not None:
        fields.append(f"OldImage:{_ion_struct(change.old)}")
    if change.new is not None:
        fields.append(f"NewImage:{_ion_struct(change.new)}")
    return "$ion_1_0 {" + ",".join(fields) + "}"


def write_incremental(s3: Any, prefix: S3Uri, changes: Sequence[Change], *, start: str,
                      end: str, view: str = "NEW_AND_OLD_IMAGES", fmt: str = "DYNAMODB_JSON",
                      per_file: int = 100,
                      table_arn: str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Src"
                      ) -> S3Uri:
    """An INCREMENTAL export under ``prefix``: its manifests in ``AWSDynamoDB/<id>/``, its data
    files in the ``AWSDynamoDB/data/`` folder every incremental export of the prefix shares;
    returns ``AWSDynamoDB/<id>/``."""
    lines = [incremental_ion_line(c, view) if fmt == "ION" else incremental_json_line(c, view)
             for c in changes]
    summary = {"exportType": "INCREMENTAL_EXPORT", "outputView": view,
               "exportFromTime": start, "exportToTime": end}
    return _write_native_export(s3, prefix, lines, fmt, per_file, table_arn, None, summary,
                                prefix.join("AWSDynamoDB", "data"))


def write_native(s3: Any, prefix: S3Uri, items: Sequence[dict[str, Any]], *,
                 fmt: str = "DYNAMODB_JSON", per_file: int = 100,
                 table_arn: str = "arn:aws:dynamodb:eu-west-1:123456789012:table/Src",
                 export_bucket: Optional[str] = None,
                 export_time: str = "2026-01-01T00:00:00Z") -> S3Uri:
    """``prefix/AWSDynamoDB/<id>/`` as DynamoDB's Export to S3 writes it; returns that folder."""
    encode = native_ion_line if fmt == "ION" else native_json_line
    return _write_native_export(s3, prefix, [encode(i) for i in items], fmt, per_file,
                                table_arn, export_bucket,
                                {"exportTime": export_time}, None)


def _write_native_export(s3: Any, prefix: S3Uri, lines: Sequence[str], fmt: str, per_file: int,
                         table_arn: str, export_bucket: Optional[str], kind: dict[str, Any],
                         data: Optional[S3Uri]) -> S3Uri:
    export_id = f"{uuid.uuid4().int % 10**13:013d}-{uuid.uuid4().hex[:8]}"
    base = prefix.join("AWSDynamoDB", export_id)
    data = data or base.join("data")
    entries = []
    ext = ".ion.gz" if fmt == "ION" else ".json.gz"
    for part in chunks(lines, per_file):
        name = uuid.uuid4().hex[:26] + ext
        body = gzip.compress(("\n".join(part) + "\n").encode("utf-8"))
        key = data.join(name).key
        s3.put_object(Bucket=base.bucket, Key=key, Body=body)
        entries.append({"itemCount": len(part), "md5Checksum": base64.b64encode(
            hashlib.md5(body).digest()).decode(), "etag": hashlib.md5(body).hexdigest(),
            "dataFileS3Key": key})
    files_key = base.join("manifest-files.json").key
    s3.put_object(Bucket=base.bucket, Key=files_key,
                  Body="\n".join(json.dumps(e) for e in entries).encode() + b"\n")
    summary = {"version": "2020-06-30", "exportArn": f"{table_arn}/export/{export_id}",
               "startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-01T00:05:00Z",
               "tableArn": table_arn, "tableId": "x",
               "s3Bucket": export_bucket or base.bucket, "s3Prefix": prefix.key or None,
               "s3SseAlgorithm": "AES256", "manifestFilesS3Key": files_key,
               "billedSizeBytes": 1, "itemCount": len(lines), "outputFormat": fmt, **kind}
    s3.put_object(Bucket=base.bucket, Key=base.join("manifest-summary.json").key,
                  Body=json.dumps(summary).encode())
    for marker in ("_started", "manifest-summary.md5", "manifest-files.md5"):
        s3.put_object(Bucket=base.bucket, Key=base.join(marker).key, Body=b"x")
    return base


def copy_folder(s3: Any, src: S3Uri, dst: S3Uri) -> None:
    """Copy every object of ``src`` to ``dst`` (as `aws s3 cp --recursive` would)."""
    listing: Iterable[dict[str, Any]] = s3.list_objects_v2(Bucket=src.bucket,
                                                           Prefix=src.prefix).get("Contents", [])
    for obj in listing:
        rel = obj["Key"][len(src.prefix):]
        s3.copy_object(Bucket=dst.bucket, Key=dst.join(rel).key,
                       CopySource={"Bucket": src.bucket, "Key": obj["Key"]})
