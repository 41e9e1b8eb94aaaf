"""IAM for EMR runs: the roles a cluster needs, and least-privilege policies for users.

Role names default to EMR's own (``EMR_DefaultRole_V2``, ``EMR_EC2_DefaultRole``): they are what
the EMR console and ``aws emr create-default-roles`` use today, and the V2 service policy is the
one AWS keeps current. ``--datapipeline-roles`` picks the old service's names
(``DataPipelineDefaultRole`` / ``DataPipelineDefaultResourceRole``) for accounts that already have
them; either way the roles do the same job (EMR service role, EC2 instance role), so ddbpipe gives
them the same EMR managed policies when it creates them, and leaves existing roles as they are.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Sequence, TextIO

from ddbpipe.aws import error_code
from ddbpipe.checks import check_table_name
from ddbpipe.cluster import definition as d
from ddbpipe.errors import ConfigError, RoleMissing

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import RoleTypeDef, TagTypeDef

EMR_SERVICE_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonEMRServicePolicy_v2"
EMR_EC2_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonElasticMapReduceforEC2Role"
SCHEDULER_ROLE = "ddbpipe-scheduler"
SCHEDULER_POLICY_NAME = "ddbpipe-run-emr-cluster"
SCHEDULE_GROUP = "ddbpipe"
EMR_PRINCIPAL = "elasticmapreduce.amazonaws.com"
EC2_PRINCIPAL = "ec2.amazonaws.com"
SCHEDULER_PRINCIPAL = "scheduler.amazonaws.com"
ROLE_TAGS: list[TagTypeDef] = [{"Key": "created-by", "Value": "ddbpipe"}]

_ACCOUNT = re.compile(r"^\d{12}$")


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


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


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


def _ensure_role(iam: IAMClient, name: str, principal: str, policy_arn: str, description: str,
                 out: TextIO) -> None:
    import botocore.exceptions

    try:
        role = iam.get_role(RoleName=name)["Role"]
    except botocore.exceptions.ClientError as err:
        if error_code(err) != "NoSuchEntity":
            raise
    else:
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


def ensure_roles(iam: IAMClient, names: RoleNames, out: TextIO) -> None:
    """Create the service role, the instance role and its instance profile when absent."""
    _ensure_role(iam, names.service_role, EMR_PRINCIPAL, EMR_SERVICE_POLICY,
                 "EMR service role for ddbpipe clusters", out)
    _ensure_role(iam, names.instance_role, EC2_PRINCIPAL, EMR_EC2_POLICY,
                 "EC2 instance role of ddbpipe's EMR nodes", out)
    _ensure_instance_profile(iam, names.instance_profile, names.instance_role, out)


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
        {"Sid": "RunTaggedClusters", "Effect": "Allow",
         "Action": ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddTags"],
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


def user_policy(
    tables: Sequence[str],
    bucket: str,
    region: str,
    account: str,
    *,
    roles: RoleNames = RoleNames(),  # noqa: B008 - frozen dataclass
    export_prefix: Optional[str] = None,
    log_prefix: str = "logs",
    schedules: bool = False,
    staging_prefix: str = "ddbpipe-staging",
) -> dict[str, Any]:
    """A policy for a user who may export/import exactly ``tables`` through ddbpipe on EMR.

    DynamoDB on those tables only; S3 on the export and log prefixes of ``bucket``; EMR only on
    clusters tagged ``dynamodbdatapipeline=true`` (RunJobFlow must carry the tag, every later call
    must target a tagged cluster); iam:PassRole on the two cluster roles only.
    """
    if not tables:
        raise ConfigError("No table given.", "Pass --table NAME (repeat for several).")
    for table in tables:
        check_table_name(table)
    if not _ACCOUNT.match(account):
        raise ConfigError(f"--account {account!r} is not a 12-digit AWS account id.",
                          "Give it as 123456789012, or leave it out to use the caller's.")
    from ddbpipe.s3uri import S3Uri

    S3Uri.parse(f"s3://{bucket}", "--bucket")
    part = partition(region)
    log_prefix = log_prefix.strip("/")
    if not log_prefix:
        raise ConfigError("--log-prefix is empty: EMR logs need a folder, not the bucket root.",
                          "Give one like logs.")
    if export_prefix is not None and export_prefix.strip("/"):
        export_prefixes = [f"{export_prefix.strip('/')}/"]
    else:  # s3://BUCKET as --to: each table's runs go under REGION/TABLE/
        export_prefixes = [f"{region}/{t}/" for t in tables]
    prefixes = [*export_prefixes, f"{log_prefix}/", f"{staging_prefix.strip('/')}/"]
    bucket_arn = f"arn:{part}:s3:::{bucket}"
    cluster_arn = f"arn:{part}:elasticmapreduce:{region}:{account}:cluster/*"
    iam_arn = f"arn:{part}:iam::{account}:role/"
    statements: list[dict[str, Any]] = [
        {"Sid": "DynamoDBTheseTables", "Effect": "Allow",
         "Action": ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:BatchWriteItem",
                    "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:CreateTable"],
         "Resource": [f"arn:{part}:dynamodb:{region}:{account}:table/{t}" for t in tables]},
        {"Sid": "S3ListExportAndLogPrefixes", "Effect": "Allow",
         "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": bucket_arn,
         "Condition": {"StringLikeIfExists": {"s3:prefix": [f"{p}*" for p in prefixes]}}},
        {"Sid": "S3ExportAndLogObjects", "Effect": "Allow",
         "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
         "Resource": [f"{bucket_arn}/{p}*" for p in prefixes]},
        {"Sid": "EMRStartTaggedClusters", "Effect": "Allow",
         "Action": ["elasticmapreduce:RunJobFlow", "elasticmapreduce:AddTags"],
         "Resource": "*",
         "Condition": {"StringEquals": {f"aws:RequestTag/{d.TAG_KEY}": d.TAG_VALUE}}},
        {"Sid": "EMRUseTaggedClusters", "Effect": "Allow",
         "Action": ["elasticmapreduce:DescribeCluster", "elasticmapreduce:DescribeStep",
                    "elasticmapreduce:ListSteps", "elasticmapreduce:ListBootstrapActions",
                    "elasticmapreduce:AddJobFlowSteps", "elasticmapreduce:CancelSteps",
                    "elasticmapreduce:TerminateJobFlows"],
         "Resource": cluster_arn,
         "Condition": {"StringEquals": {f"aws:ResourceTag/{d.TAG_KEY}": d.TAG_VALUE}}},
        {"Sid": "PassServiceRoleToEMR", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"{iam_arn}{roles.service_role}",
         "Condition": {"StringLike": {"iam:PassedToService": f"{EMR_PRINCIPAL}*"}}},
        {"Sid": "PassInstanceRoleToEC2", "Effect": "Allow", "Action": "iam:PassRole",
         "Resource": f"{iam_arn}{roles.instance_role}",
         "Condition": {"StringLike": {"iam:PassedToService": f"{EC2_PRINCIPAL}*"}}},
        {"Sid": "CheckTheClusterRoles", "Effect": "Allow",
         "Action": ["iam:GetRole", "iam:GetInstanceProfile"],
         "Resource": [f"{iam_arn}{roles.service_role}", f"{iam_arn}{roles.instance_role}",
                      f"arn:{part}:iam::{account}:instance-profile/{roles.instance_profile}"]},
    ]
    if schedules:
        statements += [
            {"Sid": "ManageDdbpipeSchedules", "Effect": "Allow",
             "Action": ["scheduler:CreateSchedule", "scheduler:GetSchedule",
                        "scheduler:DeleteSchedule", "scheduler:GetScheduleGroup",
                        "scheduler:CreateScheduleGroup"],
             "Resource": [f"arn:{part}:scheduler:{region}:{account}:schedule/{SCHEDULE_GROUP}/*",
                          f"arn:{part}:scheduler:{region}:{account}:schedule-group/"
                          f"{SCHEDULE_GROUP}"]},
            {"Sid": "ListSchedules", "Effect": "Allow", "Action": "scheduler:ListSchedules",
             "Resource": "*"},
            {"Sid": "ScheduleDeadLetterQueue", "Effect": "Allow",
             "Action": ["sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:CreateQueue",
                        "sqs:TagQueue"],
             "Resource": f"arn:{part}:sqs:{region}:{account}:ddbpipe-schedules-dlq"},
            {"Sid": "PassSchedulerRole", "Effect": "Allow", "Action": "iam:PassRole",
             "Resource": f"{iam_arn}{SCHEDULER_ROLE}",
             "Condition": {"StringLike": {"iam:PassedToService": SCHEDULER_PRINCIPAL}}},
        ]
    return {"Version": "2012-10-17", "Statement": statements}
