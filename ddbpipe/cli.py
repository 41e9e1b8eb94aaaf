"""The ``ddbpipe`` command line. Each command group lives in ``ddbpipe.commands.<name>``.

A command module exposes ``register(subparsers)``; the parser it adds sets ``func`` to a callable
taking the parsed namespace and returning an exit code. Errors ddbpipe raises on purpose
(:class:`~ddbpipe.errors.DdbpipeError`) are printed as one line, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from typing import Optional, Sequence

from ddbpipe import __version__
from ddbpipe.errors import DdbpipeError, one_line
from ddbpipe.interrupts import Stop

COMMAND_MODULES = (
    "ddbpipe.commands.local",
    "ddbpipe.commands.export",
    "ddbpipe.commands.import_",
    "ddbpipe.commands.convert",
    "ddbpipe.commands.emr",
    "ddbpipe.commands.iam",
    "ddbpipe.commands.schedule",
    "ddbpipe.commands.migrate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ddbpipe",
        description="Move DynamoDB tables to S3 and back, on EMR or on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"ddbpipe {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("botocore", "boto3", "urllib3", "py4j", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not args.verbose:  # py4j logs a cancelled call with its trace; ddbpipe says it in a line
        logging.getLogger("py4j").setLevel(logging.CRITICAL)
    try:
        return int(args.func(args) or 0)
    except DdbpipeError as err:
        print(one_line(err), file=sys.stderr)
        return err.exit_code
    except (KeyboardInterrupt, Stop) as stop:
        signum = stop.signum if isinstance(stop, Stop) else signal.SIGINT
        print("ddbpipe: interrupted.", file=sys.stderr)
        return 128 + int(signum)


if __name__ == "__main__":
    sys.exit(main())
