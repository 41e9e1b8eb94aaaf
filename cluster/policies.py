"""IAM policy documents as plain data: pure functions, tested by equality and by an evaluator.

Two documents grant the same scope, the named tables and the exact S3 prefixes of their exports:

* :func:`user_policy` for a person who runs ``ddbpipe emr export|import`` (and the local
  commands) on those tables only, printed by ``ddbpipe iam policy``;
* :func:`instance_policy` for the EMR nodes' instance role, what the jobs themselves do on the
  cluster, written by ``ddbpipe iam setup --table ... --bucket ...``.

Choices (each in docs/decisions.md, "Least privilege"):

* DynamoDB: ``DescribeTable``, ``Scan``, ``BatchWriteItem`` on ``table/NAME``. Imports write and
  replace mode deletes with BatchWriteItem only, which IAM authorizes as
  ``dynamodb:BatchWriteItem`` whether the batch puts or deletes, so neither ``PutItem`` nor
  ``DeleteItem`` is granted. The reads of the table's settings the sidecar records (TTL, tags,
  PITR). ``CreateTable`` and the writes that restore those settings only when asked
  (``--create-table``).
* S3: objects under ``PREFIX/TABLE/`` (the run folders ddbpipe writes, ``REGION/TABLE/`` for a
  bare bucket) and the log and staging prefixes; ``s3:ListBucket`` only with ``StringLike`` on
  ``s3:prefix`` (a listing without a prefix, or of another prefix, is refused; the
  ``...IfExists`` form would let a prefix-less listing of the whole bucket through).
* EMR: RunJobFlow only with the ``dynamodbdatapipeline=true`` request tag; no
  ``elasticmapreduce:AddTags`` at all (tags given to RunJobFlow are authorized by RunJobFlow's own
  ``aws:RequestTag`` condition; AddTags would let the user tag any cluster and then use it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ddbpipe.checks import check_table_name
from ddbpipe.cluster import definition as d
from ddbpipe.cluster.places import STAGING_FOLDER
from ddbpipe.errors import ConfigError

#: What an export reads of a table's settings for its sidecar, and what ``--create-table``
#: restores them with (ddbpipe/tablesettings.py).
SETTINGS_READ = ("dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource",
                 "dynamodb:DescribeContinuousBackups")
SETTINGS_WRITE = ("dynamodb:UpdateTimeToLive", "dynamodb:TagResource",
                  "dynamodb:UpdateContinuousBackups")

#: The dead-letter queue ddbpipe creates for schedules (``deadletter`` creates it).
DLQ_NAME = "ddbpipe-schedules-dlq"

EMR_PRINCIPAL = "elasticmapreduce.amazonaws.com"
EC2_PRINCIPAL = "ec2.amazonaws.com"
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
SCHEDULER_ROLE = "ddbpipe-scheduler"
SCHEDULE_GROUP = "ddbpipe"

_ACCOUNT = re.compile(r"^\d{12}$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()/\-]+$")


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _prefix(value: str, option: str) -> str:
    """A folder prefix as ``a/b/`` (never the bucket root, never wildcards)."""
    cleaned = re.sub(r"/{2,}", "/", value.strip()).strip("/")
    if not cleaned:
        raise ConfigError(f"{option} is empty: that is the bucket root.",
                          f"Give a folder, e.g. {option} logs.")
    if not _PREFIX.match(cleaned) or "*" in cleaned or "?" in cleaned:
        raise ConfigError(f"{option} {value!r} is not a plain S3 folder name.",
                          "Use letters, digits and / - _ . only (no wildcards).")
    return f"{cleaned}/"


@dataclass(frozen=True)
class Scope:
    """What a policy grants: tables, one bucket, and the exact folders in it."""

    tables: tuple[str, ...]
    bucket: str
    region: str
    account: str
    #: ``PREFIX/TABLE/`` folders of the runs, read and written.
    data_prefixes: tuple[str, ...]
    #: EMR's LogUri folder: EMR writes step and node logs there with the instance role.
    log_prefix: str
    #: Where the launcher stages the bootstrap, wheel and job files the nodes read.
    staging_prefix: str
    create_table: bool = False

    @property
    def partition(self) -> str:
        return partition(self.region)

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def table_arns(self) -> list[str]:
        return [f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{t}"
                for t in self.tables]

    def read_prefixes(self) -> list[str]:
        """Every folder a job or the launcher lists, in a stable order without repeats."""
        out: list[str] = []
        for p in (*self.data_prefixes, self.log_prefix, self.staging_prefix):
            if p not in out:
                out.append(p)
        return out

    def objects(self, prefixes: Sequence[str]) -> list[str]:
        return [f"{self.bucket_arn}/{p}*" for p in dict.fromkeys(prefixes)]


def scope(
    tables: Sequence[str],
    bucket: str,
    region: str,
    account: str,
    *,
    export_prefixes: Sequence[str] = (),
    log_prefix: str = "logs",
    staging_prefix: Optional[str] = None,
    create_table: bool = False,
) -> Scope:
    """Validate the options once; ``export_prefixes`` are the ``--to`` prefixes (none: the bare
    bucket, whose runs go to ``REGION/TABLE/``). The staging folder defaults to the launcher's
    (``ddbpipe-staging/`` beside the logs, ``places.STAGING_FOLDER``)."""
    if not tables:
        raise ConfigError("No table given.", "Pass --table NAME (repeat for several).")
    for table in tables:
        check_table_name(table)
    if not _ACCOUNT.match(account):
        raise ConfigError(f"--account {account!r} is not a 12-digit AWS account id.",
                          "Give it as 123456789012, or leave it out to use the caller's.")
    from ddbpipe.s3uri import S3Uri

    S3Uri.parse(f"s3://{bucket}", "--bucket")
    bases = [_prefix(p, "--export-prefix") for p in export_prefixes] or [f"{region}/"]
    data = tuple(dict.fromkeys(f"{base}{t}/" for base in bases for t in tables))
    logs = _prefix(log_prefix, "--log-prefix")
    staging = _prefix(staging_prefix or STAGING_FOLDER, "--staging-prefix")
    return Scope(tuple(tables), bucket, region, account, data, logs, staging, create_table)


def _dynamodb_statement(s: Scope) -> dict[str, Any]:
    # the reads an export's sidecar records the table's settings with (ddbpipe/tablesettings.py)
    actions = ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:BatchWriteItem",
               *SETTINGS_READ]
    if s.create_table:  # --create-table also restores TTL, tags and PITR
        actions.extend([*SETTINGS_WRITE, "dynamodb:CreateTable"])
    return {"Sid": "DynamoDBTheseTables", "Effect": "Allow", "Action": actions,
            "Resource": s.table_arns()}


def _pitr_statement(s: Scope) -> dict[str, Any]:
    """``ddbpipe export --source pitr``: check point-in-time recovery, start DynamoDB's export
    (into the run folders the S3 statements grant: DynamoDB writes with the caller's rights)
    and follow it. No read of the table beyond what Scan already allows."""
    return {"Sid": "DynamoDBPointInTimeExports", "Effect": "Allow",
            "Action": ["dynamodb:DescribeContinuousBackups", "dynamodb:ExportTableToPointInTime",
                       "dynamodb:DescribeExport"],
            "Resource": [*s.table_arns(), *(f"{arn}/export/*" for arn in s.table_arns())]}


def _list_statement(s: Scope) -> dict[str, Any]:
    return {"Sid": "S3ListTheseFolders", "Effect": "Allow", "Action": "s3:ListBucket",
            "Resource": s.bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in s.read_prefixes()]}}}


def instance_policy(s: Scope) -> dict[str, Any]:
    """The instance role's policy: what the export and import jobs do on the cluster, plus what
    EMR itself does with the instance role (read the staged bootstrap and job files, push logs)."""
    data_actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                    "s3:AbortMultipartUpload"]
    statements: list[dict[str, Any]] = [
        _dynamodb_statement(s),
        _pitr_statement(s),
        _list_statement(s),
        {"Sid": "S3ExportFolders", "Effect": "Allow", "Action": data_actions,
         "Resource": s.objects(s.data_prefixes)},
        {"Sid": "S3ReadStagedFiles", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": s.objects([s.staging_prefix])},
        {"Sid": "S3WriteLogs", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": s.objects([s.log_prefix])},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def user_policy(
    s: Scope,
    *,
    roles: tuple[str, str] = (d.SERVICE_ROLE, d.INSTANCE_ROLE),
    schedules: bool = False,
) -> dict[str, Any]:
    """A policy for a user who may export/import exactly ``s.tables`` through ddbpipe on EMR.

    DynamoDB on those tables only; S3 on the exact run, log and staging folders of the bucket;
    EMR only on clusters tagged ``dynamodbdatapipeline=true`` (RunJobFlow must carry the tag,
    every later call must target a tagged cluster; no AddTags); iam:PassRole on the two cluster
    roles only, each to its own service. ``roles`` is (service role, instance role).
    """
    service_role, instance_role = roles
    part = s.partition
    cluster_arn = f"arn:{part}:elasticmapreduce:{s.region}:{s.account}:cluster/*"
    iam_arn = f"arn:{part}:iam::{s.account}:role/"
    statements: list[dict[str, Any]] = [
        _dynamodb_statement(s),
        _pitr_statement(s),
        _list_statement(s),
        {"Sid": "S3RunAndLogFolders", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                    "s3:AbortMultipartUpload"],
         "Resource": s.objects(s.read_prefixes())},
        {"Sid": "EMRStartTaggedClusters", "Effect": "Allow",
         "Action": "elasticmapreduce:RunJobFlow", "Resource": "*",
         "Condition": {"StringEquals": {f"aws:RequestTag/{d.TAG_KEY}": d.TAG_VALUE}}},
        {"Sid": "EMRUseTaggedClusters", "Effect": "Allow",
         "Action": ["elasticmapreduce:DescribeCluster", "elasticmapreduce:DescribeStep",
                    "elasticmapreduce:ListSteps", "elasticmapreduce:ListBootstrapActions",
                    "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:CancelSteps",
                    "elasticmapreduce:TerminateJobFlows"],
         "Resource": cluster_arn,
         "Condition": {"StringEquals": {f"aws:ResourceTag/{d.TAG_KEY}": d.TAG_VALUE}}},
        {"Sid": "PassServiceRoleToEMR", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"{iam_arn}{service_role}",
         "Condition": {"StringLike": {"iam:PassedToService": f"{EMR_PRINCIPAL}*"}}},
        {"Sid": "PassInstanceRoleToEC2", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"{iam_arn}{instance_role}",
         "Condition": {"StringLike": {"iam:PassedToService": f"{EC2_PRINCIPAL}*"}}},
        {"Sid": "CheckTheClusterRoles", "Effect": "Allow",
         "Action": ["iam:GetRole", "iam:GetInstanceProfile"],
         "Resource": [f"{iam_arn}{service_role}", f"{iam_arn}{instance_role}",
                      f"arn:{part}:iam::{s.account}:instance-profile/{instance_role}"]},
    ]
    if schedules:
        schedule_arn = f"arn:{part}:scheduler:{s.region}:{s.account}"
        statements += [
            {"Sid": "ManageDdbpipeSchedules", "Effect": "Allow",
             "Action": ["scheduler:CreateSchedule", "scheduler:GetSchedule",
                        "scheduler:DeleteSchedule", "scheduler:GetScheduleGroup",
                        "scheduler:CreateScheduleGroup"],
             "Resource": [f"{schedule_arn}:schedule/{SCHEDULE_GROUP}/*",
                          f"{schedule_arn}:schedule-group/{SCHEDULE_GROUP}"]},
            {"Sid": "ListSchedules", "Effect": "Allow", "Action": "scheduler:ListSchedules",
             "Resource": "*"},
            {"Sid": "ScheduleDeadLetterQueue", "Effect": "Allow",
             "Action": ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:CreateQueue",
                        "sqs:TagQueue"],
             "Resource": f"arn:{part}:sqs:{s.region}:{s.account}:{DLQ_NAME}"},
            {"Sid": "PassSchedulerRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": f"{iam_arn}{SCHEDULER_ROLE}",
             "Condition": {"StringLike": {"iam:PassedToService": SCHEDULER_PRINCIPAL}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}
