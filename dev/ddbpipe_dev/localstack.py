"""The local AWS stand-in: dynalite for DynamoDB, moto server for S3, EMR, IAM, STS and Scheduler.

LocalStack's container needs a Docker engine, which many laptops and CI machines lack; these two
servers need only Node.js and Python and bind to 127.0.0.1. Both are started as child processes,
waited for until they answer, and stopped by the PID recorded when they were started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from ddbpipe.errors import ConfigError, EndpointUnreachable
from ddbpipe.home import project_root

HOST = "127.0.0.1"
DEFAULT_DYNAMODB_PORT = 8000
DEFAULT_MOTO_PORT = 5000


#: Keeps dynalite up when a client disconnects mid-request (see the file).
KEEP_SERVING = Path(__file__).with_name("dynalite-keep-serving.js")


def dynalite_bin() -> Path:
    found = os.environ.get("DDBPIPE_DYNALITE")
    path = Path(found) if found else project_root() / ".cache/node/node_modules/.bin/dynalite"
    if not path.exists():
        raise ConfigError(
            f"dynalite is not installed at {path}.",
            "Run `make setup` (it installs dynalite from npm into .cache/node).",
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, what: str, timeout: float = 30.0, proc: Optional[subprocess.Popen[bytes]] = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise EndpointUnreachable(
                f"{what} exited with status {proc.returncode} before answering on port {port}.",
                "See its log; is the port already in use?",
            )
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise EndpointUnreachable(f"{what} did not answer on {HOST}:{port} within {timeout:.0f} s.",
                              "See its log; on a busy machine, run again.")


@dataclass
class Server:
    name: str
    pid: int
    port: int
    log: str

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


def start_dynalite(port: int, log_path: Path, *, latency_ms: int = 0) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    cmd = [
        "node", "--require", str(KEEP_SERVING), str(dynalite_bin()), "--host", HOST,
        "--port", str(port),
        "--createTableMs", str(latency_ms), "--deleteTableMs", str(latency_ms),
        "--updateTableMs", str(latency_ms),
    ]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for_port(port, "dynalite", proc=proc)
    return Server("dynamodb", proc.pid, port, str(log_path))


def start_moto(port: int, log_path: Path) -> Server:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    here = str(Path(sys.executable).parent)
    moto = shutil.which("moto_server", path=here) or shutil.which("moto_server")
    cmd = [moto] if moto else [sys.executable, "-m", "moto.server"]
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    # `ddbpipe iam setup` attaches AWS managed policies, which moto only knows when asked.
    env = {"MOTO_IAM_LOAD_MANAGED_POLICIES": "true", **os.environ}
    proc = subprocess.Popen(
        [*cmd, "-H", HOST, "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )
    wait_for_port(port, "moto server", proc=proc)
    return Server("moto", proc.pid, port, str(log_path))


def stop(server: Server, timeout: float = 10.0) -> None:
    """Stop a server we started, by its PID (and its process group)."""
    try:
        os.killpg(server.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(server.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(server.pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap it when it is our child
            os.waitpid(server.pid, os.WNOHANG)
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)


def env_lines(dynamodb_url: str, moto_url: str, region: str = "us-east-1") -> list[str]:
    """The ``export`` lines that point the AWS CLI, boto3 and ddbpipe at the local stack."""
    return [
        f"export AWS_ENDPOINT_URL_DYNAMODB={dynamodb_url}",
        f"export AWS_ENDPOINT_URL_S3={moto_url}",
        f"export AWS_ENDPOINT_URL_EMR={moto_url}",
        f"export AWS_ENDPOINT_URL_IAM={moto_url}",
        f"export AWS_ENDPOINT_URL_STS={moto_url}",
        f"export AWS_ENDPOINT_URL_SCHEDULER={moto_url}",
        f"export AWS_REGION={region}",
        f"export AWS_DEFAULT_REGION={region}",
        "export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test}",
        "export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test}",
    ]


def state_file(root: Optional[Path] = None) -> Path:
    return (root or project_root()) / ".cache/local-stack.json"


def up(
    dynamodb_port: int = DEFAULT_DYNAMODB_PORT, moto_port: int = DEFAULT_MOTO_PORT
) -> list[Server]:
    """Start both servers (unless a previous ``up`` left them running) and record their PIDs."""
    path = state_file()
    running = status()
    if running:
        return running
    logs = path.parent / "logs"
    servers = [start_dynalite(dynamodb_port, logs / "dynalite.log")]
    try:
        servers.append(start_moto(moto_port, logs / "moto.log"))
    except Exception:
        stop(servers[0])
        raise
    path.write_text(json.dumps([asdict(s) for s in servers], indent=2))
    return servers


def status() -> list[Server]:
    """The recorded servers whose process is still alive."""
    path = state_file()
    if not path.exists():
        return []
    servers = [Server(**s) for s in json.loads(path.read_text())]
    alive = []
    for s in servers:
        try:
            os.kill(s.pid, 0)
            alive.append(s)
        except ProcessLookupError:
            pass
    return alive if len(alive) == len(servers) else []


def down() -> list[Server]:
    path = state_file()
    if not path.exists():
        return []
    servers = [Server(**s) for s in json.loads(path.read_text())]
    for s in servers:
        stop(s)
    path.unlink()
    return servers
