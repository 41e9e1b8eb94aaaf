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


def _add_scope_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--table", action="append", required=required, dest="tables",
                        metavar="TABLE", help="a table the jobs may export/import (repeatable)")
    parser.add_argument("--bucket", required=required,
                        help="the bucket of exports, logs and staged run files")
    parser.add_argument("--export-prefix", action="append", default=[], dest="export_prefixes",
                        metavar="PREFIX",
                        help="the --to prefix of the exports, runs under PREFIX/TABLE/ "
                             "(repeatable; default: REGION, as for --to s3://BUCKET)")
    parser.add_argument("--log-prefix", default="logs", metavar="PREFIX",
                        help="the --log-uri folder in the bucket (default: logs)")
    parser.add_argument("--staging-prefix", metavar="PREFIX",
                        help="where runs stage their files (default: the log folder)")
    parser.add_argument("--create-table", action="store_true",
                        help="also allow dynamodb:CreateTable on these tables (import "
                             "--create-table)")
    parser.add_argument("--account", help="12-digit account id (default: the caller's)")


def _scope(args: argparse.Namespace, region: str, account: str) -> iam.Scope:
    from ddbpipe.cluster.policies import scope

    if not args.tables or not args.bucket:
        from ddbpipe.errors import ConfigError

        raise ConfigError("--table and --bucket go together.",
                          "Give both (the tables and the bucket of their exports), or neither.")
    return scope(args.tables, args.bucket, region, account,
                 export_prefixes=args.export_prefixes, log_prefix=args.log_prefix,
                 staging_prefix=args.staging_prefix, create_table=args.create_table)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("iam", help="create the EMR roles; print a user policy",
                            description="IAM for running ddbpipe on EMR.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    setup = actions.add_parser(
        "setup", help="create the EMR roles; grant the instance role the named tables",
        description="Create the roles an EMR run needs, when absent (safe to run again); with "
                    "--table and --bucket, create or update the instance role's policy so the "
                    "jobs may use those tables and folders only.")
    _add_role_options(setup)
    _add_scope_options(setup, required=False)
    setup.add_argument("--scheduler-role", action="store_true",
                       help=f"also create {iam.SCHEDULER_ROLE}, the role EventBridge Scheduler "
                            "assumes to start scheduled runs")
    add_aws_options(setup)
    setup.set_defaults(func=_setup)

    policy = actions.add_parser(
        "policy", help="print a least-privilege policy for running exports/imports of tables",
        description="Print an IAM policy that lets a user run ddbpipe on EMR for the named "
                    "tables only.")
    _add_scope_options(policy, required=True)
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
    access = None
    if args.tables or args.bucket:
        account = args.account or str(client(aws, "sts").get_caller_identity()["Account"])
        access = _scope(args, aws.region, account)
    iam.ensure_roles(iam_client, names, out, access)
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
    access = _scope(args, aws.region, account)
    names = _names(args)
    doc = iam.user_policy(access, roles=(names.service_role, names.instance_role),
                          schedules=args.schedules)
    print(json.dumps(doc, indent=2), file=out)
    return 0
