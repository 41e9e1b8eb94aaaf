"""bootstrap/: shellcheck-clean, and run in a temporary root with its commands stubbed.

The stubs (curl, aws, sudo and the cluster's python) log every call, so the tests check what
the script would do on a node: IMDSv2 only, downloads from the wheelhouse only, pip offline,
checksums, idempotence. Nothing leaves this machine: curl is a stub, the metadata URL points
nowhere, and "S3" is a folder. tests/e2e/test_rehearsal.py runs the script with a real pip.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bootstrap" / "install-ddbpipe.sh"
HOUSE = "s3://bkt/logs/ddbpipe-runs/r1/wheelhouse/"
ARCH = platform.machine()
OTHER_ARCH = "aarch64" if ARCH == "x86_64" else "x86_64"
WHEELS = {"ddbpipe-0.1.0-py3-none-any.whl": b"ddbpipe wheel",
          "boto3-1.40.0-py3-none-any.whl": b"boto3 wheel",
          "pip-25.1-py3-none-any.whl": b"pip wheel"}

STUBS = {
    "curl": r"""#!/usr/bin/env bash
echo "curl $*" >> "$STUB_LOG"
[ -z "${STUB_IMDS_DOWN:-}" ] || exit 7
put=""; token=""; url=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    -X) [ "$2" = PUT ] && put=1; shift 2 ;;
    -H) case "$2" in "X-aws-ec2-metadata-token: "*) token="${2#*: }" ;; esac; shift 2 ;;
    --max-time|--retry) shift 2 ;;
    -*) shift ;;
    *) url="$1"; shift ;;
  esac
done
if [ -n "$put" ] && [ "${url##*/latest/}" = "api/token" ]; then printf 'TOKEN123'; exit 0; fi
[ "$token" = TOKEN123 ] || exit 22   # IMDSv1 (no token) is refused, as on an IMDSv2-only node
case "$url" in
  */meta-data/placement/region) printf 'eu-west-1' ;;
  */meta-data/instance-id) printf 'i-0123456789' ;;
  *) exit 22 ;;
esac
""",
    "aws": r"""#!/usr/bin/env bash
echo "aws $*" >> "$STUB_LOG"
[ "$1 $2" = "s3 cp" ] || exit 2
dst="${*: -1}"; src="${*: -2:1}"
cp "$STUB_S3/${src#s3://}" "$dst" 2>/dev/null || exit 1
""",
    "sudo": r"""#!/usr/bin/env bash
echo "sudo $*" >> "$STUB_LOG"
exec "$@"
""",
    "python3.11": r"""#!/usr/bin/env bash
echo "python $*" >> "$STUB_LOG"
[ "$1" = "-I" ] || exit 4   # always isolated
shift
if [ "$1 $2" = "-m pip" ]; then
  [ -f "$STUB_STATE/pip" ] || exit 1
  [ "$3" = "--version" ] && exit 0
  case " $* " in *" --no-deps "*) touch "$STUB_STATE/ddbpipe" ;; esac
  exit 0
fi
case "$1" in */pip-*.whl/pip) touch "$STUB_STATE/pip"; exit 0 ;; esac
if [ "$1" = "-c" ]; then
  [ -f "$STUB_STATE/ddbpipe" ] || exit 1
  case "$2" in *print*) echo 0.1.0 ;; esac
  exit 0
fi
exit 3
""",
}


class Node:
    """A temporary root with the cluster's Python stubbed, stub commands, S3 as a folder."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        self.state = tmp / "state"
        self.s3 = tmp / "s3"
        self.log = tmp / "calls.log"
        for path in (self.root / "usr/bin", self.bin, self.state, self.s3):
            path.mkdir(parents=True)
        for name, text in STUBS.items():
            stub = (self.root / "usr/bin" if name == "python3.11" else self.bin) / name
            stub.write_text(text)
            stub.chmod(0o755)
        (self.state / "pip").touch()
        self.stage()

    def stage(self, requirements: str = "# pinned\nboto3==1.40.0\n",
              wheels: dict[str, bytes] | None = None, sums: str | None = None) -> None:
        """Put a wheelhouse under HOUSE: its files and their SHA256SUMS."""
        folder = self.s3 / HOUSE[len("s3://"):]
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        files = {**(WHEELS if wheels is None else wheels),
                 "requirements.txt": requirements.encode()}
        for name, body in files.items():
            (folder / name).write_bytes(body)
        (folder / "SHA256SUMS").write_text(sums if sums is not None else "".join(
            f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in files.items()))

    def run(self, *extra: str, env: dict[str, str] | None = None,
            args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        argv = args if args is not None else [
            "--wheelhouse", HOUSE, "--arch", ARCH, "--python", "/usr/bin/python3.11", *extra]
        full_env = {
            "PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.root),
            "DDBPIPE_ROOT": str(self.root), "DDBPIPE_IMDS_URL": "http://imds.invalid",
            "STUB_LOG": str(self.log), "STUB_STATE": str(self.state), "STUB_S3": str(self.s3),
            **(env or {}),
        }
        return subprocess.run(["bash", str(SCRIPT), *argv], env=full_env, capture_output=True,
                              text=True, timeout=60, check=False)

    def calls(self, prefix: str = "") -> list[str]:
        return [c for c in self.log.read_text().splitlines() if c.startswith(prefix)]


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return Node(tmp_path)


def test_bootstrap_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    proc = subprocess.run([shellcheck, "--severity=style", *sorted(
        str(p) for p in (ROOT / "bootstrap").glob("*.sh"))], capture_output=True, text=True,
        check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_bootstrap_is_strict_and_executable():
    text = SCRIPT.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert os.access(SCRIPT, os.X_OK)


def test_installs_from_the_wheelhouse_only_using_imdsv2_only(node: Node):
    proc = node.run()
    assert proc.returncode == 0, proc.stderr

    curls = node.calls("curl")
    assert "-X PUT http://imds.invalid/latest/api/token" in curls[0]
    assert "X-aws-ec2-metadata-token-ttl-seconds" in curls[0]
    assert all("X-aws-ec2-metadata-token: TOKEN123" in c for c in curls[1:])
    assert len(curls) == 3

    downloads = node.calls("aws")
    # the region comes from IMDS, on every download; SHA256SUMS first, then what it lists
    assert all(c.startswith("aws s3 cp --only-show-errors --region eu-west-1 ") for c in downloads)
    assert [c.split()[6] for c in downloads] == [HOUSE + "SHA256SUMS"] + [
        HOUSE + n for n in [*WHEELS, "requirements.txt"]]

    pips = node.calls("python -I -m pip install")
    assert len(pips) == 2
    offline = "--no-input --disable-pip-version-check --no-cache-dir --no-index --find-links "
    assert all(offline in p for p in pips)
    assert pips[0].split("--find-links ")[1].split()[0].endswith("/wheelhouse")
    assert pips[0].endswith("/wheelhouse/requirements.txt")
    assert pips[1].split()[-3:-1] == ["--no-deps", "--force-reinstall"]
    assert pips[1].endswith("/wheelhouse/ddbpipe-0.1.0-py3-none-any.whl")

    kept = node.root / "opt/ddbpipe/wheelhouse"
    assert (kept / "ddbpipe-0.1.0-py3-none-any.whl").read_bytes() == b"ddbpipe wheel"
    assert (kept / "requirements.txt").read_text() == "# pinned\nboto3==1.40.0\n"
    assert (node.root / "var/lib/ddbpipe/installed.sha256").read_text().strip()
    assert f"node i-0123456789 ({ARCH}) in eu-west-1" in proc.stderr
    assert "installed ddbpipe 0.1.0 for /usr/bin/python3.11 from 4 staged files" in proc.stderr
    assert "EMR installs /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar with Spark" in proc.stderr
    assert node.calls("sudo") == []  # under DDBPIPE_ROOT everything written is the caller's
    code = [line for line in SCRIPT.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if any(w in line.split() for w in ("dnf", "yum"))]


def test_a_second_run_fetches_the_sums_only_and_installs_nothing(node: Node):
    assert node.run().returncode == 0
    again = node.run()
    assert again.returncode == 0, again.stderr
    assert [c.split()[6] for c in node.calls("aws")] == [HOUSE + "SHA256SUMS"]
    assert node.calls("python -I -m pip install") == []
    assert "already installed from this wheelhouse" in again.stderr

    node.stage(requirements="boto3==1.40.1\n")  # a new wheelhouse: installs again
    assert node.run().returncode == 0
    assert len(node.calls("python -I -m pip install")) == 2


def test_a_python_without_pip_gets_it_from_the_staged_wheel(node: Node):
    (node.state / "pip").unlink()
    proc = node.run()
    assert proc.returncode == 0, proc.stderr
    (boot,) = [c for c in node.calls("python -I ") if "pip-25.1-py3-none-any.whl/pip install" in c]
    assert "--no-index --find-links " in boot
    assert boot.endswith("/wheelhouse/pip-25.1-py3-none-any.whl")
    assert "has no pip; installing pip-25.1-py3-none-any.whl from the wheelhouse" in proc.stderr
    assert len(node.calls("python -I -m pip install")) == 2


def test_a_file_that_does_not_match_its_sum_is_refused(node: Node):
    node.stage()
    (node.s3 / HOUSE[5:] / "boto3-1.40.0-py3-none-any.whl").write_bytes(b"tampered")
    proc = node.run()
    assert proc.returncode != 0
    assert "does not match its SHA256SUMS line" in proc.stderr
    assert node.calls("python -I -m pip") == []


@pytest.mark.parametrize(("sums", "message"), [
    (f"{'0' * 64}  ../../etc/passwd\n", "not '<sha256>  <wheel or requirements.txt>'"),
    (f"{'0' * 64}  x.whl\n", "must hold one ddbpipe wheel"),
])
def test_a_bad_sums_file_is_refused_before_any_download(node: Node, sums: str, message: str):
    node.stage(sums=sums)
    proc = node.run()
    assert proc.returncode != 0
    assert message in proc.stderr
    assert [c.split()[6] for c in node.calls("aws")] == [HOUSE + "SHA256SUMS"]


def test_a_wheelhouse_for_another_architecture_is_refused(node: Node):
    proc = node.run(args=["--wheelhouse", HOUSE, "--arch", OTHER_ARCH])
    assert proc.returncode != 0
    assert f"built for {OTHER_ARCH} but this node is {ARCH}" in proc.stderr
    assert node.calls("curl") == []


def test_a_missing_python_is_refused_not_installed(node: Node):
    (node.root / "usr/bin/python3.11").unlink()
    proc = node.run()
    assert proc.returncode != 0
    assert "/usr/bin/python3.11 is missing on this node" in proc.stderr
    assert [c.split()[6] for c in node.calls("aws")] == [HOUSE + "SHA256SUMS"]


def test_a_connector_jar_is_staged(node: Node):
    jar = node.s3 / "bkt/jars/emr-ddb-hadoop-5.2.0.jar"
    jar.parent.mkdir(parents=True)
    jar.write_bytes(b"connector")
    proc = node.run("--connector-jar", "s3://bkt/jars/emr-ddb-hadoop-5.2.0.jar")
    assert proc.returncode == 0, proc.stderr
    staged = node.root / "opt/ddbpipe/lib/emr-ddb-hadoop.jar"
    assert staged.read_bytes() == b"connector"
    assert "staged at /opt/ddbpipe/lib/emr-ddb-hadoop.jar" in proc.stderr


def test_the_emr_connector_is_reported_when_present(node: Node):
    jar = node.root / "usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar"
    jar.parent.mkdir(parents=True)
    jar.write_text("jar")
    proc = node.run()
    assert proc.returncode == 0, proc.stderr
    assert "connector: /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar is present" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--arch", ARCH], "--wheelhouse is required"),
    (["--wheelhouse", HOUSE], "--arch is required"),
    (["--wheelhouse", "/tmp/house/", "--arch", ARCH], "must be an s3:// folder ending in /"),
    (["--wheelhouse", HOUSE, "--arch", "sparc"], "--arch must be x86_64 or aarch64"),
    (["--wheelhouse", HOUSE, "--arch", ARCH, "--python", "python3"], "an absolute path"),
    (["--wheelhouse", HOUSE, "--arch", ARCH, "--bogus"], "unknown argument: --bogus"),
])
def test_bad_arguments_fail_clearly(node: Node, args: list[str], message: str):
    proc = node.run(args=args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert node.calls("curl") == []


def test_unpinned_requirements_are_refused(node: Node):
    node.stage(requirements="boto3>=1.34\n")
    proc = node.run()
    assert proc.returncode != 0
    assert "must pin every package" in proc.stderr
    assert node.calls("python -I -m pip install") == []


def test_no_metadata_service_fails_clearly(node: Node):
    proc = node.run(env={"STUB_IMDS_DOWN": "1"})
    assert proc.returncode != 0
    assert "no IMDSv2 token" in proc.stderr
    assert node.calls("aws") == []
