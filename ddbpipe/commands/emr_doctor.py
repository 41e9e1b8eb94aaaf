"""``ddbpipe emr doctor``, and its checks before ``ddbpipe emr export|import`` starts a cluster.

Also the options of this part of the cluster definition: ``--subnet-id`` / ``--security-groups``
(network), ``--skip-doctor`` and ``--offline``. The checks themselves are in
:mod:`ddbpipe.cluster.network` and :mod:`ddbpipe.cluster.doctor`; this module prints.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Optional, TextIO

from ddbpipe.aws import AwsConfig, add_aws_options, client, resolve
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import doctor, network
from ddbpipe.cluster.findings import Finding, raise_first_gap
from ddbpipe.errors import ConfigError, DdbpipeError
from ddbpipe.s3uri import S3Uri

SKIP_HINT = "(or pass --skip-doctor to launch anyway)"

# --- options ----------------------------------------------------------------------------------


def add_role_options(parser: Any) -> None:
    """The cluster's roles, as `ddbpipe emr export|import` and `ddbpipe emr doctor` take them."""
    parser.add_argument("--service-role", help=f"EMR service role (default {d.SERVICE_ROLE})")
    parser.add_argument("--instance-profile",
                        help=f"EC2 instance profile of the nodes (default {d.INSTANCE_ROLE})")
    parser.add_argument("--datapipeline-roles", action="store_true",
                        help=f"use the old service's roles {d.DATAPIPELINE_SERVICE_ROLE} and "
                             f"{d.DATAPIPELINE_INSTANCE_ROLE}")


def add_network_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("EMR network")
    group.add_argument("--subnet-id", action="append", metavar="SUBNET[,SUBNET...]",
                       help="subnet(s) tagged for-use-with-amazon-emr-managed-policies=true; of "
                            "several, the one with the most free addresses is used (default: a "
                            "tagged subnet of the region, named in the output)")
    group.add_argument("--security-groups", metavar="leader=sg-..,core=sg-..[,service=sg-..]",
                       help="EMR-managed security groups of the leader and core nodes (given "
                            "together), and the service-access group for a private subnet "
                            "(default: EMR's own default groups in the subnet's VPC)")


def add_preflight_options(parser: argparse.ArgumentParser, *, offline: bool = True) -> None:
    group = parser.add_argument_group("checks before the launch")
    group.add_argument("--skip-doctor", action="store_true",
                       help="launch without the checks of `ddbpipe emr doctor` (roles, tags, "
                            "endpoints, buckets, tables, release)")
    if not offline:
        return
    group.add_argument("--offline", action="store_true",
                       help="with --dry-run: make no AWS call at all; the cluster is sized from "
                            "--read-capacity/--write-capacity or --core-count")


def security_group_fields(args: argparse.Namespace) -> tuple[tuple[str, str], ...]:
    return network.parse_security_groups(getattr(args, "security_groups", None)).fields()


# --- the launch's pre-flight ------------------------------------------------------------------


def check_offline(args: argparse.Namespace, job: d.JobSpec, options: d.ClusterOptions) -> None:
    """--offline needs --dry-run and something to size from; refused before anything else."""
    if not getattr(args, "offline", False):
        return
    if not args.dry_run:
        raise ConfigError("--offline only goes with --dry-run: a run needs AWS.",
                          "Add --dry-run, or drop --offline.")
    if options.core_count is None and job.capacity is None:
        flag = "--read-capacity" if job.kind == "export" else "--write-capacity"
        raise ConfigError(f"--offline cannot size the cluster: it reads no table, and neither "
                          f"{flag} nor --core-count is given.",
                          f"Pass {flag} UNITS or --core-count N (or drop --offline).")


def sizing_note(job: d.JobSpec, options: d.ClusterOptions) -> Optional[str]:
    """What the dry run read to size the cluster, if anything."""
    if options.core_count is not None or job.capacity is not None:
        return None
    return (f"sized from DescribeTable of {', '.join(job.tables)} (a read; nothing changed); "
            "--offline with --read-capacity/--write-capacity or --core-count makes no AWS call")


def _print(findings: tuple[Finding, ...] | list[Finding], out: TextIO, prefix: str = "") -> None:
    for finding in findings:
        print(f"{prefix}{finding.line()}", file=out)


def _roles(args: argparse.Namespace) -> Any:
    from ddbpipe.cluster.iam import role_names

    return role_names(args.datapipeline_roles, args.service_role, args.instance_profile)


def _job_folders(args: argparse.Namespace, job: d.JobSpec, options: d.ClusterOptions,
                 ) -> tuple[list[tuple[str, S3Uri]], list[tuple[str, S3Uri]]]:
    from ddbpipe import layout

    writable = [("log folder", options.log)]
    readable: list[tuple[str, S3Uri]] = []
    if job.kind == "export":
        dest = S3Uri.parse(args.to, "--to")
        writable += [("export folder", layout.run_folder(dest, job.region, t, ""))
                     for t in job.tables]
    else:
        readable.append(("import source", S3Uri.parse(args.source, "--from")))
        if getattr(args, "state_prefix", None):  # the default place is only used when writable
            writable.append(("import state folder",
                             S3Uri.parse(args.state_prefix, "--state-prefix")))
    return writable, readable


def prepare_network(args: argparse.Namespace, aws: AwsConfig, job: d.JobSpec,
                    options: d.ClusterOptions, out: TextIO) -> d.ClusterOptions:
    """The subnet the request names, checked (with the doctor, unless --skip-doctor).

    Dry run: reads only (no probe objects), and a gap is printed as a warning, not a refusal.
    --offline: the subnet as given (the first of several), nothing read.
    """
    requested = network.parse_subnet_ids(getattr(args, "subnet_id", None))
    groups = network.parse_security_groups(getattr(args, "security_groups", None))
    dry_run = bool(getattr(args, "dry_run", False))
    if getattr(args, "offline", False):
        if requested:
            if len(requested) > 1:
                print(f"# --offline: {requested[0]} of the subnets given goes in the request "
                      "(a run takes the one with the most free addresses)", file=out)
            return dataclasses.replace(options, subnet_id=requested[0])
        print("# --offline: no subnet in the request; a run picks a tagged subnet of the region "
              "(or refuses)", file=out)
        return options
    skip = bool(getattr(args, "skip_doctor", False))
    if skip and len(requested) == 1:
        return dataclasses.replace(options, subnet_id=requested[0])
    choice = _choose(aws, requested, groups, routes=not skip, dry_run=dry_run, out=out)
    if choice is None:
        return options
    findings: list[Finding] = list(choice.findings)
    if not dry_run and not skip:
        writable, readable = _job_folders(args, job, options)
        account = doctor.Account(aws.region, _roles(args), options.release_label, job.tables,
                                 writable, readable, job.creates_table)
        findings += doctor.account_findings(_clients(aws), account)
    if dry_run:
        _print([f for f in findings if f.status != "ok"], out, "# warning: ")
    else:
        raise_first_gap(findings, "" if skip else SKIP_HINT)
        for f in findings:
            if f.check == "subnet" or f.status == "unknown":
                print(f"note: {f.check}: {f.detail}", file=out)
    if choice.subnet is None:
        return options
    if dry_run:
        print(f"# subnet: {choice.findings[0].detail}", file=out)
    return dataclasses.replace(options, subnet_id=choice.subnet.id)


def _choose(aws: AwsConfig, requested: tuple[str, ...], groups: network.SecurityGroups, *,
            routes: bool, dry_run: bool, out: TextIO) -> Optional[network.SubnetChoice]:
    """The network check; a dry run that cannot read EC2 warns and leaves the subnet out."""
    import botocore.exceptions

    try:
        return network.check_network(client(aws, "ec2"), requested, groups, aws.region,
                                     routes=routes)
    except (DdbpipeError, botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError) as err:
        if not dry_run:
            raise
        print(f"# warning: cannot read the subnets ({err}); the request names none", file=out)
        return None


def _clients(aws: AwsConfig) -> doctor.Clients:
    return doctor.Clients(client(aws, "iam"), client(aws, "s3"), client(aws, "dynamodb"),
                          client(aws, "emr"))


# --- ddbpipe emr doctor -----------------------------------------------------------------------


def register(jobs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "check the account: would an EMR run start? One line per check, with its fix"
    parser = jobs.add_parser("doctor", help=text, description=text[0].upper() + text[1:] + ".")
    parser.add_argument("--table", action="append", dest="tables", default=[], metavar="TABLE",
                        help="a table the run reads or writes (repeatable)")
    parser.add_argument("--bucket", action="append", dest="buckets", default=[],
                        metavar="BUCKET|S3_URI",
                        help="a bucket or folder the run writes: probed by writing and deleting "
                             "an object (repeatable)")
    parser.add_argument("--log-uri", metavar="S3_URI", help="the run's log folder (probed too)")
    parser.add_argument("--release-label", default=d.RELEASE_LABEL,
                        help=f"EMR release to look for (default {d.RELEASE_LABEL})")
    add_role_options(parser)
    add_network_options(parser)
    add_aws_options(parser)
    parser.set_defaults(func=_doctor)


def _bucket(text: str) -> S3Uri:
    return S3Uri.parse(text if text.startswith("s3") else f"s3://{text}", "--bucket")


def doctor_findings(args: argparse.Namespace, aws: AwsConfig) -> list[Finding]:
    requested = network.parse_subnet_ids(args.subnet_id)
    groups = network.parse_security_groups(args.security_groups)
    writable = [("bucket", _bucket(b)) for b in args.buckets]
    if args.log_uri:
        writable.append(("log folder", d.log_folder(args.log_uri)))
    for table in args.tables:
        from ddbpipe.checks import check_table_name

        check_table_name(table)
    findings = list(network.check_network(client(aws, "ec2"), requested, groups,
                                          aws.region).findings)
    account = doctor.Account(aws.region, _roles(args), args.release_label, args.tables,
                             writable)
    return findings + doctor.account_findings(_clients(aws), account)


def _doctor(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    findings = doctor_findings(args, aws)
    _print(findings, out)
    print(doctor.summary(findings), file=out)
    return 0 if doctor.no_gaps(findings) else 1

