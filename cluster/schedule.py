"""Scheduled runs with no server of ours: EventBridge Scheduler calls EMR RunJobFlow itself.

The schedule's target is the scheduler's universal target for the EMR API
(``arn:<partition>:scheduler:::aws-sdk:emr:runJobFlow``, the partition from the region); its
Input is the RunJobFlow request that ``ddbpipe emr`` would send, with an auto-terminating
cluster. A launch that still fails after the RetryPolicy goes to the schedule's SQS dead-letter
queue (:mod:`ddbpipe.cluster.deadletter`). The job's step arguments carry no
timestamp: the export job takes it when the run starts, so each run writes its own folder.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Optional

from ddbpipe.aws import error_code
from ddbpipe.cluster.iam import SCHEDULE_GROUP, partition
from ddbpipe.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_scheduler import EventBridgeSchedulerClient

#: The universal target after ``arn:<partition>``: EMR's RunJobFlow, called by the scheduler.
RUN_JOB_FLOW_ACTION = ":scheduler:::aws-sdk:emr:runJobFlow"
#: A RunJobFlow that failed is retried a little, not for the scheduler's default 24 hours:
#: RunJobFlow has no idempotency token, so a retry of a call that did go through would start a
#: second cluster.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2}
#: CreateSchedule's bounds: MaximumRetryAttempts 0-185; a StartDate no earlier than 5 minutes ago.
MAX_RETRIES = 185
START_DATE_SLACK = timedelta(minutes=5)
_DATE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)Z?$")



def run_job_flow_target(region: str) -> str:
    """``arn:aws:...`` in commercial regions, ``arn:aws-cn:`` in China, ``arn:aws-us-gov:``."""
    return f"arn:{partition(region)}{RUN_JOB_FLOW_ACTION}"


def is_run_job_flow_target(arn: str) -> bool:
    return bool(re.match(r"^arn:aws(-[a-z]+)*" + re.escape(RUN_JOB_FLOW_ACTION) + "$", arn))


_NAME = re.compile(r"^[0-9A-Za-z_.\-]{1,64}$")
_CRON_FIELDS = 6


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"Schedule name {name!r} is not valid.",
                          "Use 1-64 letters, digits, '-', '_' or '.'.")
    return name


def check_expression(expression: str) -> str:
    """``cron(m h dom mon dow year)``, ``rate(N unit)`` or ``at(yyyy-mm-ddThh:mm:ss)``."""
    text = expression.strip()
    m = re.match(r"^(cron|rate|at)\((.*)\)$", text)
    ok = bool(m)
    if m and m.group(1) == "cron":
        fields = m.group(2).split()
        ok = len(fields) == _CRON_FIELDS and "?" in (fields[2], fields[4])
    elif m and m.group(1) == "rate":
        ok = bool(re.match(r"^[1-9]\d* (minute|minutes|hour|hours|day|days)$", m.group(2)))
    elif m:
        ok = bool(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", m.group(2)))
    if not ok:
        raise ConfigError(
            f"--cron {expression!r} is not an EventBridge Scheduler expression.",
            'Write cron(MIN HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR) with "?" in one of the two '
            'day fields, e.g. "cron(0 3 * * ? *)" for 03:00 every day; or rate(1 day).',
        )
    return text


def parse_date(text: str, flag: str) -> datetime:
    """``YYYY-MM-DDTHH:MM:SS`` (UTC, an optional ``Z``) as an aware datetime."""
    m = _DATE.match(text.strip())
    try:
        if m is None:
            raise ValueError(text)
        return datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a UTC date-time.",
                          "Write it like 2027-01-31T03:00:00 (UTC).") from None


def check_dates(start: Optional[str], end: Optional[str],
                now: Optional[datetime] = None) -> tuple[Optional[str], Optional[str]]:
    """``--start-date``/``--end-date`` as CreateSchedule takes them (ISO 8601, UTC), refused
    here when the service would refuse them: a start more than 5 minutes past, an end that is
    past or not after the start."""
    now = now or datetime.now(timezone.utc)
    begin = parse_date(start, "--start-date") if start else None
    finish = parse_date(end, "--end-date") if end else None
    if begin is not None and begin < now - START_DATE_SLACK:
        raise ConfigError(f"--start-date {start} is in the past; EventBridge Scheduler takes no "
                          "start date more than 5 minutes ago.",
                          "Leave --start-date out (the schedule starts when it is created) or "
                          "give a later one.")
    if finish is not None and finish <= max(now, begin or now):
        raise ConfigError(f"--end-date {end} is not after the "
                          f"{'start date' if begin and begin > now else 'present time'}.",
                          "Give a later --end-date, or leave it out.")
    return (None if begin is None else begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
            None if finish is None else finish.strftime("%Y-%m-%dT%H:%M:%SZ"))


def check_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise ConfigError(f"--retries {retries} is out of range.",
                          f"Give 0 to {MAX_RETRIES} (EventBridge Scheduler's "
                          "MaximumRetryAttempts).")
    return retries


def create_schedule_request(
    *,
    name: str,
    expression: str,
    role_arn: str,
    run_job_flow: dict[str, Any],
    region: str,
    dlq_arn: Optional[str] = None,
    group: str = SCHEDULE_GROUP,
    timezone: Optional[str] = None,
    description: str = "",
    enabled: bool = True,
    start_date: Optional[str] = None,
    end_date: Optional[str] = None,
    retries: int = RETRY_POLICY["MaximumRetryAttempts"],
) -> dict[str, Any]:
    """The CreateSchedule request whose target starts the cluster of ``run_job_flow``; dates as
    :func:`check_dates` returns them."""
    request: dict[str, Any] = {
        "Name": check_name(name),
        "GroupName": group,
        "ScheduleExpression": check_expression(expression),
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED" if enabled else "DISABLED",
        "Target": {
            "Arn": run_job_flow_target(region),
            "RoleArn": role_arn,
            "Input": json.dumps(run_job_flow, sort_keys=True),
            "RetryPolicy": {**RETRY_POLICY, "MaximumRetryAttempts": check_retries(retries)},
        },
    }
    if start_date:
        request["StartDate"] = start_date
    if end_date:
        request["EndDate"] = end_date
    if dlq_arn:
        request["Target"]["DeadLetterConfig"] = {"Arn": dlq_arn}
    if timezone:
        request["ScheduleExpressionTimezone"] = timezone
    if description:
        request["Description"] = description[:512]
    return request


def ensure_group(scheduler: EventBridgeSchedulerClient, group: str = SCHEDULE_GROUP) -> None:
    import botocore.exceptions

    if group == "default":
        return
    try:
        scheduler.get_schedule_group(Name=group)
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "ResourceNotFoundException":
            raise
        try:
            scheduler.create_schedule_group(Name=group,
                                            Tags=[{"Key": "created-by", "Value": "ddbpipe"}])
        except botocore.exceptions.ClientError as again:
            if error_code(again) != "ConflictException":
                raise


def check_absent(scheduler: EventBridgeSchedulerClient, name: str,
                 group: str = SCHEDULE_GROUP) -> None:
    """Refuse a name already taken before anything is uploaded or created for it."""
    import botocore.exceptions

    try:
        scheduler.get_schedule(Name=check_name(name), GroupName=group)
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return
        raise
    raise ConfigError(f"A schedule named {name!r} already exists.",
                      f"Delete it first (`ddbpipe schedule delete --name {name}`) or choose "
                      "another --name.")


def create(scheduler: EventBridgeSchedulerClient, request: dict[str, Any]) -> str:
    import botocore.exceptions

    ensure_group(scheduler, request.get("GroupName", "default"))
    try:
        return str(scheduler.create_schedule(**request)["ScheduleArn"])
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "ConflictException":
            raise ConfigError(f"A schedule named {request['Name']!r} already exists.",
                              f"Delete it first (`ddbpipe schedule delete --name "
                              f"{request['Name']}`) or choose another --name.") from err
        raise


def list_schedules(scheduler: EventBridgeSchedulerClient,
                   group: str = SCHEDULE_GROUP) -> list[dict[str, Any]]:
    """Name, state, expression and the cluster each schedule of ``group`` starts."""
    import botocore.exceptions

    rows = []
    try:
        pages = scheduler.get_paginator("list_schedules").paginate(GroupName=group)
        summaries = [s for page in pages for s in page.get("Schedules", [])]
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            return []
        raise
    for summary in sorted(summaries, key=lambda s: s["Name"]):
        full = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        target = full.get("Target", {})
        cluster = ""
        if is_run_job_flow_target(target.get("Arn", "")):
            try:
                cluster = json.loads(target.get("Input") or "{}").get("Name", "")
            except ValueError:
                cluster = "(input is not JSON)"
        rows.append({
            "Name": summary["Name"],
            "State": full.get("State", summary.get("State", "")),
            "ScheduleExpression": full.get("ScheduleExpression", ""),
            "Timezone": full.get("ScheduleExpressionTimezone") or "UTC",
            "Cluster": cluster,
        })
    return rows


def delete(scheduler: EventBridgeSchedulerClient, name: str, group: str = SCHEDULE_GROUP) -> None:
    import botocore.exceptions

    try:
        scheduler.delete_schedule(Name=check_name(name), GroupName=group)
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise ConfigError(f"No schedule named {name!r} in group {group!r}.",
                              "See `ddbpipe schedule list`.") from err
        raise


def staged_prefix(scheduler: EventBridgeSchedulerClient, name: str,
                  group: str = SCHEDULE_GROUP) -> Optional[str]:
    """The S3 folder holding a schedule's wheel, bootstrap and job (from its RunJobFlow input)."""
    import botocore.exceptions

    try:
        full = scheduler.get_schedule(Name=check_name(name), GroupName=group)
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "ResourceNotFoundException":
            raise ConfigError(f"No schedule named {name!r} in group {group!r}.",
                              "See `ddbpipe schedule list`.") from err
        raise
    try:
        request = json.loads(full.get("Target", {}).get("Input") or "{}")
        path = str(request["BootstrapActions"][0]["ScriptBootstrapAction"]["Path"])
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    marker = "/bootstrap/"
    return path[: path.rindex(marker)] if marker in path else None
