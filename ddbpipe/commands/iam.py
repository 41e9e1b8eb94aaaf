"""``ddbpipe iam setup|policy``: the roles EMR runs need, and a least-privilege user policy."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Optional, TextIO

from ddbpipe.aws import add_aws_options, client, resolve
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import iam


def _add_role_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--datapipeline-roles", action="store_true",
                        help=f"the old service's role names ({d.DATAPIPELINE_SERVICE_ROLE}, "
                             f"{d.DATAPIPELINE_INSTANCE_ROLE}) instead of EMR's "
                             f"({d.SERVICE_ROLE}, {d.INSTANCE_ROLE})")
    parser.add_argument("--service-role", help="name of the EMR service role")
    parser.add_argument("--instance-role",
                        help="name of the EC2 instance role (and of its instance profile)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("iam", help="create the EMR roles; print a user policy",
                            description="IAM for running ddbpipe on EMR.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    setup = actions.add_parser(
        "setup", help="create the EMR service role, the instance role and profile when absent",
        description="Create the roles an EMR run needs, when absent (safe to run again).")
    _add_role_options(setup)
    setup.add_argument("--scheduler-role", action="store_true",
                       help=f"also create {iam.SCHEDULER_ROLE}, the role EventBridge Scheduler "
                            "assumes to start scheduled runs")
    add_aws_options(setup)
    setup.set_defaults(func=_setup)

    policy = actions.add_parser(
        "policy", help="print a least-privilege policy for running exports/imports of tables",
        description="Print an IAM policy that lets a user run ddbpipe on EMR for the named "
                    "tables only.")
    policy.add_argument("--table", action="append", required=True, dest="tables",
                        metavar="TABLE", help="a table the user may export/import (repeatable)")
    policy.add_argument("--bucket", required=True, help="the bucket of exports and logs")
    policy.add_argument("--export-prefix", metavar="PREFIX",
                        help="the export folder in the bucket (default: REGION/TABLE for each "
                             "table, as for --to s3://BUCKET)")
    policy.add_argument("--log-prefix", default="logs", metavar="PREFIX",
                        help="the log folder in the bucket (default: logs)")
    policy.add_argument("--account", help="12-digit account id (default: the caller's)")
    policy.add_argument("--schedules", action="store_true",
                        help="also allow ddbpipe schedule create/list/delete")
    _add_role_options(policy)
    add_aws_options(policy)
    policy.set_defaults(func=_policy)


def _names(args: argparse.Namespace) -> iam.RoleNames:
    return iam.role_names(args.datapipeline_roles, args.service_role, args.instance_role)


def _setup(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    iam_client = client(aws, "iam")
    names = _names(args)
    iam.ensure_roles(iam_client, names, out)
    if args.scheduler_role:
        arn = iam.ensure_scheduler_role(iam_client, names, out)
        print(f"scheduler role ARN: {arn}", file=out)
    if names.service_role == d.SERVICE_ROLE:
        print(f"note: {d.SERVICE_ROLE}'s policy only launches into subnets and security groups "
              f"tagged {d.EMR_MANAGED_POLICY_TAG}=true; tag yours, e.g. `aws ec2 create-tags "
              f"--resources SUBNET-ID --tags Key={d.EMR_MANAGED_POLICY_TAG},Value=true` "
              "(ddbpipe tags the cluster itself).", file=out)
    return 0


def _policy(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    account = args.account or str(client(aws, "sts").get_caller_identity()["Account"])
    doc = iam.user_policy(args.tables, args.bucket, aws.region, account, roles=_names(args),
                          export_prefix=args.export_prefix, log_prefix=args.log_prefix,
                          schedules=args.schedules)
    print(json.dumps(doc, indent=2), file=out)
    return 0
