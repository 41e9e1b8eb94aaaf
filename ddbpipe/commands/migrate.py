"""``ddbpipe migrate``: Data Pipeline export/import pipelines -> ddbpipe schedules and runs.

Reads definitions as `aws datapipeline get-pipeline-definition` prints them (``--definition``,
parameter values as `put-pipeline-definition` takes them) or from the account through the Data
Pipeline API (``--pipeline-id``, ``--all``), and prints, per pipeline, the `ddbpipe schedule create`
(recurring) or `ddbpipe emr export|import` (one run) command, every field mapped and every field
not carried over. ``--apply`` creates the schedules by running that very command (a schedule whose
name is taken is left as it is), starts no one-off run and never touches the old pipeline. Exit
status 0 when every pipeline migrated (and, with ``--apply``, every schedule exists), 2 otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TextIO

from ddbpipe import migrate as m
from ddbpipe.aws import add_aws_options
from ddbpipe.errors import ConfigError, DdbpipeError, one_line

NOT_MIGRATED = 2
_NAME_MAX = 64


def _value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not id=value")
    return key.strip(), value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "migrate", help="turn Data Pipeline export/import pipelines into ddbpipe schedules",
        description="Read Data Pipeline definitions (\"Export DynamoDB table to S3\", \"Import "
                    "DynamoDB backup data from S3\" or your own), from files or from the account, "
                    "and print the equivalent `ddbpipe schedule create` or `ddbpipe emr "
                    "export|import` command, what was mapped where, and what was not carried "
                    "over. With --apply, create the schedules. The old pipelines are never "
                    "changed.")
    source = parser.add_argument_group("pipelines (one or more of)")
    source.add_argument("--definition", action="append", default=[], type=Path, metavar="FILE",
                        help="a pipeline definition (JSON); repeat for several")
    source.add_argument("--pipeline-id", action="append", default=[], metavar="df-...",
                        help="a pipeline of the account (Data Pipeline API); repeat for several")
    source.add_argument("--all", action="store_true",
                        help="every pipeline of the account in the region")
    parser.add_argument("--parameter-values", action="append", default=[], type=Path,
                        metavar="FILE", help="parameter values, {\"values\": {id: value}} "
                                             "(as put-pipeline-definition takes them)")
    parser.add_argument("--parameter-value", action="append", default=[], type=_value,
                        metavar="ID=VALUE", help="a parameter's value (repeatable; wins over "
                                                 "--parameter-values and the defaults)")
    parser.add_argument("--name", help="the schedule's name (default: the file's or the "
                                       "pipeline's name); only with one pipeline")
    parser.add_argument("--name-prefix", default="", metavar="PREFIX",
                        help="put PREFIX before every schedule's name")
    parser.add_argument("--log-uri", metavar="S3_URI",
                        help="--log-uri for a definition without pipelineLogUri")
    network = parser.add_argument_group(
        "cluster network (added to every command; the definition's subnetId gives way)")
    network.add_argument("--subnet-id", metavar="SUBNET[,SUBNET...]",
                         help="the subnet(s) the clusters run in")
    network.add_argument("--security-groups", metavar="leader=sg-..,core=sg-..[,service=sg-..]",
                         help="the EMR-managed security groups")
    network.add_argument("--skip-doctor", action="store_true",
                         help="create without the account and network checks")
    parser.add_argument("--apply", action="store_true",
                        help="create the schedules (those whose name is taken are left as they "
                             "are); one-off runs are printed, not started")
    add_aws_options(parser)
    parser.set_defaults(func=_run)


def schedule_name(text: str) -> str:
    """A schedule name from a file or pipeline name: ``exports/orders.json`` -> ``orders``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")
    return name[:_NAME_MAX] or "ddbpipe-migrated"


def default_name(path: Path) -> str:
    return schedule_name(path.stem)


@dataclass(frozen=True)
class _Source:
    """One pipeline to migrate: where it came from, its definition, its schedule's name."""

    label: str
    doc: Any
    name: str
    pipeline: Optional[m.Pipeline] = None


def _sources(args: argparse.Namespace) -> list[_Source]:
    if args.all and args.pipeline_id:
        raise ConfigError("--all already reads every pipeline; --pipeline-id names some.",
                          "Give --all or --pipeline-id, not both.")
    count = len(args.definition) + len(args.pipeline_id)
    if not count and not args.all:
        raise ConfigError("No pipeline to migrate.",
                          "Give --definition FILE, --pipeline-id df-... or --all.")
    if args.name and (args.all or count > 1):
        raise ConfigError("--name names one schedule, and several pipelines were given.",
                          "Leave --name out (each schedule is named after its file or pipeline) "
                          "or give one pipeline.")
    sources = [_Source(str(p), m.read_json(p), args.name or default_name(p))
               for p in args.definition]  # every file is read before anything is printed
    if args.all or args.pipeline_id:
        from ddbpipe.aws import client, resolve

        aws = resolve(args.region, args.endpoint_url, args.profile)
        dp = client(aws, "datapipeline")
        ids = m.list_ids(dp, aws.region) if args.all else args.pipeline_id
        sources += [_Source(p.source, p.definition, args.name or schedule_name(p.name), p)
                    for p in m.read_pipelines(dp, ids, aws.region)]
    return _unique_names(sources, args.name_prefix)


def _unique_names(sources: list[_Source], prefix: str) -> list[_Source]:
    """Prefix every name; pipelines that share one get their id (or number) after it."""
    taken: dict[str, int] = {}
    for s in sources:
        taken[s.name] = taken.get(s.name, 0) + 1
    out = []
    for index, s in enumerate(sources):
        name = s.name
        if taken[name] > 1:
            tail = f"-{s.pipeline.id}" if s.pipeline else f"-{index + 1}"
            name = name[:_NAME_MAX - len(tail)] + tail
        name = (prefix + name)[:_NAME_MAX]
        out.append(_Source(s.label, s.doc, name, s.pipeline))
    return out


def with_network(argv: list[str], args: argparse.Namespace) -> list[str]:
    """``argv`` with migrate's --subnet-id (in place of the definition's), --security-groups
    and --skip-doctor."""
    out = list(argv)
    if args.subnet_id and "--subnet-id" in out:
        at = out.index("--subnet-id")
        del out[at:at + 2]
    for flag, value in (("--subnet-id", args.subnet_id),
                        ("--security-groups", args.security_groups)):
        if value:
            out += [flag, value]
    if args.skip_doctor:
        out.append("--skip-doctor")
    return out


def _aws_flags(args: argparse.Namespace, argv: list[str]) -> list[str]:
    """migrate's own --endpoint-url/--profile (and --region where the definition has none)."""
    flags = []
    if args.region and "--region" not in argv:
        flags += ["--region", args.region]
    if args.endpoint_url:
        flags += ["--endpoint-url", args.endpoint_url]
    if args.profile:
        flags += ["--profile", args.profile]
    return flags


def _apply(migration: m.Migration, args: argparse.Namespace, out: TextIO) -> bool:
    """Create the schedule of ``migration`` with ``ddbpipe schedule create`` as printed; True
    when it exists afterwards."""
    from ddbpipe.cli import build_parser

    if migration.run_once:
        print("# --apply starts no one-off run: run the command above when you need it",
              file=out)
        return True
    argv = [*migration.argv, *_aws_flags(args, migration.argv)]
    name = argv[argv.index("--name") + 1]
    create = build_parser().parse_args(argv)
    if _exists(create, name):
        print(f"# schedule {name} exists: left as it is (delete it with `ddbpipe schedule delete "
              f"--name {name}` to create it again)", file=out)
        return True
    print(f"# --apply: creating schedule {name}", file=out)
    try:
        create.func(create, out)
    except DdbpipeError as err:
        print(f"# schedule {name} was not created: {one_line(err)}", file=out)
        return False
    return True


def _exists(create: argparse.Namespace, name: str) -> bool:
    from ddbpipe.aws import client, resolve
    from ddbpipe.cluster import schedule

    aws = resolve(create.region, create.endpoint_url, create.profile)
    try:
        schedule.check_absent(client(aws, "scheduler"), name, create.group)
    except ConfigError:
        return True
    return False


def _run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    layers = [m.parse_values(str(p), m.read_json(p)) for p in args.parameter_values]
    layers.append(dict(args.parameter_value))
    sources = _sources(args)
    if not sources:
        print("no pipelines in the account's region", file=out)
        return 0
    done = 0
    for index, source in enumerate(sources):
        if index:
            print(file=out)
        definition = m.parse(source.label, source.doc, layers)
        result = m.migrate(definition, source.name, args.log_uri)
        if result.migrated:
            result.argv = with_network(result.argv, args)
        if source.pipeline is not None and source.pipeline.state:
            print(f"# {source.pipeline.source}: state {source.pipeline.state}", file=out)
        m.render(result, out)
        ok = result.migrated
        if ok and args.apply:
            ok = _apply(result, args, out)
        if result.migrated:
            deactivate = (source.pipeline.deactivate if source.pipeline is not None else
                          "aws datapipeline deactivate-pipeline --pipeline-id <its df-... id>")
            print(f"# the old pipeline runs until you deactivate it: {deactivate}", file=out)
        done += ok
    migrated = "migrated" if not args.apply else "migrated and applied"
    print(f"\n# {done} of {len(sources)} pipelines {migrated}", file=out)
    return 0 if done == len(sources) else NOT_MIGRATED
