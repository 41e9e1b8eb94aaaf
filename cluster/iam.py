"""IAM for EMR runs: the roles a cluster needs (the policy documents are in ``policies``).

The service role is EMR's own ``EMR_DefaultRole_V2`` with AmazonEMRServicePolicy_v2, the one AWS
keeps current. The instance role is ddbpipe's, ``ddbpipe-instance-role`` (and its instance
profile of the same name), with one customer-managed policy that grants only the named tables and
folders (``policies.instance_policy``); AWS's AmazonElasticMapReduceforEC2Role is deprecated and
grants ``dynamodb:*`` and ``s3:*`` on ``*``, so ddbpipe never attaches it. ``EMR_EC2_DefaultRole``
or the old service's names (``--datapipeline-roles``) are used only when asked for by name.
Existing roles keep their policies; ``--table``/``--bucket`` add (or update) ddbpipe's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, TextIO

from ddbpipe.aws import error_code
from ddbpipe.cluster import definition as d
from ddbpipe.cluster.policies import (  # noqa: F401 - re-exported: callers use iam.*
    EC2_PRINCIPAL,
    EMR_PRINCIPAL,
    SCHEDULE_GROUP,
    SCHEDULER_PRINCIPAL,
    SCHEDULER_ROLE,
    Scope,
    instance_policy,
    partition,
    user_policy,
)
from ddbpipe.errors import ConfigError, RoleMissing

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import RoleTypeDef, TagTypeDef

EMR_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
#: Deprecated by AWS (grants dynamodb:* and s3:* on *): never attached by ddbpipe, and named in
#: a warning when an instance role has it.
EMR_EC2_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceforEC2Role"
SCHEDULER_POLICY_NAME = "ddbpipe-run-emr-cluster"
#: IAM's limit on the versions of one managed policy.
MAX_POLICY_VERSIONS = 5
ROLE_TAGS: list[TagTypeDef] = [{"Key": "created-by", "Value": "ddbpipe"}]


@dataclass(frozen=True)
class RoleNames:
    service_role: str = d.SERVICE_ROLE
    instance_role: str = d.INSTANCE_ROLE

    @property
    def instance_profile(self) -> str:
        """EMR takes the instance profile; ddbpipe names it after its role, as EMR does."""
        return self.instance_role


def role_names(datapipeline: bool = False, service_role: Optional[str] = None,
               instance_role: Optional[str] = None) -> RoleNames:
    base = RoleNames(d.DATAPIPELINE_SERVICE_ROLE, d.DATAPIPELINE_INSTANCE_ROLE) if datapipeline \
        else RoleNames()
    return RoleNames(service_role or base.service_role, instance_role or base.instance_role)


def trust_policy(principal: str, account: Optional[str] = None) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": principal},
                                 "Action": "sts:AssumeRole"}
    if account:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _trusts(role: RoleTypeDef, principal: str) -> bool:
    raw = role.get("AssumeRolePolicyDocument")
    doc: dict[str, Any]
    if isinstance(raw, str):  # the API's URL-encoded JSON, when botocore left it as text
        from urllib.parse import unquote

        doc = json.loads(unquote(raw))
    else:
        doc = dict(raw or {})
    for st in doc.get("Statement", []):
        services = (st.get("Principal") or {}).get("Service", [])
        if isinstance(services, str):
            services = [services]
        if st.get("Effect") == "Allow" and principal in services:
            return True
    return False


def _attach(iam: IAMClient, name: str, policy_arn: str) -> None:
    import botocore.exceptions

    try:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "NoSuchEntity":
            raise ConfigError(
                f"The AWS managed policy {policy_arn} was not found, so role {name} has no "
                "permissions yet.",
                "On AWS, check the partition; on a local moto server, start it with "
                "MOTO_IAM_LOAD_MANAGED_POLICIES=true. Then run `ddbpipe iam setup` again.",
            ) from err
        raise


def _existing_role(iam: IAMClient, name: str) -> Optional[RoleTypeDef]:
    import botocore.exceptions

    try:
        return iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
    return None


def _ensure_role(iam: IAMClient, name: str, principal: str, policy_arn: str, description: str,
                 out: TextIO) -> None:
    import botocore.exceptions

    role = _existing_role(iam, name)
    if role is not None:
        ours = {"Key": "created-by", "Value": "ddbpipe"} in (role.get("Tags") or [])
        attached = [p["PolicyArn"] for p in
                    iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        if ours and policy_arn not in attached:  # an earlier setup stopped half-way
            _attach(iam, name, policy_arn)
            print(f"role {name}: exists, policy {policy_arn.rsplit('/', 1)[-1]} attached",
                  file=out)
            return
        trusted = _trusts(role, principal)
        print(f"role {name}: exists, left as is"
              + ("" if trusted else f" (WARNING: it does not trust {principal}; EMR cannot "
                                    "use it until its trust policy does)"), file=out)
        return
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(principal)),
                        Description=description, Tags=ROLE_TAGS)
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "EntityAlreadyExists":  # created meanwhile by someone else: fine
            raise
    _attach(iam, name, policy_arn)
    print(f"role {name}: created, trusts {principal}, policy {policy_arn.rsplit('/', 1)[-1]}",
          file=out)


def _ensure_instance_profile(iam: IAMClient, name: str, role: str, out: TextIO) -> None:
    import botocore.exceptions

    try:
        profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        created = False
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        try:
            profile = iam.create_instance_profile(InstanceProfileName=name,
                                                  Tags=ROLE_TAGS)["InstanceProfile"]
        except botocore.exceptions.ClientError as again:
            if error_code(again) != "EntityAlreadyExists":
                raise
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        created = True
    roles = [r["RoleName"] for r in profile.get("Roles", [])]
    if role in roles:
        print(f"instance profile {name}: exists with role {role}", file=out)
        return
    if roles:
        print(f"instance profile {name}: holds role {roles[0]}, not {role}; left as is "
              "(an instance profile holds one role)", file=out)
        return
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    print(f"instance profile {name}: {'created' if created else 'exists'}, role {role} added",
          file=out)


def _ensure_instance_role(iam: IAMClient, name: str, out: TextIO) -> str:
    """The nodes' role, created without any AWS managed policy; its ARN."""
    import botocore.exceptions

    role = _existing_role(iam, name)
    if role is not None:
        attached = [p["PolicyArn"] for p in
                    iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        notes = [] if _trusts(role, EC2_PRINCIPAL) else [
            f"WARNING: it does not trust {EC2_PRINCIPAL}; EMR nodes cannot use it until its "
            "trust policy does"]
        if any(a.endswith("/AmazonElasticMapReduceforEC2Role") for a in attached):
            notes.append("WARNING: it has the deprecated AmazonElasticMapReduceforEC2Role, which "
                         "grants dynamodb:* and s3:* on every table and bucket; detach it (`aws "
                         f"iam detach-role-policy --role-name {name} --policy-arn "
                         f"{EMR_EC2_POLICY}`) once ddbpipe's policy is attached")
        print(f"role {name}: exists" + "".join(f" ({n})" for n in notes), file=out)
        return str(role["Arn"])
    try:
        arn = str(iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(EC2_PRINCIPAL)),
            Description="EC2 instance role of ddbpipe's EMR nodes", Tags=ROLE_TAGS,
        )["Role"]["Arn"])
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "EntityAlreadyExists":
            raise
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
    print(f"role {name}: created, trusts {EC2_PRINCIPAL}, no AWS managed policy", file=out)
    return arn


def instance_policy_name(role: str) -> str:
    return f"{role}-access"


def _document(raw: Any) -> Any:
    if isinstance(raw, str):  # the API's URL-encoded JSON, when botocore left it as text
        from urllib.parse import unquote

        return json.loads(unquote(raw))
    return raw


def ensure_managed_policy(iam: IAMClient, arn: str, document: dict[str, Any],
                          description: str, out: TextIO) -> None:
    """Create the customer-managed policy ``arn``, or make ``document`` its default version.

    IAM keeps at most 5 versions of a managed policy; the oldest non-default versions are
    deleted first so that the new one fits.
    """
    import botocore.exceptions

    name = arn.rsplit("/", 1)[-1]
    text = json.dumps(document)
    try:
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        iam.create_policy(PolicyName=name, PolicyDocument=text, Description=description,
                          Tags=ROLE_TAGS)
        print(f"policy {name}: created", file=out)
        return
    default = str(policy.get("DefaultVersionId", ""))
    current = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]
    if _document(current.get("Document")) == document:
        print(f"policy {name}: unchanged ({default})", file=out)
        return
    versions = sorted((v for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]
                       if not v.get("IsDefaultVersion")), key=lambda v: v["CreateDate"])
    pruned: list[str] = []
    while versions and len(versions) + 1 >= MAX_POLICY_VERSIONS:
        old = str(versions.pop(0)["VersionId"])
        iam.delete_policy_version(PolicyArn=arn, VersionId=old)
        pruned.append(old)
    new = iam.create_policy_version(PolicyArn=arn, PolicyDocument=text, SetAsDefault=True)
    print(f"policy {name}: updated to {new['PolicyVersion']['VersionId']} (default)"
          + (f", deleted old {', '.join(pruned)}" if pruned else ""), file=out)


def _attach_own(iam: IAMClient, role: str, arn: str, out: TextIO) -> None:
    attached = [p["PolicyArn"] for p in
                iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]
    if arn not in attached:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
        print(f"role {role}: policy {arn.rsplit('/', 1)[-1]} attached", file=out)


def ensure_roles(iam: IAMClient, names: RoleNames, out: TextIO,
                 access: Optional[Scope] = None) -> None:
    """Create the service role, the instance role and its instance profile when absent; with
    ``access``, create or update the instance role's own policy for those tables and folders."""
    _ensure_role(iam, names.service_role, EMR_PRINCIPAL, EMR_SERVICE_POLICY,
                 "EMR service role for ddbpipe clusters", out)
    role_arn_ = _ensure_instance_role(iam, names.instance_role, out)
    _ensure_instance_profile(iam, names.instance_profile, names.instance_role, out)
    if access is None:
        print(f"note: role {names.instance_role} may read no table or bucket until "
              "`ddbpipe iam setup --table TABLE --bucket BUCKET` grants them.", file=out)
        return
    account = role_arn_.split(":")[4]
    if account != access.account:
        raise ConfigError(f"--account {access.account} is not the account of role "
                          f"{names.instance_role} ({account}).",
                          "Leave --account out: setup uses the caller's account.")
    policy_name = instance_policy_name(names.instance_role)
    arn = f"arn:{access.partition}:iam::{account}:policy/{policy_name}"
    ensure_managed_policy(iam, arn, instance_policy(access),
                          f"ddbpipe jobs on EMR: tables {', '.join(access.tables)}"[:1000], out)
    _attach_own(iam, names.instance_role, arn, out)


def role_arn(iam: IAMClient, name: str) -> str:
    import botocore.exceptions

    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "NoSuchEntity":
            raise RoleMissing(f"The IAM role {name!r} does not exist.",
                              "Create the roles with `ddbpipe iam setup`.") from err
        raise


DLQ_SID = "SendToDeadLetterQueues"


def scheduler_policy(service_role_arn: str, instance_role_arn: str,
                     dlq_arns: Sequence[str] = ()) -> dict[str, Any]:
    """What EventBridge Scheduler needs to call RunJobFlow with ddbpipe's cluster definition.

    With ``dlq_arns``, also to deliver a launch that failed to those dead-letter queues.
    """
    statements: list[dict[str, Any]] = [
        # No AddTags: RunJobFlow's tags are authorized by its own aws:RequestTag condition, and
        # AddTags would let the role tag any cluster (see policies.user_policy).
        {"Sid": "RunTaggedClusters", "Effect": "Allow",
         "Action": "elasticmapreduce:RunJobFlow",
         "Resource": "*",
         "Condition": {"StringEquals": {f"aws:RequestTag/{d.TAG_KEY}": d.TAG_VALUE}}},
        {"Sid": "PassClusterRoles", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": [service_role_arn, instance_role_arn]},
    ]
    if dlq_arns:
        statements.append({"Sid": DLQ_SID, "Effect": "Allow", "Action": "sqs:SendMessage",
                           "Resource": sorted(set(dlq_arns))})
    return {"Version": "2012-10-17", "Statement": statements}


def _granted_dlqs(iam: IAMClient, role: str) -> list[str]:
    """The dead-letter queues the role's ddbpipe policy already names (other schedules' too)."""
    import botocore.exceptions

    try:
        raw = iam.get_role_policy(RoleName=role, PolicyName=SCHEDULER_POLICY_NAME)[
            "PolicyDocument"]
    except botocore.exceptions.ClientError as err:
        if error_code(err) == "NoSuchEntity":
            return []
        raise
    doc: dict[str, Any]
    if isinstance(raw, str):  # the API's URL-encoded JSON, when botocore left it as text
        from urllib.parse import unquote

        doc = json.loads(unquote(raw))
    else:
        doc = dict(raw)
    for st in doc.get("Statement", []):
        if st.get("Sid") == DLQ_SID:
            resource = st.get("Resource", [])
            return [resource] if isinstance(resource, str) else list(resource)
    return []


def ensure_scheduler_role(iam: IAMClient, names: RoleNames, out: TextIO,
                          name: str = SCHEDULER_ROLE, dlq_arn: Optional[str] = None) -> str:
    """The role EventBridge Scheduler assumes to start the cluster; created when absent.

    Its policy is rewritten each time, keeping every dead-letter queue it granted before, so a
    new schedule with another queue does not take the grant from an older one.
    """
    import botocore.exceptions

    service_arn = role_arn(iam, names.service_role)
    instance_arn = role_arn(iam, names.instance_role)
    account = service_arn.split(":")[4]
    try:
        arn = str(iam.get_role(RoleName=name)["Role"]["Arn"])
        print(f"role {name}: exists", file=out)
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
        arn = str(iam.create_role(
            RoleName=name, Tags=ROLE_TAGS,
            AssumeRolePolicyDocument=json.dumps(trust_policy(SCHEDULER_PRINCIPAL, account)),
            Description="EventBridge Scheduler starts ddbpipe EMR clusters with this role",
        )["Role"]["Arn"])
        print(f"role {name}: created, trusts {SCHEDULER_PRINCIPAL}", file=out)
    # Always (re)written: it names the cluster roles, which may have changed.
    dlqs = [*_granted_dlqs(iam, name), *([dlq_arn] if dlq_arn else [])]
    iam.put_role_policy(RoleName=name, PolicyName=SCHEDULER_POLICY_NAME, PolicyDocument=json.dumps(
        scheduler_policy(service_arn, instance_arn, dlqs)))
    if dlq_arn:
        print(f"role {name}: may send to the dead-letter queue {dlq_arn}", file=out)
    return arn
