"""``ddbpipe local up|down|status``: the local AWS stand-in."""

from __future__ import annotations

import argparse

from ddbpipe import localstack


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("local", help="start or stop the local AWS stand-in (dynalite + moto)")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    up = actions.add_parser("up", help="start dynalite and moto server on 127.0.0.1")
    up.add_argument("--dynamodb-port", type=int, default=localstack.DEFAULT_DYNAMODB_PORT)
    up.add_argument("--moto-port", type=int, default=localstack.DEFAULT_MOTO_PORT)
    up.set_defaults(func=_up)
    down = actions.add_parser("down", help="stop the servers `local up` started")
    down.set_defaults(func=_down)
    st = actions.add_parser("status", help="show the running servers and their endpoints")
    st.set_defaults(func=_status)


def _print_env(servers: list[localstack.Server]) -> None:
    by_name = {s.name: s for s in servers}
    for line in localstack.env_lines(by_name["dynamodb"].url, by_name["moto"].url):
        print(line)


def _up(args: argparse.Namespace) -> int:
    servers = localstack.up(args.dynamodb_port, args.moto_port)
    for s in servers:
        print(f"# {s.name} pid {s.pid} at {s.url} (log {s.log})")
    _print_env(servers)
    return 0


def _down(args: argparse.Namespace) -> int:
    for s in localstack.down():
        print(f"# stopped {s.name} (pid {s.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    servers = localstack.status()
    if not servers:
        print("# local stack is not running (start it with `ddbpipe local up`)")
        return 1
    for s in servers:
        print(f"# {s.name} pid {s.pid} at {s.url}")
    _print_env(servers)
    return 0
