"""`ddbpipe iam setup --table --bucket` on moto server, and what moto's IAM enforcement can and
cannot check of the instance policy (the rest is decided by a real evaluator in
tests/unit/test_policies.py).

moto enforces identity policies when its auth is switched on (``/moto-api/reset-auth``): it
checks the action and, for S3, the object or bucket ARN. It does not compute DynamoDB table ARNs
(every DynamoDB request is checked against resource ``*``, so a table-scoped grant refuses every
table), ignores ``StringLike`` conditions (a listing of any prefix is permitted) and cannot check
the signature of a request with a query string (every ListObjectsV2 fails). The two
``moto_cannot`` tests pin that down, so this file fails the day moto learns it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from ddbpipe.aws import AwsConfig, client, error_code
from ddbpipe.cli import main
from ddbpipe.cluster import iam, policies
from ddbpipe_dev import localstack

pytestmark = pytest.mark.functional

REGION = "us-east-1"


@pytest.fixture(scope="module")
def server(logs_dir: Path) -> Iterator[localstack.Server]:
    srv = localstack.start_moto(localstack.free_port(), logs_dir / "moto-enforce.log")
    yield srv
    requests.post(f"{srv.url}/moto-api/reset-auth", data=b"inf", timeout=10)
    localstack.stop(srv)


@pytest.fixture(scope="module")
def aws(server: localstack.Server) -> AwsConfig:
    return AwsConfig(REGION, {s: server.url for s in ("s3", "iam", "sts", "dynamodb")})


def policy_arn(iam_client: Any, role: str) -> str:
    return next(p["PolicyArn"] for p in
                iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
                if p["PolicyName"] == iam.instance_policy_name(role))


def test_setup_writes_the_instance_policy_and_keeps_under_five_versions(aws, capsys, unique):
    role = f"inst-{unique}"
    base = ["iam", "setup", "--instance-role", role, "--region", REGION,
            "--endpoint-url", aws.endpoint("iam") or ""]
    assert main([*base, "--table", "Orders", "--bucket", "bkt"]) == 0
    first = capsys.readouterr().out
    assert f"role {role}: created, trusts ec2.amazonaws.com, no AWS managed policy" in first
    assert f"policy {role}-access: created" in first
    assert f"instance profile {role}: created, role {role} added" in first
    iam_client = client(aws, "iam")
    attached = [p["PolicyArn"] for p in
                iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    arn = policy_arn(iam_client, role)
    assert attached == [arn]  # and nothing else: no AmazonElasticMapReduceforEC2Role
    account = arn.split(":")[4]
    assert main([*base, "--table", "Orders", "--bucket", "bkt"]) == 0
    assert f"policy {role}-access: unchanged (v1)" in capsys.readouterr().out

    for n, table in enumerate(["Ord1x", "Ord2x", "Ord3x", "Ord4x", "Ord5x", "Ord6x"], start=2):
        assert main([*base, "--table", table, "--bucket", "bkt", "--create-table"]) == 0
        out = capsys.readouterr().out
        assert f"policy {role}-access: updated to v{n} (default)" in out
    versions = iam_client.list_policy_versions(PolicyArn=arn)["Versions"]
    assert len(versions) == 5
    assert "deleted old v2" in out
    default = next(v for v in versions if v["IsDefaultVersion"])
    doc = iam_client.get_policy_version(PolicyArn=arn, VersionId=default["VersionId"])
    expected = policies.instance_policy(policies.scope(["Ord6x"], "bkt", REGION, account,
                                                       create_table=True))
    assert doc["PolicyVersion"]["Document"] == expected


def test_setup_refuses_half_a_scope_before_creating_anything(aws, capsys, unique):
    role = f"none-{unique}"
    code = main(["iam", "setup", "--instance-role", role, "--table", "Orders",
                 "--region", REGION, "--endpoint-url", aws.endpoint("iam") or ""])
    assert code != 0
    assert "ddbpipe: error: --table and --bucket go together." in capsys.readouterr().err
    with pytest.raises(ClientError):
        client(aws, "iam").get_role(RoleName=role)


def test_an_old_instance_role_with_the_deprecated_policy_is_named(aws, unique):
    iam_client = client(aws, "iam")
    name = f"EMR_EC2_Old-{unique}"
    iam_client.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
        iam.trust_policy(iam.EC2_PRINCIPAL)))
    iam_client.attach_role_policy(RoleName=name, PolicyArn=iam.EMR_EC2_POLICY)
    out = io.StringIO()
    iam.ensure_roles(iam_client, iam.RoleNames(f"svc-{unique}", name), out)
    assert "WARNING: it has the deprecated AmazonElasticMapReduceforEC2Role" in out.getvalue()


@pytest.fixture(scope="module")
def enforced(aws: AwsConfig, server: localstack.Server) -> Iterator[tuple[Any, Any, Any]]:
    """(s3, dynamodb) clients of a user holding only the instance policy for table Orders and
    bucket enforce-bkt, plus an unchecked admin S3 client; moto checks every later request."""
    admin_s3, admin_iam = client(aws, "s3"), client(aws, "iam")
    admin_ddb = client(aws, "dynamodb")
    admin_s3.create_bucket(Bucket="enforce-bkt")
    for table in ("Orders", "Users"):
        admin_ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                               KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                               AttributeDefinitions=[{"AttributeName": "id",
                                                      "AttributeType": "S"}])
    account = client(aws, "sts").get_caller_identity()["Account"]
    doc = policies.instance_policy(policies.scope(["Orders"], "enforce-bkt", REGION, account))
    admin_iam.create_user(UserName="node")
    admin_iam.put_user_policy(UserName="node", PolicyName="instance",
                              PolicyDocument=json.dumps(doc))
    key = admin_iam.create_access_key(UserName="node")["AccessKey"]
    session = boto3.session.Session(aws_access_key_id=key["AccessKeyId"],
                                    aws_secret_access_key=key["SecretAccessKey"],
                                    region_name=REGION)
    user_s3 = session.client("s3", endpoint_url=server.url)
    user_ddb = session.client("dynamodb", endpoint_url=server.url)
    requests.post(f"{server.url}/moto-api/reset-auth", data=b"0", timeout=10)
    try:
        yield user_s3, user_ddb, admin_s3
    finally:
        requests.post(f"{server.url}/moto-api/reset-auth", data=b"inf", timeout=10)


def denied(call: Any, **kw: Any) -> bool:
    """True when the call is refused for permissions, False when it succeeds; any other error
    (a signature moto cannot check, a missing key) fails the test."""
    try:
        call(**kw)
    except ClientError as err:
        if error_code(err) in ("AccessDenied", "AccessDeniedException", "403"):
            return True
        raise
    return False


def test_moto_enforces_the_export_folder_on_objects(enforced):
    s3, _, _ = enforced
    run = "us-east-1/Orders/2026-01-02-03-04-05/"
    s3.put_object(Bucket="enforce-bkt", Key=f"{run}part-1", Body=b"{}\n")
    assert s3.get_object(Bucket="enforce-bkt", Key=f"{run}part-1")["Body"].read() == b"{}\n"
    s3.delete_object(Bucket="enforce-bkt", Key=f"{run}part-1")
    assert denied(s3.put_object, Bucket="enforce-bkt", Key="us-east-1/Users/x", Body=b"")
    assert denied(s3.put_object, Bucket="enforce-bkt", Key="_ddbpipe-write-check", Body=b"")
    assert denied(s3.get_object, Bucket="enforce-bkt", Key="us-east-1/Users/2026/manifest")
    assert denied(s3.delete_object, Bucket="enforce-bkt", Key="logs/j-1/node.log")
    s3.put_object(Bucket="enforce-bkt", Key="logs/j-1/steps/s-1/stderr.gz", Body=b"")


def test_moto_cannot_evaluate_s3_prefix(enforced):
    """moto's evaluator (the code its server runs) ignores StringLike on s3:prefix: it permits a
    listing of another table's folder and of the whole bucket, which AWS and the evaluator refuse.
    And its server cannot exercise a listing at all under enforcement: it fails to verify the
    signature of any request with a query string."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    doc = policies.instance_policy(policies.scope(["Orders"], "enforce-bkt", REGION,
                                                  "123456789012"))
    evaluator = IAMPolicy(json.dumps(doc))
    for prefix in ("us-east-1/Orders/", "us-east-1/Users/", None):
        context = {"s3:prefix": prefix} if prefix is not None else None
        assert evaluator.is_action_permitted("s3:ListBucket", "arn:aws:s3:::enforce-bkt",
                                             incoming_condition_values=context) \
            == PermissionResult.PERMITTED
    s3, _, _ = enforced
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket="enforce-bkt", Prefix="us-east-1/Orders/")
    assert error_code(caught.value) == "SignatureDoesNotMatch"


def test_moto_cannot_evaluate_dynamodb_table_arns(enforced):
    """moto checks DynamoDB requests against resource "*", which no table ARN matches: the
    granted table is refused exactly like another one."""
    _, ddb, _ = enforced
    assert denied(ddb.describe_table, TableName="Orders")
    assert denied(ddb.describe_table, TableName="Users")
