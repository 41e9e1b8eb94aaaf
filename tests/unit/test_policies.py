"""The policy documents: exact content (equality), then what a real IAM evaluator decides.

The evaluator is @cloud-copilot/iam-simulate (tests/support/iam_eval.py): moto cannot evaluate
DynamoDB resource ARNs or the s3:prefix condition (tests/functional/test_policy_enforcement.py
shows both), so every allow/deny that depends on them is checked here.
"""

from __future__ import annotations

import json

import pytest

from ddbpipe.cluster import policies
from ddbpipe.errors import ConfigError
from tests.support.iam_eval import ACCOUNT, Request, evaluate

REGION = "us-west-2"
BUCKET = "bkt"
TABLE = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/"
OBJ = f"arn:aws:s3:::{BUCKET}/"


def scope(**kw) -> policies.Scope:
    return policies.scope(["Forum", "Thread"], BUCKET, REGION, ACCOUNT, **kw)


def test_instance_policy_is_exactly_the_jobs_needs():
    assert policies.instance_policy(scope()) == {"Version": "2012-10-17", "Statement": [
        {"Sid": "DynamoDBTheseTables", "Effect": "Allow",
         "Action": ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:BatchWriteItem",
                    "dynamodb:DescribeTimeToLive", "dynamodb:ListTagsOfResource",
                    "dynamodb:DescribeContinuousBackups"],
         "Resource": [f"{TABLE}Forum", f"{TABLE}Thread"]},
        {"Sid": "DynamoDBPointInTimeExports", "Effect": "Allow",
         "Action": ["dynamodb:DescribeContinuousBackups", "dynamodb:ExportTableToPointInTime",
                    "dynamodb:DescribeExport"],
         "Resource": [f"{TABLE}Forum", f"{TABLE}Thread", f"{TABLE}Forum/export/*",
                      f"{TABLE}Thread/export/*"]},
        {"Sid": "S3ListTheseFolders", "Effect": "Allow", "Action": "s3:ListBucket",
         "Resource": "arn:aws:s3:::bkt",
         "Condition": {"StringLike": {"s3:prefix": [
             "us-west-2/Forum/*", "us-west-2/Thread/*", "logs/*", "ddbpipe-staging/*"]}}},
        {"Sid": "S3ExportFolders", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                    "s3:AbortMultipartUpload"],
         "Resource": [f"{OBJ}us-west-2/Forum/*", f"{OBJ}us-west-2/Thread/*"]},
        {"Sid": "S3ReadStagedFiles", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": [f"{OBJ}ddbpipe-staging/*"]},
        {"Sid": "S3WriteLogs", "Effect": "Allow", "Action": "s3:PutObject",
         "Resource": [f"{OBJ}logs/*"]},
    ]}


def test_scope_options():
    s = policies.scope(["Tab1"], BUCKET, "cn-north-1", ACCOUNT, export_prefixes=["/exp/", "b/c"],
                       log_prefix="emr-logs/", staging_prefix="ddbpipe-staging",
                       create_table=True)
    assert s.data_prefixes == ("exp/Tab1/", "b/c/Tab1/")
    assert s.read_prefixes() == ["exp/Tab1/", "b/c/Tab1/", "emr-logs/", "ddbpipe-staging/"]
    doc = policies.instance_policy(s)
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    assert by_sid["DynamoDBTheseTables"]["Action"][-1] == "dynamodb:CreateTable"
    assert by_sid["DynamoDBTheseTables"]["Resource"] == \
        [f"arn:aws-cn:dynamodb:cn-north-1:{ACCOUNT}:table/Tab1"]
    assert by_sid["S3ReadStagedFiles"]["Resource"] == ["arn:aws-cn:s3:::bkt/ddbpipe-staging/*"]
    assert policies.partition("us-gov-west-1") == "aws-us-gov"


@pytest.mark.parametrize(("kw", "message"), [
    ({"account": "42"}, "12-digit"),
    ({"log_prefix": "/"}, "bucket root"),
    ({"export_prefixes": ["a/*"]}, "no wildcards"),
    ({"tables": []}, "No table given"),
    ({"tables": ["ab"]}, "ab"),
])
def test_scope_refusals(kw, message):
    args = {"tables": ["Tab1"], "bucket": BUCKET, "region": REGION, "account": ACCOUNT}
    args.update({k: v for k, v in kw.items() if k in args})
    rest = {k: v for k, v in kw.items() if k not in args}
    with pytest.raises(ConfigError, match=message):
        policies.scope(args["tables"], args["bucket"], args["region"], args["account"], **rest)


def test_user_policy_has_no_addtags_and_exact_prefixes():
    doc = policies.user_policy(scope(), schedules=True)
    by_sid = {st["Sid"]: st for st in doc["Statement"]}
    text = json.dumps(doc)
    assert "AddTags" not in text and "IfExists" not in text and "dynamodb:*" not in text
    assert by_sid["EMRStartTaggedClusters"] == {
        "Sid": "EMRStartTaggedClusters", "Effect": "Allow",
        "Action": "elasticmapreduce:RunJobFlow", "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestTag/dynamodbdatapipeline": "true"}}}
    assert by_sid["S3RunAndLogFolders"]["Resource"] == [
        f"{OBJ}us-west-2/Forum/*", f"{OBJ}us-west-2/Thread/*", f"{OBJ}logs/*",
        f"{OBJ}ddbpipe-staging/*"]
    assert by_sid["PassInstanceRoleToEC2"]["Resource"] == \
        f"arn:aws:iam::{ACCOUNT}:role/ddbpipe-instance-role"
    assert "ManageDdbpipeSchedules" in by_sid


# --- decided by a real evaluator -------------------------------------------------------------

RUN = "us-west-2/Forum/2026-01-02-03-04-05/"


def data_requests() -> list[tuple[Request, str]]:
    """What the jobs do on the allowed table and folder, and the same on others."""
    allowed, denied = "Allowed", "ImplicitlyDenied"
    return [
        (Request("dynamodb:DescribeTable", f"{TABLE}Forum"), allowed),
        (Request("dynamodb:Scan", f"{TABLE}Forum"), allowed),
        (Request("dynamodb:BatchWriteItem", f"{TABLE}Thread"), allowed),
        (Request("dynamodb:Scan", f"{TABLE}Users"), denied),
        (Request("dynamodb:ExportTableToPointInTime", f"{TABLE}Forum"), allowed),
        (Request("dynamodb:DescribeExport", f"{TABLE}Forum/export/01796090400123-a1b2c3d4"),
         allowed),
        (Request("dynamodb:ExportTableToPointInTime", f"{TABLE}Users"), denied),
        (Request("dynamodb:DescribeExport", f"{TABLE}Users/export/01796090400123-a1b2c3d4"),
         denied),
        (Request("dynamodb:BatchWriteItem", f"{TABLE}Users"), denied),
        (Request("dynamodb:Scan", f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Forum"), denied),
        (Request("dynamodb:DeleteTable", f"{TABLE}Forum"), denied),
        (Request("dynamodb:CreateTable", f"{TABLE}Forum"), denied),
        (Request("s3:ListBucket", "arn:aws:s3:::bkt", {"s3:prefix": RUN}), allowed),
        (Request("s3:ListBucket", "arn:aws:s3:::bkt", {"s3:prefix": "us-west-2/Forum/"}),
         allowed),
        (Request("s3:ListBucket", "arn:aws:s3:::bkt", {"s3:prefix": "us-west-2/Users/"}),
         denied),
        (Request("s3:ListBucket", "arn:aws:s3:::bkt", {"s3:prefix": "us-west-2/"}), denied),
        (Request("s3:ListBucket", "arn:aws:s3:::bkt"), denied),  # the whole bucket
        (Request("s3:ListBucket", "arn:aws:s3:::other", {"s3:prefix": RUN}), denied),
        (Request("s3:PutObject", f"{OBJ}{RUN}0a1b2c"), allowed),
        (Request("s3:GetObject", f"{OBJ}{RUN}manifest"), allowed),
        (Request("s3:DeleteObject", f"{OBJ}{RUN}_ddbpipe-in-progress"), allowed),
        (Request("s3:AbortMultipartUpload", f"{OBJ}{RUN}0a1b2c"), allowed),
        (Request("s3:GetObject", f"{OBJ}us-west-2/Users/2026/manifest"), denied),
        (Request("s3:PutObject", f"{OBJ}us-west-2/Forum"), denied),  # not inside the folder
        (Request("s3:PutObject", f"{OBJ}_ddbpipe-write-check"), denied),  # the bucket root
        (Request("s3:GetObject", f"{OBJ}ddbpipe-staging/runs/r1/install-ddbpipe.sh"), allowed),
        (Request("s3:PutObject", f"arn:aws:s3:::other/{RUN}x"), denied),
    ]


def test_instance_policy_allows_the_named_tables_and_folders_only():
    cases = [*data_requests(),
        (Request("s3:PutObject", f"{OBJ}logs/j-1/steps/s-1/stderr.gz"), "Allowed"),
        (Request("s3:DeleteObject", f"{OBJ}logs/j-1/steps/s-1/stderr.gz"), "ImplicitlyDenied"),
        (Request("elasticmapreduce:RunJobFlow", "*"), "ImplicitlyDenied"),
    ]
    got = evaluate(policies.instance_policy(scope()), [r for r, _ in cases])
    assert list(zip([r for r, _ in cases], got)) == cases


def test_create_table_only_when_granted():
    granted = policies.instance_policy(scope(create_table=True))
    assert evaluate(granted, [Request("dynamodb:CreateTable", f"{TABLE}Forum"),
                              Request("dynamodb:CreateTable", f"{TABLE}Users")]) == \
        ["Allowed", "ImplicitlyDenied"]
    # restoring TTL, tags and PITR comes with --create-table only
    restore = [Request(a, f"{TABLE}Forum") for a in policies.SETTINGS_WRITE]
    assert evaluate(granted, restore) == ["Allowed"] * 3
    assert evaluate(policies.instance_policy(scope()), restore) == ["ImplicitlyDenied"] * 3


def test_user_policy_decisions():
    cluster = f"arn:aws:elasticmapreduce:{REGION}:{ACCOUNT}:cluster/j-ABC"
    role = f"arn:aws:iam::{ACCOUNT}:role/"
    tagged = {"aws:ResourceTag/dynamodbdatapipeline": "true"}
    cases = [*data_requests(),
        (Request("elasticmapreduce:RunJobFlow", "*",
                 {"aws:RequestTag/dynamodbdatapipeline": "true",
                  "aws:TagKeys": ["dynamodbdatapipeline"]}), "Allowed"),
        (Request("elasticmapreduce:RunJobFlow", "*"), "ImplicitlyDenied"),
        (Request("elasticmapreduce:RunJobFlow", "*",
                 {"aws:RequestTag/dynamodbdatapipeline": "false"}), "ImplicitlyDenied"),
        (Request("elasticmapreduce:AddTags", cluster,
                 {"aws:RequestTag/dynamodbdatapipeline": "true"}), "ImplicitlyDenied"),
        (Request("elasticmapreduce:AddJobFlowSteps", cluster, tagged), "Allowed"),
        (Request("elasticmapreduce:AddJobFlowSteps", cluster), "ImplicitlyDenied"),
        (Request("elasticmapreduce:TerminateJobFlows", cluster,
                 {"aws:ResourceTag/dynamodbdatapipeline": "false"}), "ImplicitlyDenied"),
        (Request("iam:PassRole", f"{role}ddbpipe-instance-role",
                 {"iam:PassedToService": "ec2.amazonaws.com"}), "Allowed"),
        (Request("iam:PassRole", f"{role}EMR_DefaultRole_V2",
                 {"iam:PassedToService": "elasticmapreduce.amazonaws.com"}), "Allowed"),
        (Request("iam:PassRole", f"{role}EMR_DefaultRole_V2",
                 {"iam:PassedToService": "ec2.amazonaws.com"}), "ImplicitlyDenied"),
        (Request("iam:PassRole", f"{role}Admin",
                 {"iam:PassedToService": "ec2.amazonaws.com"}), "ImplicitlyDenied"),
    ]
    got = evaluate(policies.user_policy(scope()), [r for r, _ in cases])
    assert list(zip([r for r, _ in cases], got)) == cases


def test_the_old_conditions_were_holes():
    """Why the user policy changed: the evaluator allows what the old statements allowed."""
    old = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::bkt",
         "Condition": {"StringLikeIfExists": {"s3:prefix": ["us-west-2/Forum/*"]}}},
        {"Effect": "Allow", "Action": ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddTags"],
         "Resource": "*",
         "Condition": {"StringEquals": {"aws:RequestTag/dynamodbdatapipeline": "true"}}}]}
    cluster = f"arn:aws:elasticmapreduce:{REGION}:{ACCOUNT}:cluster/j-SOMEONE-ELSES"
    assert evaluate(old, [
        Request("s3:ListBucket", "arn:aws:s3:::bkt"),
        Request("elasticmapreduce:AddTags", cluster,
                {"aws:RequestTag/dynamodbdatapipeline": "true"}),
    ]) == ["Allowed", "Allowed"]
