"""``ddbpipe schedule create|list|delete``: runs on a real scheduler, with no server of ours.

``create --name N --cron EXPR export|import <job and cluster options>`` uploads the run's files once
and creates an EventBridge Scheduler schedule that calls EMR RunJobFlow with the cluster
definition ``ddbpipe emr`` uses (auto-terminating).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Optional, TextIO

from ddbpipe.aws import add_aws_options, client, resolve
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import iam, schedule
from ddbpipe.commands import emr, emr_doctor


def _add_schedule_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", default=iam.SCHEDULE_GROUP, help=argparse.SUPPRESS)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("schedule", help="run exports or imports on a schedule",
                            description="Scheduled runs through EventBridge Scheduler and EMR.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    create = actions.add_parser(
        "create", help="create a schedule that starts an EMR run",
        description="Create an EventBridge Scheduler schedule whose target is EMR RunJobFlow.")
    create.add_argument("--name", required=True, help="schedule name (letters, digits, -_.)")
    create.add_argument("--cron", required=True, metavar="EXPRESSION",
                        help='when to run, e.g. "cron(0 3 * * ? *)" (03:00 daily) or '
                             '"rate(1 day)"')
    create.add_argument("--timezone", help="time zone of the expression (default UTC)")
    create.add_argument("--role-arn",
                        help=f"role the scheduler assumes (default: {iam.SCHEDULER_ROLE}, "
                             "created when absent)")
    create.add_argument("--disabled", action="store_true", help="create it disabled")
    create.add_argument("--dry-run", action="store_true",
                        help="print the uploads and the CreateSchedule request; touch nothing")
    _add_schedule_target(create)
    jobs = create.add_subparsers(dest="job", metavar="JOB")
    jobs.required = True
    for kind in ("export", "import"):
        job = jobs.add_parser(kind, help=f"schedule an {kind}")
        emr.JOB_OPTIONS[kind](job)
        emr.add_cluster_options(job, scheduled=True)
        emr_doctor.add_preflight_options(job, offline=False)
        add_aws_options(job)
        job.set_defaults(func=_create, kind=kind)

    listing = actions.add_parser("list", help="list ddbpipe's schedules")
    _add_schedule_target(listing)
    add_aws_options(listing)
    listing.set_defaults(func=_list)

    delete = actions.add_parser("delete", help="delete a schedule")
    delete.add_argument("--name", required=True)
    _add_schedule_target(delete)
    add_aws_options(delete)
    delete.set_defaults(func=_delete)


def _create(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    from ddbpipe.cluster import launcher, staging

    out = out or sys.stdout
    schedule.check_name(args.name)
    schedule.check_expression(args.cron)
    aws = resolve(args.region, args.endpoint_url, args.profile)
    job = emr.job_spec(args.kind, args, aws)
    options = emr.cluster_options(args)
    caps = emr.capacities(aws, job, options, dry_run=args.dry_run, out=out)
    options = emr_doctor.prepare_network(args, aws, job, options, out)
    root = staging.checkout_root()
    description = f"ddbpipe {job.describe()} on EMR"
    if args.dry_run:
        plan = d.plan_schedule(job, options, name=args.name,
                               wheel_name=staging.predicted_wheel_name(), capacities=caps)
        uploads = staging.plan_uploads(plan, root, for_dry_run=True)
        emr.print_plan(plan, uploads, aws.region, out, dry_run=True)
        role = args.role_arn or f"arn:aws:iam::<ACCOUNT>:role/{iam.SCHEDULER_ROLE}"
        request = schedule.create_schedule_request(
            name=args.name, expression=args.cron, role_arn=role, run_job_flow=plan.request,
            group=args.group, timezone=args.timezone, description=description,
            enabled=not args.disabled)
        print("# CreateSchedule request (boto3: scheduler.create_schedule(**request)):", file=out)
        print(json.dumps(request, indent=2), file=out)
        return 0
    iam_client = client(aws, "iam")
    with tempfile.TemporaryDirectory(prefix="ddbpipe-schedule-") as tmp:
        wheel, requirements = emr.build_artifacts(Path(tmp))
        plan = d.plan_schedule(job, options, name=args.name, wheel_name=wheel.name,
                               capacities=caps)
        emr.print_plan(plan, [], aws.region, out, dry_run=False)
        uploads = staging.plan_uploads(plan, root, wheel=wheel, requirements=requirements)
        launcher.check_roles(iam_client, options.service_role, options.instance_profile)
        staging.upload(client(aws, "s3"), uploads)
    if args.role_arn:
        role = args.role_arn
    else:
        names = iam.RoleNames(options.service_role, options.instance_profile)
        role = iam.ensure_scheduler_role(iam_client, names, out)
    request = schedule.create_schedule_request(
        name=args.name, expression=args.cron, role_arn=role, run_job_flow=plan.request,
        group=args.group, timezone=args.timezone, description=description,
        enabled=not args.disabled)
    arn = schedule.create(client(aws, "scheduler"), request)
    print(f"created schedule {arn}", file=out)
    print(f"each run starts an EMR cluster named {plan.request['Name']!r} that terminates after "
          f"its step; logs in {plan.request['LogUri']}", file=out)
    return 0


def _list(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    rows = schedule.list_schedules(client(aws, "scheduler"), args.group)
    if not rows:
        print("no ddbpipe schedules", file=out)
        return 0
    width = max(len(r["Name"]) for r in rows)
    for r in rows:
        print(f"{r['Name']:<{width}}  {r['State']:<8}  {r['ScheduleExpression']} "
              f"({r['Timezone']})  {r['Cluster']}", file=out)
    return 0


def _delete(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    aws = resolve(args.region, args.endpoint_url, args.profile)
    scheduler = client(aws, "scheduler")
    staged = schedule.staged_prefix(scheduler, args.name, args.group)
    schedule.delete(scheduler, args.name, args.group)
    print(f"deleted schedule {args.name}", file=out)
    if staged:
        print(f"its files stay in {staged}/ (remove them with `aws s3 rm --recursive "
              f"{staged}/`)", file=out)
    return 0
