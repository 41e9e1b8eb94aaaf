"""Network checks, `ddbpipe emr doctor` and the pre-flight of `ddbpipe emr export` on moto server.

Each test works in a region of its own, so the EC2 state (VPCs, subnets, tags) of one test never
meets another's; moto's default VPC of each region has untagged default subnets, as AWS has.
Everything runs through ``ddbpipe.cli.main``: exit code, stdout and the one error line.
"""

from __future__ import annotations

from typing import Any

import pytest

from ddbpipe.aws import AwsConfig, client
from ddbpipe.cli import main
from ddbpipe.cluster import network

pytestmark = pytest.mark.functional

TAG = [{"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}]
SERVICES = ("ec2", "s3", "iam", "emr", "sts", "dynamodb", "scheduler")


def cfg(moto_server: Any, region: str) -> AwsConfig:
    return AwsConfig(region, {s: moto_server.url for s in SERVICES})


def cli(capsys: pytest.CaptureFixture[str], moto_server: Any, region: str,
        *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--region", region, "--endpoint-url", moto_server.url])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def private_vpc(ec2: Any, *, tag: bool = True, endpoints: tuple[str, ...] = ()) -> dict[str, str]:
    """A VPC whose main route table has only the local route, and one subnet in it."""
    region = ec2.meta.region_name
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    sub = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    rtb = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "RouteTables"][0]["RouteTableId"]
    if tag:
        ec2.create_tags(Resources=[vpc, sub], Tags=TAG)
    for service in endpoints:
        ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Gateway", RouteTableIds=[rtb],
                                ServiceName=network.endpoint_service(region, service))
    return {"vpc": vpc, "subnet": sub, "rtb": rtb}


def emr_roles(iam: Any) -> None:
    """The roles as `ddbpipe iam setup` leaves them (moto has AWS's managed policies loaded)."""
    import io

    from ddbpipe.cluster import iam as cluster_iam

    cluster_iam.ensure_roles(iam, cluster_iam.RoleNames(), io.StringIO())
    # setup leaves existing roles as they are; other tests of the session may have made this
    # one bare
    iam.attach_role_policy(RoleName="EMR_DefaultRole_V2", PolicyArn=cluster_iam.EMR_SERVICE_POLICY)


def table(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")


def objects(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def clusters_of(emr: Any) -> set[str]:
    return {c["Id"] for page in emr.get_paginator("list_clusters").paginate()
            for c in page["Clusters"]}


def export_argv(bucket: str, *extra: str) -> list[str]:
    return ["emr", "export", "--table", "Orders", "--to", f"s3://{bucket}/exports",
            "--read-capacity", "1000", "--log-uri", f"s3://{bucket}/logs", *extra]


def test_untagged_subnet_is_refused_with_the_tag_command_and_nothing_created(
        moto_server, capsys, unique):
    region = "eu-west-3"
    aws = cfg(moto_server, region)
    ec2, s3, emr = client(aws, "ec2"), client(aws, "s3"), client(aws, "emr")
    net = private_vpc(ec2, tag=False, endpoints=("s3", "dynamodb"))
    bucket = f"net-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    clusters = clusters_of(emr)  # moto lists other tests' clusters too, whatever the region

    code, out, err = cli(capsys, moto_server, region,
                         *export_argv(bucket, "--subnet-id", net["subnet"]))

    assert code == 2
    assert err == (
        f"ddbpipe: error: subnet: {net['subnet']} lacks the tag "
        "for-use-with-amazon-emr-managed-policies=true that EMR_DefaultRole_V2 requires to "
        f"launch into a subnet. Fix: aws ec2 create-tags --resources {net['subnet']} --tags "
        f"Key=for-use-with-amazon-emr-managed-policies,Value=true --region {region} "
        "(or pass --skip-doctor to launch anyway)\n")
    assert objects(s3, bucket) == []  # nothing uploaded, no probe left
    assert clusters_of(emr) == clusters

    code, _, err = cli(capsys, moto_server, region,
                       *export_argv(bucket, "--subnet-id", "subnet-0123456789abcdef0"))
    assert code == 2 and f"subnet-0123456789abcdef0 not found in {region}." in err


def test_without_subnet_id_the_default_vpc_is_never_taken_silently(moto_server, capsys, unique):
    region = "ap-south-1"
    aws = cfg(moto_server, region)
    ec2, s3 = client(aws, "ec2"), client(aws, "s3")
    bucket = f"net-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    defaults = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]]
    assert defaults  # moto's default VPC, untagged

    code, out, err = cli(capsys, moto_server, region, *export_argv(bucket))

    assert code == 2
    assert err.count("\n") == 1
    assert f"no --subnet-id, and no subnet of {region} carries the tag" in err
    assert "default VPC" in err and all(sid in err for sid in defaults[:3])
    assert "aws ec2 create-tags --resources subnet-" in err
    assert objects(s3, bucket) == []

    # A tagged private subnet with both endpoints is picked and named in the dry run.
    net = private_vpc(ec2, endpoints=("s3", "dynamodb"))
    code, out, err = cli(capsys, moto_server, region, *export_argv(bucket, "--dry-run"))
    assert code == 0, err
    assert f"no --subnet-id: using {net['subnet']}" in out
    assert f'"Ec2SubnetId": "{net["subnet"]}"' in out
    assert objects(s3, bucket) == []


def test_security_groups_are_checked_and_sent(moto_server, capsys, unique):
    region = "sa-east-1"
    aws = cfg(moto_server, region)
    ec2, s3 = client(aws, "ec2"), client(aws, "s3")
    net = private_vpc(ec2, endpoints=("s3", "dynamodb"))
    groups = [ec2.create_security_group(GroupName=f"g{i}-{unique}", Description="emr",
                                        VpcId=net["vpc"])["GroupId"] for i in range(3)]
    ec2.create_tags(Resources=groups[:2], Tags=TAG)
    bucket = f"net-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    spec = f"leader={groups[0]},core={groups[1]},service={groups[2]}"

    code, _, err = cli(capsys, moto_server, region, *export_argv(
        bucket, "--subnet-id", net["subnet"], "--security-groups", spec))
    assert code == 2
    assert f"security groups: {groups[2]} lacks the tag" in err
    assert f"aws ec2 create-tags --resources {groups[2]} --tags" in err

    ec2.create_tags(Resources=[groups[2]], Tags=TAG)
    code, out, err = cli(capsys, moto_server, region, *export_argv(
        bucket, "--subnet-id", net["subnet"], "--security-groups", spec, "--dry-run"))
    assert code == 0, err
    for field, group in zip(network.GROUP_FIELDS.values(), groups):
        assert f'"{field}": "{group}"' in out
    assert f'"EmrManagedMasterSecurityGroup":"{groups[0]}"' in out  # in --ec2-attributes too


def test_doctor_prints_each_gap_with_its_fix_and_passes_once_fixed(moto_server, capsys, unique):
    region = "ca-central-1"
    aws = cfg(moto_server, region)
    ec2, s3, iam, ddb = (client(aws, s) for s in ("ec2", "s3", "iam", "dynamodb"))
    net = private_vpc(ec2, endpoints=("s3",))
    bucket = f"doc-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    name = f"Orders{unique}"
    argv = ["emr", "doctor", "--table", name, "--bucket", bucket, "--log-uri",
            f"s3://{bucket}/logs/", "--subnet-id", net["subnet"],
            "--service-role", f"NoRole{unique}", "--instance-profile", f"NoProfile{unique}"]

    code, out, _ = cli(capsys, moto_server, region, *argv)

    assert code == 1
    lines = out.splitlines()
    assert f"ok  subnet: {net['subnet']} ({net['vpc']}, " in lines[0]
    assert any(line.startswith("GAP dynamodb endpoint: private subnet") and
               f"aws ec2 create-vpc-endpoint --vpc-id {net['vpc']} --vpc-endpoint-type Gateway "
               f"--service-name com.amazonaws.{region}.dynamodb --route-table-ids {net['rtb']} "
               f"--region {region}" in line for line in lines)
    fix = f"ddbpipe iam setup --region {region} --service-role NoRole{unique} --instance-role " \
          f"NoProfile{unique}"
    assert f"GAP service role NoRole{unique}: does not exist. Fix: {fix}" in lines
    assert f"GAP table {name}: does not exist in {region}. Fix: check the name and --region " \
           f"(aws dynamodb list-tables --region {region})." in lines
    assert f"ok  bucket s3://{bucket}/: writable (a probe object was written and deleted)." \
        in lines
    assert f"ok  release emr-7.12.0: available in {region}." in lines
    assert f"GAP instance profile NoProfile{unique}: does not exist. Fix: {fix}" in lines
    assert lines[-1].startswith("4 gap(s): a run would not start.")
    assert objects(s3, bucket) == []  # the probes are gone

    ec2.create_vpc_endpoint(VpcId=net["vpc"], VpcEndpointType="Gateway",
                            RouteTableIds=[net["rtb"]],
                            ServiceName=network.endpoint_service(region, "dynamodb"))
    emr_roles(iam)
    table(ddb, name)
    code, out, _ = cli(capsys, moto_server, region, *argv[:-4])
    assert code == 0, out
    assert all(line.startswith("ok ") for line in out.splitlines()[:-1])
    assert out.splitlines()[-1] == "no gaps: a run would start."

    code, out, _ = cli(capsys, moto_server, region, *argv[:-4], "--release-label", "emr-1.0.0")
    assert code == 1
    assert (f"GAP release emr-1.0.0: is not offered in {region}. Fix: pick one of `aws emr "
            f"list-release-labels --region {region}` and pass --release-label.") in out


def test_export_runs_the_doctor_then_launches_into_the_checked_subnet(
        moto_server, capsys, unique, built, monkeypatch):
    from ddbpipe.commands import emr as emr_cmd

    region = "eu-north-1"
    aws = cfg(moto_server, region)
    ec2, s3, iam, ddb, emr = (client(aws, s) for s in ("ec2", "s3", "iam", "dynamodb", "emr"))
    net = private_vpc(ec2, endpoints=("s3", "dynamodb"))
    bucket = f"run-{unique}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    emr_roles(iam)
    argv = export_argv(bucket, "--subnet-id", net["subnet"], "--timeout", "0.01",
                       "--poll-seconds", "0.2")
    clusters = clusters_of(emr)

    code, _, err = cli(capsys, moto_server, region, *argv)  # table Orders is missing
    assert code == 2
    assert err.startswith(f"ddbpipe: error: table Orders: does not exist in {region}.")
    assert clusters_of(emr) == clusters and objects(s3, bucket) == []

    table(ddb, "Orders")
    monkeypatch.setattr(emr_cmd, "build_artifacts", lambda tmp: built)
    code, out, err = cli(capsys, moto_server, region, *argv)
    assert code == 3, err  # launched, then stopped at the --timeout
    (cluster,) = clusters_of(emr) - clusters
    attrs = emr.describe_cluster(ClusterId=cluster)["Cluster"]["Ec2InstanceAttributes"]
    assert attrs["Ec2SubnetId"] == net["subnet"]
    assert f"note: subnet: {net['subnet']} ({net['vpc']}" in out
