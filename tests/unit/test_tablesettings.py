"""Reading a table's settings tolerantly, restoring them one line each (a scripted client)."""

from __future__ import annotations

from typing import Any

import botocore.exceptions

from ddbpipe import tablesettings

ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/T"
DESCRIPTION = {"TableName": "T", "TableArn": ARN,
               "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
               "TableClassSummary": {"TableClass": "STANDARD_INFREQUENT_ACCESS"}}


def error(code: str) -> botocore.exceptions.ClientError:
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": "m"}}, "Op")


class Client:
    """Answers each operation from ``script``: a value, an exception, or a list of them (one a
    call, in order); records the calls."""

    def __init__(self, **script: Any) -> None:
        self.script, self.calls = script, []

    def __getattr__(self, op: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append((op, kwargs))
            answer = self.script[op]
            if isinstance(answer, list):
                answer = answer.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return call


def test_read_records_what_the_table_has_and_notes_what_it_cannot_read():
    ddb = Client(
        describe_time_to_live={"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED",
                                                          "AttributeName": "exp"}},
        list_tags_of_resource=[{"Tags": [{"Key": "a", "Value": "1"}], "NextToken": "n"},
                               {"Tags": [{"Key": "b", "Value": "2"}]}],
        describe_continuous_backups=error("UnknownOperationException"))

    settings, notes = tablesettings.read(ddb, DESCRIPTION)

    assert settings == {
        "timeToLive": {"attributeName": "exp"},
        "tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
        "streamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        "tableClass": "STANDARD_INFREQUENT_ACCESS"}
    assert notes == ["point-in-time recovery: not recorded (the endpoint has no "
                     "DescribeContinuousBackups API)"]
    assert ddb.calls[2] == ("list_tags_of_resource", {"ResourceArn": ARN, "NextToken": "n"})


def test_read_leaves_out_what_is_off_and_what_it_may_not_read():
    ddb = Client(
        describe_time_to_live={"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}},
        list_tags_of_resource=error("AccessDeniedException"),
        describe_continuous_backups={"ContinuousBackupsDescription": {
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED",
                                               "RecoveryPeriodInDays": 7}}})

    settings, notes = tablesettings.read(ddb, {"TableName": "T", "TableArn": ARN})

    assert settings == {"pointInTimeRecovery": {"enabled": True, "recoveryPeriodInDays": 7}}
    assert notes == ["tags: not recorded (not allowed to call ListTagsOfResource (grant "
                     "dynamodb:ListTagsOfResource))"]


def test_restore_waits_for_continuous_backups_and_says_what_it_could_not_restore():
    slept: list[float] = []
    ddb = Client(
        update_time_to_live=error("UnknownOperationException"),
        tag_resource={},
        update_continuous_backups=[error("ContinuousBackupsUnavailableException"),
                                   error("ContinuousBackupsUnavailableException"), {}])
    settings = {"timeToLive": {"attributeName": "exp"},
                "tags": [{"Key": "aws:cloudformation:stack-name", "Value": "s"},
                         {"Key": "team", "Value": "x"}],
                "pointInTimeRecovery": {"enabled": True, "recoveryPeriodInDays": 7},
                "streamSpecification": {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
                "tableClass": "STANDARD_INFREQUENT_ACCESS"}
    made = {"TableName": "T", "TableArn": ARN}  # the endpoint ignored stream and class

    lines = tablesettings.restore(ddb, made, settings, sleep=slept.append)

    assert lines == [
        "T: could not restore time to live (the endpoint has no UpdateTimeToLive API); set it "
        "with `aws dynamodb update-time-to-live --table-name T --time-to-live-specification "
        "Enabled=true,AttributeName=exp`.",
        "T: not restoring the tags that start with aws: (AWS sets them).",
        "T: restored tags.",
        "T: restored point-in-time recovery.",
        "T: could not restore stream specification (the endpoint created the table without "
        "it); set it with `aws dynamodb update-table --table-name T --stream-specification "
        "StreamEnabled=true,StreamViewType=KEYS_ONLY`.",
        "T: could not confirm table class STANDARD_INFREQUENT_ACCESS (the endpoint reports "
        "none); set it with `aws dynamodb update-table --table-name T --table-class "
        "STANDARD_INFREQUENT_ACCESS`."]
    assert ("tag_resource", {"ResourceArn": ARN, "Tags": [{"Key": "team", "Value": "x"}]}) \
        in ddb.calls
    assert slept == [5.0, 5.0]
    assert ddb.calls[-1] == ("update_continuous_backups", {
        "TableName": "T", "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7}})


def test_restore_gives_up_on_continuous_backups_after_its_wait():
    ddb = Client(update_continuous_backups=[error("ContinuousBackupsUnavailableException")] * 30)
    lines = tablesettings.restore(ddb, {"TableName": "T"},
                                  {"pointInTimeRecovery": {"enabled": True}},
                                  sleep=lambda _s: None)
    assert lines == [
        "T: could not restore point-in-time recovery (ContinuousBackupsUnavailableException "
        "from UpdateContinuousBackups); set it with `aws dynamodb update-continuous-backups "
        "--table-name T --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true`."]
    assert len(ddb.calls) == 1 + int(tablesettings.PITR_WAIT_SECONDS / 5)
