"""``ddbpipe schedule create|list|delete``: runs on a real scheduler, with no server of ours.

``create --name N --cron EXPR export|import <job and cluster options>`` uploads the run's files once
and creates an EventBridge Scheduler schedule that calls EMR RunJobFlow with the cluster
definition ``ddbpipe emr`` uses (auto-terminating), each step limited to ``--timeout`` minutes
(default 24 h) on the cluster, and a dead-letter queue for launches that fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Optional, TextIO

from ddbpipe.aws import add_aws_options, client, resolve
from ddbpipe.cluster import deadletter, iam, runlimits, schedule
from ddbpipe.cluster import definition as d
from ddbpipe.commands import emr, emr_doctor
from ddbpipe.errors import ConfigError

#: A scheduled import starts over unless told: a run resumed days after the one that stopped
#: would skip items the table may have changed since (docs/decisions.md, "Import resume").
RESUME_NOTE = ("# note: --resume: every run of this schedule skips what an earlier, unfinished run "
               "recorded as written, even if the table changed since; without --resume each run "
               "starts over")


def _add_schedule_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", default=iam.SCHEDULE_GROUP, help=argparse.SUPPRESS)


def _add_schedule_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("scheduled run")
    group.add_argument("--timeout", type=float, metavar="MINUTES",
                       default=runlimits.DEFAULT_SCHEDULE_MINUTES,
                       help="stop a run's step after this long on the cluster, which then "
                            f"terminates (default {runlimits.DEFAULT_SCHEDULE_MINUTES}, 24 h)")
    group.add_argument("--start-date", metavar="YYYY-MM-DDTHH:MM:SS",
                       help="no run before this time (UTC; default: from creation on)")
    group.add_argument("--end-date", metavar="YYYY-MM-DDTHH:MM:SS",
                       help="no run after this time (UTC; default: none)")
    group.add_argument("--retries", type=int, metavar="N",
                       default=schedule.RETRY_POLICY["MaximumRetryAttempts"],
                       help="times the scheduler retries a launch that fails, within an hour "
                            f"(default {schedule.RETRY_POLICY['MaximumRetryAttempts']}; a run "
                            "that fails on the cluster is not re-run)")
    group.add_argument("--dlq-arn", metavar="ARN",
                       help="SQS queue for launches that fail after the retries (default: "
                            f"{deadletter.QUEUE_NAME}, created when absent)")


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
        _add_schedule_run_options(job)
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
    runlimits.check_minutes(args.timeout)
    start_date, end_date = schedule.check_dates(args.start_date, args.end_date)
    schedule.check_retries(args.retries)
    aws = resolve(args.region, args.endpoint_url, args.profile)
    dlq = deadletter.parse_arn(args.dlq_arn, aws.region) if args.dlq_arn else None
    if args.kind == "export" and args.resume:
        raise ConfigError("A scheduled export cannot --resume: each run writes a new folder, and "
                          "--resume finishes one stopped run.",
                          "Finish a stopped run once with `ddbpipe emr export --resume FOLDER "
                          "--table TABLE ...`; leave --resume out of the schedule.")
    job = emr.job_spec(args.kind, args, aws)
    if args.kind == "import" and args.resume:
        print(RESUME_NOTE, file=out)
    options = emr.cluster_options(args)
    caps = emr.capacities(aws, job, options, dry_run=args.dry_run, out=out)
    options = emr_doctor.prepare_network(args, aws, job, options, out)
    root = staging.checkout_root()
    description = f"ddbpipe {job.describe()} on EMR"

    def request_for(plan: d.RunPlan, role: str, dlq_arn: str) -> dict[str, object]:
        return schedule.create_schedule_request(
            name=args.name, expression=args.cron, role_arn=role, run_job_flow=plan.request,
            region=aws.region, dlq_arn=dlq_arn, group=args.group, timezone=args.timezone,
            description=description, enabled=not args.disabled, start_date=start_date,
            end_date=end_date, retries=args.retries)

    if args.dry_run:
        plan = d.plan_schedule(job, options, name=args.name, capacities=caps,
                               wheel_name=staging.predicted_wheel_name(),
                               timeout_minutes=args.timeout)
        uploads = staging.plan_uploads(plan, root, for_dry_run=True)
        emr.print_plan(plan, uploads, aws.region, out, dry_run=True)
        role = args.role_arn or f"arn:{iam.partition(aws.region)}:iam::<ACCOUNT>:role/" \
                                f"{iam.SCHEDULER_ROLE}"
        dlq_arn = str(dlq or deadletter.default_arn(aws.region, "<ACCOUNT>"))
        print("# CreateSchedule request (boto3: scheduler.create_schedule(**request)):", file=out)
        print(json.dumps(request_for(plan, role, dlq_arn), indent=2), file=out)
        return 0
    # Every refusal comes before anything is uploaded or created.
    scheduler = client(aws, "scheduler")
    sqs = client(aws, "sqs")
    schedule.check_absent(scheduler, args.name, args.group)
    if dlq is not None:
        deadletter.check_exists(sqs, dlq)
    iam_client = client(aws, "iam")
    with tempfile.TemporaryDirectory(prefix="ddbpipe-schedule-") as tmp:
        wheel, requirements = emr.build_artifacts(Path(tmp))
        plan = d.plan_schedule(job, options, name=args.name, wheel_name=wheel.name,
                               capacities=caps, timeout_minutes=args.timeout)
        emr.print_plan(plan, [], aws.region, out, dry_run=False)
        uploads = staging.plan_uploads(plan, root, wheel=wheel, requirements=requirements)
        launcher.check_roles(iam_client, options.service_role, options.instance_profile)
        staging.upload(client(aws, "s3"), uploads)
    dlq_arn = str(dlq) if dlq is not None else deadletter.ensure_queue(sqs, out)
    if args.role_arn:
        role = args.role_arn
        print(f"note: the role {role} must allow sqs:SendMessage on {dlq_arn}, or failed "
              "launches are lost", file=out)
    else:
        names = iam.RoleNames(options.service_role, options.instance_profile)
        role = iam.ensure_scheduler_role(iam_client, names, out, dlq_arn=dlq_arn)
    arn = schedule.create(scheduler, request_for(plan, role, dlq_arn))
    print(f"created schedule {arn}", file=out)
    print(f"each run starts an EMR cluster named {plan.request['Name']!r} that terminates after "
          f"its step (at most {args.timeout:g} minutes); logs in {plan.request['LogUri']}; "
          f"launches that fail go to {dlq_arn}", file=out)
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
