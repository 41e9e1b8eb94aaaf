"""``ddbpipe migrate --definition FILE``: print the ddbpipe command of a Data Pipeline pipeline.

Reads definitions as `aws datapipeline get-pipeline-definition` prints them (parameter values as
`put-pipeline-definition` takes them) and prints, per pipeline, the `ddbpipe schedule create`
(recurring) or `ddbpipe emr export|import` (one run) command, every field mapped and every field
not carried over. Nothing is created. Exit status 0 when every pipeline migrated, 2 otherwise.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional, TextIO

from ddbpipe import migrate as m
from ddbpipe.errors import ConfigError

NOT_MIGRATED = 2


def _value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not id=value")
    return key.strip(), value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "migrate", help="print the ddbpipe command of a Data Pipeline export/import pipeline",
        description="Read Data Pipeline definitions (\"Export DynamoDB table to S3\", \"Import "
                    "DynamoDB backup data from S3\" or your own) and print the equivalent "
                    "`ddbpipe schedule create` or `ddbpipe emr export|import` command, what was "
                    "mapped where, and what was not carried over. Nothing is created.")
    parser.add_argument("--definition", action="append", required=True, type=Path,
                        metavar="FILE", help="a pipeline definition (JSON); repeat for several")
    parser.add_argument("--parameter-values", action="append", default=[], type=Path,
                        metavar="FILE", help="parameter values, {\"values\": {id: value}} "
                                             "(as put-pipeline-definition takes them)")
    parser.add_argument("--parameter-value", action="append", default=[], type=_value,
                        metavar="ID=VALUE", help="a parameter's value (repeatable; wins over "
                                                 "--parameter-values and the defaults)")
    parser.add_argument("--name", help="the schedule's name (default: the file's name); only "
                                       "with one --definition")
    parser.add_argument("--log-uri", metavar="S3_URI",
                        help="--log-uri for a definition without pipelineLogUri")
    parser.set_defaults(func=_run)


def default_name(path: Path) -> str:
    """A schedule name from a file name: ``exports/orders.json`` -> ``orders``."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-.")
    return name[:64] or "ddbpipe-migrated"


def _run(args: argparse.Namespace, out: Optional[TextIO] = None) -> int:
    out = out or sys.stdout
    if args.name and len(args.definition) > 1:
        raise ConfigError("--name names one schedule, and several --definition were given.",
                          "Leave --name out (each schedule is named after its file) or give "
                          "one --definition.")
    layers = [m.parse_values(str(p), m.read_json(p)) for p in args.parameter_values]
    layers.append(dict(args.parameter_value))
    docs = [(path, m.read_json(path)) for path in args.definition]  # all read before printing
    migrated = 0
    for index, (path, doc) in enumerate(docs):
        definition = m.parse(str(path), doc, layers)
        result = m.migrate(definition, args.name or default_name(path), args.log_uri)
        if index:
            print(file=out)
        m.render(result, out)
        migrated += result.migrated
    return 0 if migrated == len(docs) else NOT_MIGRATED
