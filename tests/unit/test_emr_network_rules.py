"""The network options, the pure network judgements and --offline, by equality (no AWS)."""

from __future__ import annotations

import pytest

from ddbpipe.cli import main
from ddbpipe.cluster import awscli
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import network as n
from ddbpipe.cluster.findings import Finding, PreflightGap, raise_first_gap
from ddbpipe.errors import ConfigError

TAG = "Key=for-use-with-amazon-emr-managed-policies,Value=true"
R = "eu-west-1"


def subnet(sid: str, free: int = 100, tagged: bool = True, vpc: str = "vpc-11111111") -> n.Subnet:
    return n.Subnet(sid, vpc, "eu-west-1a", tagged, free)


def test_subnet_ids_repeat_or_comma_separate():
    assert n.parse_subnet_ids(["subnet-0a1b2c3d,subnet-0a1b2c3e", "subnet-0a1b2c3d"]) == (
        "subnet-0a1b2c3d", "subnet-0a1b2c3e")
    assert n.parse_subnet_ids(None) == ()
    with pytest.raises(ConfigError, match="'sn-1' is not a subnet id"):
        n.parse_subnet_ids(["subnet-0a1b2c3d,sn-1"])


def test_security_groups_name_their_role():
    groups = n.parse_security_groups("leader=sg-0000000a, core=sg-0000000b,service=sg-0000000c")
    assert groups.fields() == (("EmrManagedMasterSecurityGroup", "sg-0000000a"),
                               ("EmrManagedSlaveSecurityGroup", "sg-0000000b"),
                               ("ServiceAccessSecurityGroup", "sg-0000000c"))
    assert n.parse_security_groups("service=sg-0000000c").ids() == ["sg-0000000c"]
    assert n.parse_security_groups(None).fields() == ()


@pytest.mark.parametrize("text, message", [
    ("master=sg-0000000a,core=sg-0000000b", "'master=sg-0000000a' is not one of leader=sg-..."),
    ("sg-0000000a", "'sg-0000000a' is not one of"),
    ("leader=sg-0000000a", "only one of leader and core"),
    ("leader=sg-0000000a,core=sg-0000000b,core=sg-0000000c", "names core twice"),
    ("leader=sg-0000000a,core=subnet-1", "core='subnet-1' is not a security group id"),
])
def test_bad_security_groups_are_refused(text, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        n.parse_security_groups(text)


def test_the_request_carries_the_subnet_and_the_groups():
    groups = n.parse_security_groups("leader=sg-0000000a,core=sg-0000000b,service=sg-0000000c")
    opts = d.ClusterOptions(log_uri="s3://bkt/logs", subnet_id="subnet-0a1b2c3d",
                            security_groups=groups.fields(), core_count=1)
    job = d.JobSpec("export", ("--table", "T1x", "--to", "s3://bkt"), ("T1x",), R)
    plan = d.plan_run(job, opts, run="r1", wheel_name="w.whl")
    inst = plan.request["Instances"]
    assert {k: v for k, v in inst.items() if k not in ("InstanceGroups",)} == {
        "KeepJobFlowAliveWhenNoSteps": False, "TerminationProtected": False,
        "Ec2SubnetId": "subnet-0a1b2c3d",
        "EmrManagedMasterSecurityGroup": "sg-0000000a",
        "EmrManagedSlaveSecurityGroup": "sg-0000000b",
        "ServiceAccessSecurityGroup": "sg-0000000c"}
    argv = awscli.create_cluster_cli(plan.request, R)
    assert argv[argv.index("--ec2-attributes") + 1] == (
        '{"InstanceProfile":"ddbpipe-instance-role","SubnetId":"subnet-0a1b2c3d",'
        '"EmrManagedMasterSecurityGroup":"sg-0000000a","EmrManagedSlaveSecurityGroup":'
        '"sg-0000000b","ServiceAccessSecurityGroup":"sg-0000000c"}')


def test_tag_command_is_the_exact_aws_cli_line():
    assert n.tag_command(["subnet-0a1b2c3d", "sg-0000000a"], R) == (
        f"aws ec2 create-tags --resources subnet-0a1b2c3d sg-0000000a --tags {TAG} "
        f"--region {R}")
    assert n.endpoint_service("cn-north-1", "s3") == "cn.com.amazonaws.cn-north-1.s3"


def test_of_several_subnets_the_one_with_most_free_addresses_is_taken():
    found = [subnet("subnet-0000000a", 10), subnet("subnet-0000000b", 300)]
    choice = n.choose_subnet(["subnet-0000000a", "subnet-0000000b"], found, R)
    assert choice.subnet == found[1]
    assert choice.findings[0].status == "ok"
    assert "of the 2 given, the one with the most free addresses" in choice.findings[0].detail


def test_given_subnets_missing_or_untagged_are_gaps_with_the_command():
    found = [subnet("subnet-0000000a", tagged=False), subnet("subnet-0000000b")]
    missing = n.choose_subnet(["subnet-0000000a", "subnet-0000000c"], found, R)
    assert missing.subnet is None
    assert missing.findings[0].detail == f"subnet-0000000c not found in {R}."
    untagged = n.choose_subnet(["subnet-0000000a", "subnet-0000000b"], found, R)
    assert untagged.subnet is None
    assert untagged.findings[0].fix == n.tag_command(["subnet-0000000a"], R)


def test_without_subnet_id_a_tagged_one_is_named_or_the_run_refused():
    default = n.Subnet("subnet-0000000d", "vpc-00000001", "eu-west-1b", False, 4000, True)
    tagged = subnet("subnet-0000000a", 50)
    picked = n.choose_subnet([], [default, tagged], R)
    assert picked.subnet == tagged and "no --subnet-id: using subnet-0000000a" in \
        picked.findings[0].detail
    refused = n.choose_subnet([], [default], R)
    assert refused.subnet is None
    (f,) = refused.findings
    assert "untagged: subnet-0000000d (vpc-00000001, default VPC, eu-west-1b, 4000 free)" \
        in f.detail
    assert f.fix == f"tag the one to use, e.g. {n.tag_command(['subnet-0000000d'], R)}, or " \
                    "pass --subnet-id."
    assert n.choose_subnet([], [], R).findings[0].status == "gap"


def test_groups_must_exist_share_the_vpc_and_carry_the_tag():
    groups = n.parse_security_groups("leader=sg-0000000a,core=sg-0000000b")
    a, b = n.Group("sg-0000000a", "vpc-1", True), n.Group("sg-0000000b", "vpc-1", False)
    assert n.judge_groups(groups, [a], "vpc-1", R)[0].detail == f"sg-0000000b not found in {R}."
    other = n.judge_groups(groups, [a, n.Group("sg-0000000b", "vpc-2", True)], "vpc-1", R)
    assert "sg-0000000b are not in vpc-1" in other[0].detail
    (untagged,) = n.judge_groups(groups, [a, b], "vpc-1", R)
    assert untagged.fix == n.tag_command(["sg-0000000b"], R)
    assert n.judge_groups(n.SecurityGroups(), [], "vpc-1", R) == []


def test_default_groups_need_their_tag_or_a_tagged_vpc():
    assert n.judge_default_groups("vpc-1", True, [], R).status == "ok"
    untagged_vpc = n.judge_default_groups("vpc-1", False, [], R)
    assert untagged_vpc.fix.startswith(n.tag_command(["vpc-1"], R))
    reused = n.judge_default_groups("vpc-1", True, [n.Group("sg-0000000e", "vpc-1", False)], R)
    assert reused.fix == n.tag_command(["sg-0000000e"], R)


def test_a_private_subnet_needs_s3_and_dynamodb_gateway_endpoints_on_its_route_table():
    sub = subnet("subnet-0000000a")
    public = n.judge_private_routes(sub, n.Routes("rtb-1", "igw-1"), [], R)
    assert [f.status for f in public] == ["ok"]
    s3 = {"VpcEndpointId": "vpce-1", "ServiceName": f"com.amazonaws.{R}.s3",
          "RouteTableIds": ["rtb-1"]}
    ddb_elsewhere = {"VpcEndpointId": "vpce-2", "ServiceName": f"com.amazonaws.{R}.dynamodb",
                     "RouteTableIds": ["rtb-9"]}
    found = n.judge_private_routes(sub, n.Routes("rtb-1", None), [s3, ddb_elsewhere], R)
    assert [f.status for f in found] == ["ok", "gap"]
    assert found[1].fix == ("aws ec2 modify-vpc-endpoint --vpc-endpoint-id vpce-2 "
                            f"--add-route-table-ids rtb-1 --region {R}")
    (none,) = [f for f in n.judge_private_routes(sub, n.Routes("rtb-1", None), [s3], R)
               if f.status == "gap"]
    assert none.fix == ("aws ec2 create-vpc-endpoint --vpc-id vpc-11111111 --vpc-endpoint-type "
                        f"Gateway --service-name com.amazonaws.{R}.dynamodb --route-table-ids "
                        f"rtb-1 --region {R}")


def test_the_first_gap_is_the_one_line_error():
    findings = [Finding("a", "ok", "fine"), Finding("b", "unknown", "?"),
                Finding("c", "gap", "is missing.", "do X."), Finding("d", "gap", "no.", "Y.")]
    with pytest.raises(PreflightGap) as info:
        raise_first_gap(findings, "(or --skip-doctor)")
    assert str(info.value) == "c: is missing. Fix: do X. (or --skip-doctor)"
    raise_first_gap(findings[:2])  # ok and unknown never stop a run


def test_offline_dry_run_sizes_without_aws(monkeypatch, capsys):
    for var in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(var, raising=False)
    import botocore.endpoint

    def no_call(*args, **kwargs):
        raise AssertionError("--offline made an AWS call")

    monkeypatch.setattr(botocore.endpoint.Endpoint, "make_request", no_call)
    base = ["emr", "export", "--table", "Orders", "--to", "s3://bkt", "--log-uri",
            "s3://bkt/logs/", "--region", R, "--dry-run", "--offline"]
    assert main([*base, "--core-count", "3", "--subnet-id", "subnet-0a1b2c3d,subnet-0a1b2c3e"]) \
        == 0
    out = capsys.readouterr().out
    assert "--core-count 3" in out and '"Ec2SubnetId": "subnet-0a1b2c3d"' in out
    assert "DescribeTable" not in out

    assert main(base) == 2
    assert capsys.readouterr().err == (
        "ddbpipe: error: --offline cannot size the cluster: it reads no table, and neither "
        "--read-capacity nor --core-count is given. Pass --read-capacity UNITS or --core-count N "
        "(or drop --offline).\n")
    assert main([*base[:-2], "--offline", "--core-count", "1"]) == 2
    assert "--offline only goes with --dry-run" in capsys.readouterr().err
