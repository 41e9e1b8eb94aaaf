"""Would a run start? Each check reads the account and returns :class:`Finding` values.

``ddbpipe emr doctor`` prints them one a line; ``ddbpipe emr export|import`` runs the same checks
before RunJobFlow and refuses with the first gap (``--skip-doctor`` skips them). The network checks
live in :mod:`ddbpipe.cluster.network`; here: the roles and instance profile ``ddbpipe iam setup``
creates, S3 folders writable (a probe object written and deleted) or readable, tables, and the
EMR release in the region.
"""

from __future__ import annotations

import secrets
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ddbpipe.aws import error_code
from ddbpipe.cluster.findings import Finding, gap, ok, unknown
from ddbpipe.cluster.iam import EMR_SERVICE_POLICY, RoleNames
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_emr import EMRClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client

PROBE_NAME = "ddbpipe-doctor-probe-"
_NO_ACCESS = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation",
              "UnrecognizedClientException"}
#: What an endpoint answers for an operation it does not serve (LocalStack, older moto).
_NOT_SERVED = {"InvalidAction", "UnknownOperationException", "NotImplemented",
               "InvalidRequestException"}


def _call(check: str, fn: Callable[[], Finding]) -> Finding:
    """``fn()``; an access refusal makes the check unknown instead of failing it."""
    import botocore.exceptions

    try:
        return fn()
    except botocore.exceptions.ClientError as err:
        if error_code(err) in _NO_ACCESS:
            return unknown(check, f"not checked: refused ({error_code(err)}).")
        raise


def setup_command(names: RoleNames, region: str) -> str:
    """The `ddbpipe iam setup` that creates ``names`` (as the run will use them)."""
    argv = ["ddbpipe", "iam", "setup", "--region", region]
    if names != RoleNames():
        argv += ["--service-role", names.service_role, "--instance-role", names.instance_role]
    return shlex.join(argv)


# --- roles ------------------------------------------------------------------------------------


def check_service_role(iam: IAMClient, names: RoleNames, region: str) -> Finding:
    import botocore.exceptions

    check = f"service role {names.service_role}"

    def run() -> Finding:
        try:
            iam.get_role(RoleName=names.service_role)
        except botocore.exceptions.ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return gap(check, "does not exist.", setup_command(names, region))
        attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(
            RoleName=names.service_role)["AttachedPolicies"]]
        inline = iam.list_role_policies(RoleName=names.service_role)["PolicyNames"]
        if not attached and not inline:
            return gap(check, "has no policy: EMR cannot start instances with it.",
                       shlex.join(["aws", "iam", "attach-role-policy", "--role-name",
                                   names.service_role, "--policy-arn", EMR_SERVICE_POLICY]))
        policies = ", ".join([a.rsplit("/", 1)[-1] for a in attached] + list(inline))
        return ok(check, f"exists ({policies}).")

    return _call(check, run)


def check_instance_profile(iam: IAMClient, names: RoleNames, region: str) -> Finding:
    import botocore.exceptions

    check = f"instance profile {names.instance_profile}"

    def run() -> Finding:
        try:
            profile = iam.get_instance_profile(
                InstanceProfileName=names.instance_profile)["InstanceProfile"]
        except botocore.exceptions.ClientError as err:
            if error_code(err) != "NoSuchEntity":
                raise
            return gap(check, "does not exist.", setup_command(names, region))
        roles = [r["RoleName"] for r in profile.get("Roles", [])]
        if not roles:
            try:
                iam.get_role(RoleName=names.instance_role)
            except botocore.exceptions.ClientError as err:
                if error_code(err) != "NoSuchEntity":
                    raise
                return gap(check, f"holds no role, and role {names.instance_role} does not "
                           "exist.", setup_command(names, region))
            return gap(check, f"holds no role: the nodes would run without {names.instance_role}.",
                       shlex.join(["aws", "iam", "add-role-to-instance-profile",
                                   "--instance-profile-name", names.instance_profile,
                                   "--role-name", names.instance_role]))
        return ok(check, f"exists with role {roles[0]}.")

    return _call(check, run)


# --- S3 ---------------------------------------------------------------------------------------


def _bucket_gap(check: str, folder: S3Uri, code: str, region: str, verbs: str) -> Finding:
    if code in ("NoSuchBucket", "404"):
        return gap(check, f"bucket {folder.bucket} does not exist.",
                   shlex.join(["aws", "s3", "mb", f"s3://{folder.bucket}", "--region", region]))
    return gap(check, f"cannot {verbs} s3://{folder.bucket}/{folder.prefix} ({code}).",
               f"grant s3:{verbs.split()[0].capitalize()}Object on arn:aws:s3:::{folder.bucket}/"
               f"{folder.prefix}* (see `ddbpipe iam policy`).")


def check_writable(s3: S3Client, folder: S3Uri, what: str, region: str) -> Finding:
    """Write and delete a probe object in ``folder``: what the run will do there."""
    import botocore.exceptions

    check = f"{what} s3://{folder.bucket}/{folder.prefix}"
    key = f"{folder.prefix}{PROBE_NAME}{secrets.token_hex(4)}"
    try:
        s3.put_object(Bucket=folder.bucket, Key=key, Body=b"ddbpipe emr doctor probe\n")
    except botocore.exceptions.ClientError as err:
        return _bucket_gap(check, folder, error_code(err), region, "put objects into")
    try:
        s3.delete_object(Bucket=folder.bucket, Key=key)
    except botocore.exceptions.ClientError as err:
        return gap(check, f"written, but the probe s3://{folder.bucket}/{key} could not be "
                   f"deleted ({error_code(err)}); a run deletes its staged files.",
                   f"grant s3:DeleteObject on arn:aws:s3:::{folder.bucket}/{folder.prefix}*, then "
                   f"aws s3 rm s3://{folder.bucket}/{key}")
    return ok(check, "writable (a probe object was written and deleted).")


def check_readable(s3: S3Client, folder: S3Uri, what: str, region: str) -> Finding:
    import botocore.exceptions

    check = f"{what} s3://{folder.bucket}/{folder.prefix}"
    try:
        listed = s3.list_objects_v2(Bucket=folder.bucket, Prefix=folder.prefix, MaxKeys=1)
    except botocore.exceptions.ClientError as err:
        return _bucket_gap(check, folder, error_code(err), region, "list")
    if not listed.get("KeyCount"):
        return gap(check, "holds no object.", "check --from (aws s3 ls "
                   f"s3://{folder.bucket}/{folder.prefix}).")
    return ok(check, "readable.")


# --- DynamoDB and EMR -------------------------------------------------------------------------


def check_table(ddb: DynamoDBClient, table: str, region: str, *,
                created_by_run: bool = False) -> Finding:
    import botocore.exceptions

    check = f"table {table}"

    def run() -> Finding:
        try:
            status = ddb.describe_table(TableName=table)["Table"].get("TableStatus", "?")
        except botocore.exceptions.ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            if created_by_run:
                return ok(check, f"does not exist in {region}; --create-table makes it.")
            return gap(check, f"does not exist in {region}.",
                       f"check the name and --region (aws dynamodb list-tables --region "
                       f"{region}).")
        return ok(check, f"exists in {region} ({status}).")

    return _call(check, run)


def check_release(emr: EMRClient, label: str, region: str) -> Finding:
    """ListReleaseLabels filtered by the label as a prefix; the label must be listed exactly."""
    import botocore.exceptions

    check = f"release {label}"
    labels: list[str] = []
    kwargs: dict[str, Any] = {"Filters": {"Prefix": label}}
    try:
        while True:
            page = emr.list_release_labels(**kwargs)
            labels += page.get("ReleaseLabels", [])
            if label in labels or not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except botocore.exceptions.ClientError as err:
        code = error_code(err)
        if code in _NO_ACCESS or code in _NOT_SERVED:
            return unknown(check, f"not checked: ListReleaseLabels answered {code}.")
        raise
    if label in labels:
        return ok(check, f"available in {region}.")
    return gap(check, f"is not offered in {region}.",
               f"pick one of `aws emr list-release-labels --region {region}` and pass "
               "--release-label.")


# --- all of it --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clients:
    iam: IAMClient
    s3: S3Client
    ddb: DynamoDBClient
    emr: EMRClient


@dataclass(frozen=True)
class Account:
    """What to check: the run's names (roles, folders, tables, release)."""

    region: str
    roles: RoleNames
    release_label: str
    tables: Sequence[str] = ()
    writable: Sequence[tuple[str, S3Uri]] = ()  # (what, folder): log folder, export destination
    readable: Sequence[tuple[str, S3Uri]] = ()  # (what, folder): import source
    creates_table: bool = False


def account_findings(clients: Clients, account: Account) -> list[Finding]:
    """Every check but the network's, in the order a run meets them."""
    r = account.region
    out = [check_service_role(clients.iam, account.roles, r),
           check_instance_profile(clients.iam, account.roles, r),
           check_release(clients.emr, account.release_label, r)]
    out += [check_writable(clients.s3, folder, what, r) for what, folder in account.writable]
    out += [check_readable(clients.s3, folder, what, r) for what, folder in account.readable]
    out += [check_table(clients.ddb, t, r, created_by_run=account.creates_table)
            for t in account.tables]
    return out


def no_gaps(findings: Sequence[Finding]) -> bool:
    return all(f.status != "gap" for f in findings)


def summary(findings: Sequence[Finding]) -> str:
    gaps = sum(f.status == "gap" for f in findings)
    unknowns = sum(f.status == "unknown" for f in findings)
    tail = f"; {unknowns} not checked" if unknowns else ""
    if gaps:
        return f"{gaps} gap(s): a run would not start. Run each Fix, then `ddbpipe emr doctor` " \
               f"again{tail}."
    return f"no gaps: a run would start{tail}."

