"""``ddbpipe local up|down|status``: the local AWS stand-in.

The stand-in (dynalite + moto server) is a development tool, shipped in the distribution
``ddbpipe-dev`` (the repository's dev/ folder), never in the wheel EMR nodes install; these
commands use it when it is installed (``make setup`` installs it).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ddbpipe.errors import ConfigError

if TYPE_CHECKING:
    from ddbpipe_dev.localstack import Server


def _localstack() -> Any:
    try:
        from ddbpipe_dev import localstack
    except ImportError as err:
        raise ConfigError(
            "The local stack is a development tool, and ddbpipe's development tools (ddbpipe-dev) "
            "are not installed.",
            "In the checkout, run `make setup` (or `.venv/bin/pip install -e ./dev`).",
        ) from err
    return localstack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("local", help="start or stop the local AWS stand-in (dynalite + moto)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="start dynalite and moto server on 127.0.0.1")
    up.add_argument("--dynamodb-port", type=int)  # defaults: ddbpipe_dev.localstack's
    up.add_argument("--moto-port", type=int)
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the servers `local up` started")
    down.set_defaults(func=_down)
    st = actions.add_parser("status", help="show the running servers and their endpoints")
    st.set_defaults(func=_status)


def _print_env(servers: list[Server]) -> None:
    by_name = {s.name: s for s in servers}
    for line in _localstack().env_lines(by_name["dynamodb"].url, by_name["moto"].url):
        print(line)


def _up(args: argparse.Namespace) -> int:
    ports = {"dynamodb_port": args.dynamodb_port, "moto_port": args.moto_port}
    servers = _localstack().up(**{k: v for k, v in ports.items() if v is not None})
    for s in servers:
        print(f"# {s.name} pid {s.pid} at {s.url} (log {s.log})")
    _print_env(servers)
    return 0


def _down(args: argparse.Namespace) -> int:
    for s in _localstack().down():
        print(f"# stopped {s.name} (pid {s.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    servers = _localstack().status()
    if not servers:
        print("# local stack is not running (start it with `ddbpipe local up`)")
        return 1
    for s in servers:
        print(f"# {s.name} pid {s.pid} at {s.url}")
    _print_env(servers)
    return 0
