"""Where the cluster runs: subnets and EMR-managed security groups, checked against EC2.

``EMR_DefaultRole_V2`` (AmazonEMRServicePolicy_v2) launches instances only into subnets and
security groups tagged ``for-use-with-amazon-emr-managed-policies=true``, and creates EMR's
default security groups only in a VPC carrying the same tag. So before RunJobFlow the subnets
and groups are read (DescribeSubnets / DescribeSecurityGroups, filtered by id so a missing one is
named instead of failing the whole call) and every gap comes with the exact
``aws ec2 create-tags`` command. Without ``--subnet-id`` a tagged subnet of the region is picked
and named, or the run is refused with the untagged candidates; never the default VPC silently.

A private subnet (its route table has no 0.0.0.0/0 route to an internet or NAT gateway) needs S3
and DynamoDB gateway endpoints on that route table: the nodes reach nothing else.

Parsing and judging are pure; the ``read_*`` functions are the only EC2 calls.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence

from ddbpipe.aws import error_code
from ddbpipe.cluster.definition import EMR_MANAGED_POLICY_TAG
from ddbpipe.cluster.findings import Finding, gap, ok, unknown
from ddbpipe.errors import ConfigError

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client

TAG_VALUE = "true"
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
#: ``--security-groups`` keys and the RunJobFlow Instances field each one sets.
GROUP_FIELDS = {
    "leader": "EmrManagedMasterSecurityGroup",
    "core": "EmrManagedSlaveSecurityGroup",
    "service": "ServiceAccessSecurityGroup",
}
#: The groups EMR creates in a VPC when none are given, and reuses on later launches.
DEFAULT_GROUPS = ("ElasticMapReduce-master", "ElasticMapReduce-slave")
#: Access errors that make a check "unknown" rather than a gap.
_NO_ACCESS = {"UnauthorizedOperation", "AccessDenied", "AccessDeniedException"}


# --- the options ------------------------------------------------------------------------------


def parse_subnet_ids(values: Optional[Sequence[str]]) -> tuple[str, ...]:
    """``--subnet-id`` given once or more, each one id or several separated by commas."""
    ids: list[str] = []
    for value in values or ():
        for part in value.split(","):
            sid = part.strip()
            if not sid:
                continue
            if not _SUBNET.match(sid):
                raise ConfigError(f"--subnet-id {sid!r} is not a subnet id.",
                                  "Give one like subnet-0abc1234 (aws ec2 describe-subnets).")
            if sid not in ids:
                ids.append(sid)
    return tuple(ids)


@dataclass(frozen=True)
class SecurityGroups:
    """The EMR-managed groups of the leader and core nodes, and the service-access group."""

    leader: Optional[str] = None
    core: Optional[str] = None
    service: Optional[str] = None

    def ids(self) -> list[str]:
        return [g for g in (self.leader, self.core, self.service) if g]

    def fields(self) -> tuple[tuple[str, str], ...]:
        """The RunJobFlow ``Instances`` fields these groups set."""
        return tuple((GROUP_FIELDS[k], v) for k, v in
                     (("leader", self.leader), ("core", self.core), ("service", self.service)) if v)


def parse_security_groups(text: Optional[str]) -> SecurityGroups:
    """``leader=sg-..,core=sg-..[,service=sg-..]``; leader and core go together."""
    if text is None:
        return SecurityGroups()
    usage = "Write --security-groups leader=sg-...,core=sg-...[,service=sg-...]."
    given: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = (p.strip() for p in part.partition("="))
        if not sep or key not in GROUP_FIELDS:
            raise ConfigError(f"--security-groups item {part.strip()!r} is not one of "
                              f"{', '.join(k + '=sg-...' for k in GROUP_FIELDS)}.", usage)
        if key in given:
            raise ConfigError(f"--security-groups names {key} twice.", usage)
        if not _GROUP.match(value):
            raise ConfigError(f"--security-groups {key}={value!r} is not a security group id.",
                              "Give one like sg-0abc1234 (aws ec2 describe-security-groups).")
        given[key] = value
    if ("leader" in given) != ("core" in given):
        raise ConfigError("--security-groups gives only one of leader and core: EMR takes its "
                          "managed groups as a pair.", usage)
    return SecurityGroups(**given)


# --- commands that fix a gap ------------------------------------------------------------------


def tag_command(resources: Sequence[str], region: str) -> str:
    return shlex.join(["aws", "ec2", "create-tags", "--resources", *resources, "--tags",
                       f"Key={EMR_MANAGED_POLICY_TAG},Value={TAG_VALUE}", "--region", region])


def endpoint_service(region: str, service: str) -> str:
    """The gateway endpoint's service name (China regions use a reversed ``cn.`` prefix)."""
    prefix = "cn.com.amazonaws" if region.startswith("cn-") else "com.amazonaws"
    return f"{prefix}.{region}.{service}"


# --- what EC2 says ----------------------------------------------------------------------------


def _lack(ids: Sequence[str]) -> str:
    return "lacks" if len(ids) == 1 else "lack"


def _tagged(resource: Any) -> bool:
    return any(t.get("Key") == EMR_MANAGED_POLICY_TAG and t.get("Value") == TAG_VALUE
               for t in resource.get("Tags") or [])


@dataclass(frozen=True)
class Subnet:
    id: str
    vpc_id: str
    zone: str
    tagged: bool
    free_addresses: int
    default_for_zone: bool = False

    def describe(self) -> str:
        default = ", default VPC" if self.default_for_zone else ""
        return f"{self.id} ({self.vpc_id}{default}, {self.zone}, {self.free_addresses} free)"


@dataclass(frozen=True)
class Group:
    id: str
    vpc_id: str
    tagged: bool


def read_subnets(ec2: EC2Client, ids: Sequence[str] = ()) -> list[Subnet]:
    """The subnets of ``ids`` that exist (all of the region without ids)."""
    kwargs: dict[str, Any] = {"Filters": [{"Name": "subnet-id", "Values": list(ids)}]} if ids \
        else {}
    return [Subnet(s["SubnetId"], s["VpcId"], s.get("AvailabilityZone", "?"), _tagged(s),
                   int(s.get("AvailableIpAddressCount", 0)), bool(s.get("DefaultForAz")))
            for page in ec2.get_paginator("describe_subnets").paginate(**kwargs)
            for s in page.get("Subnets", [])]


def read_groups(ec2: EC2Client, ids: Sequence[str]) -> list[Group]:
    if not ids:
        return []
    pages = ec2.get_paginator("describe_security_groups").paginate(
        Filters=[{"Name": "group-id", "Values": list(ids)}])
    return [Group(g["GroupId"], g.get("VpcId", ""), _tagged(g))
            for page in pages for g in page.get("SecurityGroups", [])]


def read_vpc_tagged(ec2: EC2Client, vpc_id: str) -> bool:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
    return bool(vpcs) and _tagged(vpcs[0])


def read_default_groups(ec2: EC2Client, vpc_id: str) -> list[Group]:
    groups = ec2.describe_security_groups(Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]},
        {"Name": "group-name", "Values": list(DEFAULT_GROUPS)}])["SecurityGroups"]
    return [Group(g["GroupId"], vpc_id, _tagged(g)) for g in groups]


# --- judging (pure) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SubnetChoice:
    """The subnet the request names (None: no usable subnet) and what was found on the way."""

    subnet: Optional[Subnet]
    findings: tuple[Finding, ...]


def _most_free(subnets: Sequence[Subnet]) -> Subnet:
    return sorted(subnets, key=lambda s: (-s.free_addresses, s.id))[0]


def choose_subnet(requested: Sequence[str], found: Sequence[Subnet], region: str) -> SubnetChoice:
    """Check the subnets given, or pick a tagged one of the region; a gap when none fits.

    The request uses instance groups, which take one subnet (``Ec2SubnetId``; EMR chooses among
    several, ``Ec2SubnetIds``, only for instance fleets): of several given, the tagged one with
    the most free addresses is taken and named.
    """
    if requested:
        by_id = {s.id: s for s in found}
        missing = [sid for sid in requested if sid not in by_id]
        if missing:
            return SubnetChoice(None, (gap(
                "subnet", f"{', '.join(missing)} not found in {region}.",
                f"check the id and --region (aws ec2 describe-subnets --subnet-ids "
                f"{' '.join(missing)} --region {region})."),))
        given = [by_id[sid] for sid in requested]
        untagged = [s.id for s in given if not s.tagged]
        if untagged:
            return SubnetChoice(None, (gap(
                "subnet", f"{', '.join(untagged)} {_lack(untagged)} the tag "
                f"{EMR_MANAGED_POLICY_TAG}=true that EMR_DefaultRole_V2 requires to launch into "
                "a subnet.",
                tag_command(untagged, region)),))
        chosen = _most_free(given)
        why = f"; of the {len(given)} given, the one with the most free addresses (instance " \
              "groups take one subnet)" if len(given) > 1 else ""
        return SubnetChoice(chosen, (ok("subnet", f"{chosen.describe()}, tagged{why}."),))
    tagged = [s for s in found if s.tagged]
    if tagged:
        chosen = _most_free(tagged)
        return SubnetChoice(chosen, (ok(
            "subnet", f"no --subnet-id: using {chosen.describe()}, the tagged subnet of {region} "
            f"with the most free addresses ({len(tagged)} tagged)."),))
    if not found:
        return SubnetChoice(None, (gap(
            "subnet", f"no --subnet-id and no subnet at all in {region}.",
            f"create a VPC with a subnet (aws ec2 create-default-vpc --region {region}), tag the "
            "subnet, and pass --subnet-id."),))
    shown = sorted(found, key=lambda s: (-s.free_addresses, s.id))
    listed = "; ".join(s.describe() for s in shown[:8]) + ("; ..." if len(shown) > 8 else "")
    return SubnetChoice(None, (gap(
        "subnet", f"no --subnet-id, and no subnet of {region} carries the tag "
        f"{EMR_MANAGED_POLICY_TAG}=true that EMR_DefaultRole_V2 requires (untagged: {listed}).",
        f"tag the one to use, e.g. {tag_command([shown[0].id], region)}, or pass --subnet-id."),))


def judge_groups(groups: SecurityGroups, found: Sequence[Group], vpc_id: Optional[str],
                 region: str) -> list[Finding]:
    """Each group given exists, is in the subnet's VPC and carries the tag."""
    if not groups.ids():
        return []
    by_id = {g.id: g for g in found}
    missing = [g for g in groups.ids() if g not in by_id]
    if missing:
        return [gap("security groups", f"{', '.join(missing)} not found in {region}.",
                    f"check the ids and --region (aws ec2 describe-security-groups --group-ids "
                    f"{' '.join(missing)} --region {region}).")]
    if vpc_id:
        elsewhere = [g for g in groups.ids() if by_id[g].vpc_id != vpc_id]
        if elsewhere:
            return [gap("security groups", f"{', '.join(elsewhere)} are not in {vpc_id}, the "
                        "subnet's VPC.", "give groups of the subnet's VPC in --security-groups.")]
    untagged = [g for g in groups.ids() if not by_id[g].tagged]
    if untagged:
        return [gap("security groups", f"{', '.join(untagged)} {_lack(untagged)} the tag "
                    f"{EMR_MANAGED_POLICY_TAG}=true that EMR_DefaultRole_V2 requires.",
                    tag_command(untagged, region))]
    return [ok("security groups", f"{', '.join(groups.ids())} exist and are tagged.")]


def judge_default_groups(vpc_id: str, vpc_tagged: bool, existing: Sequence[Group],
                         region: str) -> Finding:
    """Without --security-groups EMR reuses its default groups of the VPC, or creates them."""
    untagged = sorted(g.id for g in existing if not g.tagged)
    if untagged:
        return gap("security groups", f"no --security-groups: EMR reuses its default groups "
                   f"{', '.join(untagged)} in {vpc_id}, which {_lack(untagged)} the tag "
                   f"{EMR_MANAGED_POLICY_TAG}=true.", tag_command(untagged, region))
    if len(existing) >= len(DEFAULT_GROUPS):
        return ok("security groups", f"no --security-groups: EMR's default groups in {vpc_id} "
                  "are tagged.")
    if vpc_tagged:
        return ok("security groups", f"no --security-groups: EMR creates its default groups in "
                  f"{vpc_id}, which is tagged.")
    return gap("security groups", f"no --security-groups, and {vpc_id} lacks the tag "
               f"{EMR_MANAGED_POLICY_TAG}=true that EMR_DefaultRole_V2 needs to create EMR's "
               "default security groups in it.",
               f"{tag_command([vpc_id], region)} (or pass --security-groups leader=..,core=..).")


# --- private subnets: routes and gateway endpoints --------------------------------------------


@dataclass(frozen=True)
class Routes:
    route_table: str
    internet: Optional[str]  # igw-/nat- id of a 0.0.0.0/0 route, None for a private subnet


def read_routes(ec2: EC2Client, subnet: Subnet) -> Optional[Routes]:
    """The subnet's route table (its own association, else the VPC's main table)."""
    tables = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet.id]}])["RouteTables"]
    if not tables:
        tables = ec2.describe_route_tables(
            Filters=[{"Name": "vpc-id", "Values": [subnet.vpc_id]},
                     {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    if not tables:
        return None
    table = tables[0]
    internet = None
    for route in table.get("Routes", []):
        if route.get("DestinationCidrBlock") != "0.0.0.0/0" or route.get("State") == "blackhole":
            continue
        target = route.get("NatGatewayId") or route.get("GatewayId") or ""
        if target.startswith(("igw-", "nat-")):
            internet = target
    return Routes(table["RouteTableId"], internet)


def read_gateway_endpoints(ec2: EC2Client, vpc_id: str) -> list[dict[str, Any]]:
    pages = ec2.get_paginator("describe_vpc_endpoints").paginate(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
    return [dict(e) for page in pages for e in page.get("VpcEndpoints", [])
            if e.get("VpcEndpointType", "Gateway") == "Gateway"]


def judge_private_routes(subnet: Subnet, routes: Optional[Routes],
                         endpoints: Sequence[dict[str, Any]], region: str) -> list[Finding]:
    if routes is None:
        return [gap("routes", f"{subnet.id} has no route table.",
                    f"associate one (aws ec2 associate-route-table --subnet-id {subnet.id} "
                    f"--route-table-id RTB --region {region}).")]
    if routes.internet:
        return [ok("routes", f"{subnet.id} reaches the internet through {routes.internet} "
                   f"({routes.route_table}).")]
    out = []
    for service in ("s3", "dynamodb"):
        name = endpoint_service(region, service)
        mine = [e for e in endpoints if e.get("ServiceName") == name]
        on_table = [e for e in mine if routes.route_table in (e.get("RouteTableIds") or [])]
        check = f"{service} endpoint"
        if on_table:
            out.append(ok(check, f"private subnet {subnet.id}: {on_table[0]['VpcEndpointId']} "
                          f"routes {service} from {routes.route_table}."))
        elif mine:
            out.append(gap(check, f"private subnet {subnet.id}: {mine[0]['VpcEndpointId']} "
                           f"({name}) is not on its route table {routes.route_table}.",
                           shlex.join(["aws", "ec2", "modify-vpc-endpoint", "--vpc-endpoint-id",
                                       mine[0]["VpcEndpointId"], "--add-route-table-ids",
                                       routes.route_table, "--region", region])))
        else:
            out.append(gap(check, f"private subnet {subnet.id} (no 0.0.0.0/0 route to an "
                           f"internet or NAT gateway in {routes.route_table}) and no {service} "
                           f"gateway endpoint in {subnet.vpc_id}: the nodes cannot reach "
                           f"{'S3' if service == 's3' else 'DynamoDB'}.",
                           shlex.join(["aws", "ec2", "create-vpc-endpoint", "--vpc-id",
                                       subnet.vpc_id, "--vpc-endpoint-type", "Gateway",
                                       "--service-name", name, "--route-table-ids",
                                       routes.route_table, "--region", region])))
    return out


# --- one pass over the network ----------------------------------------------------------------


def _denied(check: str, err: BaseException) -> Finding:
    return unknown(check, f"not checked: EC2 refused the read ({error_code(err)}); EMR will "
                   "check at launch.")


def check_network(ec2: EC2Client, requested: Sequence[str], groups: SecurityGroups,
                  region: str, *, routes: bool = True) -> SubnetChoice:
    """Choose and check the subnet, the groups, the VPC and (``routes``) a private subnet's way
    to S3 and DynamoDB. Findings in order; the subnet is None when none may be used."""
    import botocore.exceptions

    try:
        found = read_subnets(ec2, requested)
    except botocore.exceptions.ClientError as err:
        if error_code(err) not in _NO_ACCESS:
            raise
        if not requested:
            return SubnetChoice(None, (gap(
                "subnet", f"no --subnet-id, and EC2 refused to list the subnets of {region} "
                f"({error_code(err)}).", "pass --subnet-id (a subnet tagged "
                f"{EMR_MANAGED_POLICY_TAG}=true), or allow ec2:DescribeSubnets."),))
        first = Subnet(requested[0], "", "?", True, 0)
        return SubnetChoice(first, (_denied("subnet", err),))
    choice = choose_subnet(requested, found, region)
    subnet = choice.subnet
    if subnet is None:
        return choice
    findings = list(choice.findings)
    try:
        if groups.ids():
            findings += judge_groups(groups, read_groups(ec2, groups.ids()), subnet.vpc_id,
                                     region)
        else:
            findings.append(judge_default_groups(
                subnet.vpc_id, read_vpc_tagged(ec2, subnet.vpc_id),
                read_default_groups(ec2, subnet.vpc_id), region))
        if routes:
            findings += judge_private_routes(subnet, read_routes(ec2, subnet),
                                             read_gateway_endpoints(ec2, subnet.vpc_id), region)
    except botocore.exceptions.ClientError as err:
        if error_code(err) not in _NO_ACCESS:
            raise
        findings.append(_denied("security groups and routes", err))
    return SubnetChoice(subnet, tuple(findings))
