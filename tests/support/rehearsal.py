"""What an EMR node provides, played on this machine for the rehearsal test (tests/e2e).

- :class:`Imds`: the instance metadata service, IMDSv2 only (a token on every GET): region,
  instance id and the instance profile's credentials, which the connector's AWS SDK, boto3 and
  the bootstrap read as they do on a node (``AWS_EC2_METADATA_SERVICE_ENDPOINT``).
- :class:`Trap`: a TCP port that records every connection; pip's index and every proxy point at
  it while the bootstrap runs, so an attempt to reach a package index is seen, not just refused.
- :func:`aws_cli`: ``aws`` on the bootstrap's PATH, serving ``s3 cp`` from the local S3.
- :class:`SparkStandalone`: a Spark master and one worker in JVMs of their own (pyspark's own
  ``spark-class``), on 127.0.0.1, stopped by PID.
- :func:`map_step`: an EMR step's ``spark-submit`` argv with the cluster's paths mapped to local
  ones; everything else is kept as it is.
"""

from __future__ import annotations

import http.server
import json
import os
import shlex
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ddbpipe_dev.localstack import free_port

ROLE = "ddbpipe-rehearsal-instance-role"


class Imds:
    """IMDSv2 on 127.0.0.1: PUT /latest/api/token, then GETs carrying the token."""

    def __init__(self, region: str, instance_id: str = "i-0rehearsal0000001") -> None:
        self.region = region
        self.instance_id = instance_id
        self.token = "rehearsal-token-" + os.urandom(8).hex()
        self.requests: list[str] = []
        self.refused: list[str] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Imds:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str) -> Optional[str]:
        creds = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": "ASIAREHEARSAL",
                 "SecretAccessKey": "rehearsal-secret", "Token": "rehearsal-session",
                 "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                 "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                             time.gmtime(time.time() + 6 * 3600))}
        return {
            "/latest/meta-data/placement/region": self.region,
            "/latest/meta-data/instance-id": self.instance_id,
            "/latest/meta-data/iam/security-credentials/": ROLE,
            f"/latest/meta-data/iam/security-credentials/{ROLE}": json.dumps(creds),
        }.get(path)

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status: int, body: str = "") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:
                imds.requests.append(f"PUT {self.path}")
                if (self.path == "/latest/api/token"
                        and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")):
                    self._send(200, imds.token)
                else:
                    self._send(400)

            def do_GET(self) -> None:
                imds.requests.append(f"GET {self.path}")
                if self.headers.get("X-aws-ec2-metadata-token") != imds.token:
                    imds.refused.append(self.path)  # IMDSv1: refused, as on an IMDSv2-only node
                    self._send(401)
                    return
                body = imds.answer(self.path)
                self._send(404) if body is None else self._send(200, body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


class Trap:
    """A listening port that counts who connects (and closes at once)."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> Trap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def env(self) -> dict[str, str]:
        """pip's index and every proxy variable pointed at the trap."""
        proxies = {name: self.url for name in ("http_proxy", "https_proxy", "HTTP_PROXY",
                                               "HTTPS_PROXY", "all_proxy", "ALL_PROXY")}
        return {**proxies, "PIP_INDEX_URL": f"{self.url}/simple/",
                "PIP_EXTRA_INDEX_URL": f"{self.url}/extra/", "PIP_TRUSTED_HOST": "127.0.0.1"}


def aws_cli(bin_dir: Path, python: str, repo: Path, log: Path) -> Path:
    """``aws`` (only ``s3 cp``) backed by tests/support/aws_s3_cp.py and the local S3."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "aws"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"AWS_STANDIN_LOG={shlex.quote(str(log))} PYTHONPATH={shlex.quote(str(repo))} "
        f"exec {shlex.quote(python)} -m tests.support.aws_s3_cp \"$@\"\n")
    script.chmod(0o755)
    return script


@dataclass
class SparkStandalone:
    """A master and a worker (each its own JVM, from ``$SPARK_HOME/bin/spark-class``)."""

    spark_home: Path
    workdir: Path
    env: dict[str, str]
    cores: int = 2
    memory: str = "2g"
    master_port: int = field(default_factory=free_port)
    master_ui: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def _start(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.procs.append(subprocess.Popen(
            [str(self.spark_home / "bin" / "spark-class"), *args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True))

    def __enter__(self) -> SparkStandalone:
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start("master", "org.apache.spark.deploy.master.Master", "--host",
                        "127.0.0.1", "--port", str(self.master_port),
                        "--webui-port", str(self.master_ui))
            self._start("worker", "org.apache.spark.deploy.worker.Worker", "--host",
                        "127.0.0.1", "--cores", str(self.cores), "--memory", self.memory,
                        "--webui-port", str(free_port()),
                        "--work-dir", str(self.workdir / "work"), self.url)
            self._wait_for_worker()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_worker(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"a Spark daemon exited: {self.logs()}")
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{self.master_ui}/json/", timeout=2) as resp:
                    state = json.load(resp)
                if state.get("aliveworkers", 0) >= 1:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"no Spark worker registered within {timeout:.0f} s: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-2000:]
                         for p in sorted(self.workdir.glob("*.log")))

    def stop(self) -> None:
        """SIGTERM to each daemon by PID (the worker kills its executors), then SIGKILL."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spark_defaults(request: dict[str, Any]) -> dict[str, str]:
    """The ``spark-defaults`` classification of a RunJobFlow request (what EMR writes to
    /etc/spark/conf/spark-defaults.conf)."""
    found: dict[str, str] = {}
    for conf in request.get("Configurations", []):
        if conf.get("Classification") == "spark-defaults":
            found.update({str(k): str(v) for k, v in conf.get("Properties", {}).items()})
    return found


@dataclass(frozen=True)
class Mapping:
    """Where the cluster's paths are on this machine."""

    spark_submit: str  # pyspark's bin/spark-submit
    master: str  # replaces --master yarn
    root: Path  # the bootstrap's DDBPIPE_ROOT: /usr/bin/python3.11 is under it
    jars: list[str]  # replace EMR's connector jar on the classpath
    first_jars: list[str]  # jars that must precede Spark's own (gson)
    files: dict[str, str]  # s3:// URIs of staged job files -> local copies


def map_step(argv: list[str], m: Mapping, connector_jar: str) -> list[str]:
    """The step's argv with the cluster's paths replaced; every other word stays as it is.

    ``spark-submit`` -> pyspark's; ``--master yarn`` -> the standalone master; the connector jar
    -> the jars of .cache/jars (gson before Spark's copy, on the driver and executor class path,
    as ddbpipe/spark.py does locally); a Python path -> the same path under the bootstrap's root;
    an s3:// job file -> its local copy."""
    if argv[0] != "spark-submit":
        raise ValueError(f"the step runs {argv[0]}, not spark-submit")
    out: list[str] = [m.spark_submit]
    words = iter(argv[1:])
    for word in words:
        if word == "--master":
            value = next(words)
            if value != "yarn":
                raise ValueError(f"the step's master is {value}, not yarn")
            out += [word, m.master]
        elif word == "--jars":
            first, *staged = next(words).split(",")
            if first != connector_jar or not all(j in m.files for j in staged):
                raise ValueError(f"the step's --jars is {first},{','.join(staged)}: not "
                                 f"{connector_jar} and staged jars")
            # The jars ddbpipe stages (its reader) come from the run's folder, as on EMR, not
            # from this checkout's .cache/jars.
            names = {Path(m.files[j]).name for j in staged}
            jars = [j for j in m.jars if Path(j).name not in names] + [m.files[j] for j in staged]
            out += [word, ",".join(jars), "--driver-class-path", ":".join(m.first_jars),
                    "--conf", f"spark.executor.extraClassPath={':'.join(m.first_jars)}"]
        elif word.startswith(("spark.pyspark.python=", "spark.pyspark.driver.python=")):
            key, _, path = word.partition("=")
            out.append(f"{key}={m.root}{path}")
        elif word in m.files:
            out.append(m.files[word])
        else:
            out.append(word)
    return out
