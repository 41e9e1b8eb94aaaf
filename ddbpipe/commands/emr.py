"""``ddbpipe emr export|import``: the local commands' jobs, run on an EMR cluster.

Each takes the same job options as the local command (the job's own option definitions are reused,
and turned back into the step's argv by :func:`job_args`), plus the cluster options (``--log-uri``
and friends) and the run options ``--timeout``, ``--cluster-id`` and ``--dry-run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from ddbpipe.aws import AwsConfig, add_aws_options, client, resolve
from ddbpipe.cluster import awscli, runlimits
from ddbpipe.cluster import definition as d
from ddbpipe.commands import emr_doctor
from ddbpipe.errors import ConfigError, DdbpipeError

# --- the jobs' own options -----------------------------------------------------------------


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """The export job's options: exactly those of ``ddbpipe export`` and jobs/export_table.py."""
    from ddbpipe import export

    export.add_options(parser)


def add_import_options(parser: argparse.ArgumentParser) -> None:
    """The import job's options: exactly those of ``ddbpipe import`` and jobs/import_table.py."""
    from ddbpipe import importer

    importer.add_options(parser)


JOB_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "export": add_export_options,
    "import": add_import_options,
}


def job_args(kind: d.JobKind, args: argparse.Namespace) -> list[str]:
    """The job's own options of ``args`` as an argv list, from the job's option definitions.

    Whatever option the job gains is carried without a change here; only store, store_true and
    append actions exist in the jobs' parsers.
    """
    probe = argparse.ArgumentParser(add_help=False)
    JOB_OPTIONS[kind](probe)
    argv: list[str] = []
    for action in probe._actions:
        flag = next((o for o in action.option_strings if o.startswith("--")), None)
        if flag is None:
            continue
        value = getattr(args, action.dest, None)
        if isinstance(action, argparse._StoreTrueAction):
            if value:
                argv.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value or []:
                argv += [flag, str(item)]
        elif isinstance(action, argparse._StoreAction):
            if value is not None:
                argv += [flag, str(value)]
        else:
            raise ValueError(f"cannot carry option {flag} ({type(action).__name__}) to a step")
    return argv


def job_spec(kind: d.JobKind, args: argparse.Namespace, aws: AwsConfig) -> d.JobSpec:
    """Validate the job's options as the job will (before any cluster is paid for)."""
    if kind == "export":
        from ddbpipe import export

        ecfg = export.config_from_args(args, aws)
        if ecfg.resume is not None and not ecfg.tables:
            raise ConfigError("`ddbpipe emr export --resume` needs --table too: the cluster is "
                              "sized and granted for the table before it starts.",
                              f"Add --table <the table of {ecfg.resume}>.")
        return d.JobSpec("export", tuple(job_args(kind, args)), ecfg.tables, aws.region,
                         ecfg.read_percent, ecfg.read_capacity)
    from ddbpipe import importer

    icfg = importer.config_from_args(args, aws)
    return d.JobSpec("import", tuple(job_args(kind, args)), (icfg.table,), aws.region,
                     icfg.write_percent, icfg.write_capacity, creates_table=icfg.create_table)


# --- cluster and run options ---------------------------------------------------------------


def add_cluster_options(parser: argparse.ArgumentParser, *, scheduled: bool = False) -> None:
    group = parser.add_argument_group("EMR cluster")
    group.add_argument("--log-uri", required=True, metavar="S3_URI",
                       help="S3 folder for the cluster's logs (not a bucket root)")
    group.add_argument("--staging-uri", metavar="S3_URI",
                       help="S3 folder for the files the cluster installs and runs (default: "
                            "s3://<log bucket>/ddbpipe-staging/; never inside --log-uri)")
    group.add_argument("--instance-type", default=d.DEFAULT_INSTANCE_TYPE,
                       help=f"leader and core node type (default {d.DEFAULT_INSTANCE_TYPE}, "
                            "today's m3.xlarge; retired m1.* and m3.* types are mapped to m5.*)")
    group.add_argument("--core-count", type=int, metavar="N",
                       help=f"core nodes (default: one per {d.UNITS_PER_CORE:,} units of "
                            "capacity x percent, shown by --dry-run)")
    group.add_argument("--release-label", default=d.RELEASE_LABEL,
                       help=f"EMR release (default {d.RELEASE_LABEL}: Spark 3.5, Python 3.11)")
    emr_doctor.add_role_options(group)
    group.add_argument("--connector-jar", metavar="S3_URI",
                       help="an emr-dynamodb-connector jar to use instead of EMR's own")
    if not scheduled:
        group.add_argument("--keep-cluster", action="store_true",
                           help="keep the cluster after the last step (it still terminates "
                                "after --idle-timeout)")
        group.add_argument("--idle-timeout", type=int, default=60, metavar="MINUTES",
                           help="with --keep-cluster: terminate after this long idle (default 60)")
    emr_doctor.add_network_options(parser)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("run")
    group.add_argument("--timeout", type=float, metavar="MINUTES",
                       help="stop the run after this long: cancel its steps, terminate the "
                            "cluster it created; the step stops on the cluster too, even if "
                            "this command is gone (default: no limit)")
    group.add_argument("--cluster-id", metavar="j-XXXX",
                       help="add the steps to this running cluster instead of starting one")
    group.add_argument("--dry-run", action="store_true",
                       help="print the uploads and the exact EMR request; touch nothing")
    group.add_argument("--poll-seconds", type=float, default=30.0, help=argparse.SUPPRESS)


def cluster_options(args: argparse.Namespace) -> d.ClusterOptions:
    from ddbpipe.cluster.iam import role_names

    roles = role_names(args.datapipeline_roles, args.service_role, args.instance_profile)
    return d.ClusterOptions(
        log_uri=args.log_uri,
        instance_type=args.instance_type,
        core_count=args.core_count,
        release_label=args.release_label,
        service_role=roles.service_role,
        instance_profile=roles.instance_profile,
        subnet_id=None,  # chosen and checked by emr_doctor.prepare_network
        security_groups=emr_doctor.security_group_fields(args),
        keep_cluster=getattr(args, "keep_cluster", False),
        idle_timeout_minutes=getattr(args, "idle_timeout", 60),
        connector_jar=args.connector_jar,
        staging_uri=args.staging_uri,
    )


def capacities(aws: AwsConfig, job: d.JobSpec, options: d.ClusterOptions, *, dry_run: bool,
               out: TextIO) -> list[d.TableCapacity]:
    """The tables' capacities for sizing; not looked up when --core-count decides."""
    import botocore.exceptions

    from ddbpipe.cluster.sizing import table_capacities

    if options.core_count is not None:
        return []
    if job.capacity is not None:
        return table_capacities(None, job)
    try:
        return table_capacities(client(aws, "dynamodb"), job, aws.endpoint("dynamodb"))
    except (DdbpipeError, botocore.exceptions.BotoCoreError) as err:
        if not dry_run:
            raise
        print(f"# warning: cannot size from the tables ({err}); the dry run assumes the minimum",
              file=out)
        return []


def new_run_id() -> str:
    return d.run_id(datetime.now(timezone.utc), secrets.token_hex(3))


def build_artifacts(tmp: Path) -> tuple[Path, str]:
    """The wheel of this checkout and its pinned requirements."""
    from ddbpipe.cluster import staging

    wheel = staging.build_wheel(staging.checkout_root(), tmp)
    pins = staging.pinned_requirements(staging.wheel_requires(wheel))
    return wheel, staging.requirements_text(pins)


def print_plan(plan: d.RunPlan, uploads: list[Any], region: str, out: TextIO,
               *, dry_run: bool) -> None:
    """What the run does: sizing, uploads and (for a dry run) the request and its CLI form."""
    def say(text: str) -> None:
        print(text, file=out)

    if dry_run:
        say(f"# ddbpipe emr {plan.job.kind} --dry-run: nothing is uploaded, created or started.")
    say(f"# run {plan.run_id}: files staged under {plan.staging.prefix}/")
    if plan.sizing is not None:
        instance_type = plan.request["Instances"]["InstanceGroups"][1]["InstanceType"]
        say("# core nodes:")
        for line in plan.sizing.lines:
            say(f"#   {line}")
        say(f"#   => 1 leader + {plan.sizing.count} core node(s) of {instance_type}")
    for note in plan.notes:
        say(f"# note: {note}")
    if not dry_run:
        return
    say("# uploads:")
    for item in uploads:
        say(f"#   {item.what}\n#     -> {item.uri}")
    method = "run_job_flow" if plan.creates_cluster else "add_job_flow_steps"
    say(f"# {plan.operation} request, as sent (boto3: emr.{method}(**request)):")
    say(json.dumps(plan.request, indent=2))
    if plan.creates_cluster:
        say("# the same request with the AWS CLI (create-cluster sends RunJobFlow):")
        say(awscli.format_command(awscli.create_cluster_cli(plan.request, region)))
    else:
        say("# the same request with the AWS CLI (add-steps sends AddJobFlowSteps):")
        say(awscli.format_command(awscli.add_steps_cli(plan.request, region)))


# --- the commands --------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("emr", help="run an export or import on an EMR cluster",
                            description="Run ddbpipe's export or import job on Amazon EMR.")
    jobs = parser.add_subparsers(dest="job", metavar="JOB")
    jobs.required = True
    for kind, text in (("export", "export DynamoDB tables to S3 on EMR"),
                       ("import", "import an export folder into a DynamoDB table on EMR")):
        job = jobs.add_parser(kind, help=text, description=text)
        JOB_OPTIONS[kind](job)
        add_cluster_options(job)
        add_run_options(job)
        emr_doctor.add_preflight_options(job)
        add_aws_options(job)
        job.set_defaults(func=_run, kind=kind)
    emr_doctor.register(jobs)


def _run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from ddbpipe.cluster import launcher, staging
    from ddbpipe.cluster.monitor import Monitor

    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    job = job_spec(args.kind, args, aws)
    options = cluster_options(args)
    cluster_id = d.check_cluster_id(args.cluster_id) if args.cluster_id else None
    runlimits.check_minutes(args.timeout)
    emr_doctor.check_offline(args, job, options)
    caps = [] if cluster_id else capacities(aws, job, options, dry_run=args.dry_run, out=out)
    if cluster_id is None:
        options = emr_doctor.prepare_network(args, aws, job, options, out)
    run = new_run_id()
    root = staging.checkout_root()
    if args.dry_run:
        plan = d.plan_run(job, options, run=run, wheel_name=staging.predicted_wheel_name(),
                          capacities=caps, cluster_id=cluster_id, timeout_minutes=args.timeout)
        read = emr_doctor.sizing_note(job, options) if caps else None
        if read:
            plan = dataclasses.replace(plan, notes=(*plan.notes, read))
        uploads = staging.plan_uploads(plan, root, for_dry_run=True)
        print_plan(plan, uploads, aws.region, out, dry_run=True)
        return 0
    with tempfile.TemporaryDirectory(prefix="ddbpipe-emr-") as tmp:
        wheel: Optional[Path] = None
        requirements: Optional[str] = None
        if cluster_id is None:
            wheel, requirements = build_artifacts(Path(tmp))
        plan = d.plan_run(job, options, run=run,
                          wheel_name=wheel.name if wheel else staging.predicted_wheel_name(),
                          capacities=caps, cluster_id=cluster_id, timeout_minutes=args.timeout)
        uploads = staging.plan_uploads(plan, root, wheel=wheel, requirements=requirements)
        print_plan(plan, uploads, aws.region, out, dry_run=False)
        clients = launcher.Clients(client(aws, "emr"), client(aws, "s3"), client(aws, "iam"))
        monitor = Monitor(clients.emr, clients.s3, out=out, poll_seconds=args.poll_seconds)
        launcher.execute(plan, clients, uploads, monitor, timeout_minutes=args.timeout)
    return 0
