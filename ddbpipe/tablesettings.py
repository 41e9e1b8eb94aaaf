"""A table's settings that CreateTable alone does not carry over: recorded by the export (in the
sidecar) and restored by ``ddbpipe import --create-table``.

* time to live -- ``DescribeTimeToLive`` / ``UpdateTimeToLive`` (the attribute, when enabled);
* tags -- ``ListTagsOfResource`` / ``TagResource`` (``aws:`` tags are AWS's own: never restored);
* point-in-time recovery -- ``DescribeContinuousBackups`` / ``UpdateContinuousBackups``;
* stream specification and table class -- in DescribeTable; restored by the CreateTable request
  itself (``layout.table_definition``), then checked in the new table's description.

Reading is tolerant: an endpoint without one of these APIs (dynalite has no PITR and no
UpdateTimeToLive), or a role not allowed to call it, leaves that setting out with a note; the
export does not fail for it. Restoring says, one line each, what could not be restored and how
to set it by hand. Each API's documentation: docs/decisions.md, "Table settings".
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional

from ddbpipe.aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PointInTimeRecoverySpecificationTypeDef

TTL, TAGS, PITR = "timeToLive", "tags", "pointInTimeRecovery"
STREAM, TABLE_CLASS = "streamSpecification", "tableClass"
NAMES = {TTL: "time to live", TAGS: "tags", PITR: "point-in-time recovery",
         STREAM: "stream specification", TABLE_CLASS: "table class"}
#: Errors that mean "this endpoint or this role cannot tell": the setting is left out, noted.
_UNAVAILABLE = {"UnknownOperationException": "the endpoint has no {api} API",
                "AccessDeniedException": "not allowed to call {api} (grant dynamodb:{api})",
                "UnrecognizedClientException": "the endpoint refused {api}",
                "ValidationException": "the endpoint refused {api}"}


def _tolerant(api: str, call: Callable[[], Any], notes: list[str], what: str) -> Any:
    """``call()``, or None with a note when the endpoint or the role cannot answer it."""
    import botocore.exceptions

    try:
        return call()
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        why = _UNAVAILABLE.get(code, code + " from {api}").format(api=api)
        notes.append(f"{what}: not recorded ({why})")
        return None


def read(ddb: DynamoDBClient, description: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The settings ``description``'s table has (DescribeTable's ``Table``), and a note for each
    one that could not be read. Settings a table does not have (TTL disabled, no tags, PITR off,
    no stream) are left out."""
    name = description["TableName"]
    out: dict[str, Any] = {}
    notes: list[str] = []
    ttl = _tolerant("DescribeTimeToLive", lambda: ddb.describe_time_to_live(TableName=name),
                    notes, NAMES[TTL])
    if ttl is not None:
        desc = ttl.get("TimeToLiveDescription") or {}
        if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") and desc.get("AttributeName"):
            out[TTL] = {"attributeName": desc["AttributeName"]}
    arn = description.get("TableArn")
    if arn:
        tags = _tolerant("ListTagsOfResource", lambda: _all_tags(ddb, arn), notes, NAMES[TAGS])
        if tags:
            out[TAGS] = tags
    backups = _tolerant("DescribeContinuousBackups",
                        lambda: ddb.describe_continuous_backups(TableName=name), notes, NAMES[PITR])
    if backups is not None:
        pitr = (backups.get("ContinuousBackupsDescription") or {}).get(
            "PointInTimeRecoveryDescription") or {}
        if pitr.get("PointInTimeRecoveryStatus") in ("ENABLED", "ENABLING"):
            out[PITR] = {"enabled": True}
            if pitr.get("RecoveryPeriodInDays"):
                out[PITR]["recoveryPeriodInDays"] = int(pitr["RecoveryPeriodInDays"])
    stream = description.get("StreamSpecification") or {}
    if stream.get("StreamEnabled"):
        out[STREAM] = dict(stream)
    table_class = (description.get("TableClassSummary") or {}).get("TableClass")
    if table_class:
        out[TABLE_CLASS] = table_class
    return out, notes


def _all_tags(ddb: DynamoDBClient, arn: str) -> list[dict[str, str]]:
    tags: list[dict[str, str]] = []
    kwargs: dict[str, Any] = {"ResourceArn": arn}
    while True:
        page = ddb.list_tags_of_resource(**kwargs)
        tags.extend({"Key": t["Key"], "Value": t["Value"]} for t in page.get("Tags", []))
        if not page.get("NextToken"):
            return tags
        kwargs["NextToken"] = page["NextToken"]


#: Said with a setting once restored.
_RESTORED = {TTL: " (items already past their expiry time will be deleted by DynamoDB, as they "
                  "would have been in the source table)"}


def restore(ddb: DynamoDBClient, description: Mapping[str, Any],
            settings: Mapping[str, Any],
            sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Apply ``settings`` (as :func:`read` recorded them) to the table just created, whose
    DescribeTable is ``description``. Returns one line per setting: restored, or not and why,
    with the command that sets it by hand."""
    import botocore.exceptions

    name = description["TableName"]
    lines: list[str] = []

    def apply(key: str, api: str, call: Callable[[], Any], by_hand: str) -> None:
        try:
            call()
        except botocore.exceptions.ClientError as err:
            code = error_code(err)
            why = _UNAVAILABLE.get(code, code + " from {api}").format(api=api)
            lines.append(f"{name}: could not restore {NAMES[key]} ({why}); set it with "
                         f"`{by_hand}`.")
            return
        lines.append(f"{name}: restored {NAMES[key]}{_RESTORED.get(key, '')}.")

    ttl = settings.get(TTL)
    if ttl:
        attr = ttl["attributeName"]
        apply(TTL, "UpdateTimeToLive", lambda: ddb.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": attr}),
            f"aws dynamodb update-time-to-live --table-name {name} --time-to-live-specification "
            f"Enabled=true,AttributeName={attr}")
    tags = [t for t in settings.get(TAGS) or [] if not t["Key"].startswith("aws:")]
    if len(tags) < len(settings.get(TAGS) or []):
        lines.append(f"{name}: not restoring the tags that start with aws: (AWS sets them).")
    if tags and description.get("TableArn"):
        arn = description["TableArn"]
        apply(TAGS, "TagResource", lambda: ddb.tag_resource(ResourceArn=arn, Tags=tags),
              f"aws dynamodb tag-resource --resource-arn {arn} --tags "
              + " ".join(f"Key={t['Key']},Value={t['Value']}" for t in tags))
    pitr = settings.get(PITR)
    if pitr and pitr.get("enabled"):
        spec: PointInTimeRecoverySpecificationTypeDef = {"PointInTimeRecoveryEnabled": True}
        if pitr.get("recoveryPeriodInDays"):
            spec["RecoveryPeriodInDays"] = pitr["recoveryPeriodInDays"]
        apply(PITR, "UpdateContinuousBackups", lambda: _enable_pitr(ddb, name, spec, sleep),
            f"aws dynamodb update-continuous-backups --table-name {name} "
            "--point-in-time-recovery-specification "
            + ",".join(f"{k}={str(v).lower() if v is True else v}" for k, v in spec.items()))
    lines.extend(_created_with(name, description, settings))
    return lines


#: A table's continuous backups are switched on in the minutes after CreateTable; until then
#: UpdateContinuousBackups answers ContinuousBackupsUnavailableException. Wait this long for it.
PITR_WAIT_SECONDS = 120.0


def _enable_pitr(ddb: DynamoDBClient, name: str, spec: PointInTimeRecoverySpecificationTypeDef,
                 sleep: Callable[[float], None], wait: float = PITR_WAIT_SECONDS) -> None:
    import botocore.exceptions

    waited = 0.0
    while True:
        try:
            ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
            return
        except botocore.exceptions.ClientError as err:
            if error_code(err) != "ContinuousBackupsUnavailableException" or waited >= wait:
                raise
        sleep(5.0)
        waited += 5.0


def _created_with(name: str, description: Mapping[str, Any],
                  settings: Mapping[str, Any]) -> list[str]:
    """Stream and table class went into CreateTable: does the new table have them?"""
    lines = []
    stream = settings.get(STREAM)
    if stream:
        got = description.get("StreamSpecification") or {}
        if got.get("StreamEnabled") and got.get("StreamViewType") == stream.get("StreamViewType"):
            lines.append(f"{name}: restored {NAMES[STREAM]}.")
        else:
            lines.append(f"{name}: could not restore {NAMES[STREAM]} (the endpoint created the "
                         f"table without it); set it with `aws dynamodb update-table --table-name "
                         f"{name} --stream-specification StreamEnabled=true,StreamViewType="
                         f"{stream.get('StreamViewType')}`.")
    table_class = settings.get(TABLE_CLASS)
    if table_class:
        got_class = (description.get("TableClassSummary") or {}).get("TableClass")
        if got_class == table_class:
            lines.append(f"{name}: restored {NAMES[TABLE_CLASS]}.")
        elif got_class is None and table_class == "STANDARD":
            pass  # the default class, which DescribeTable may leave out
        else:
            lines.append(f"{name}: could not confirm {NAMES[TABLE_CLASS]} {table_class} (the "
                         f"endpoint reports {got_class or 'none'}); set it with `aws dynamodb "
                         f"update-table --table-name {name} --table-class {table_class}`.")
    return lines


def recorded(sidecar: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The settings a ddbpipe sidecar recorded (none for older sidecars and other formats)."""
    return dict((sidecar or {}).get("tableSettings") or {})
