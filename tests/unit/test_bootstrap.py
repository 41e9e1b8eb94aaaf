"""bootstrap/: shellcheck-clean, and run in a temporary root with its commands stubbed.

The stubs (curl, aws, dnf, sudo and the cluster's python) log every call, so the tests check what
the script would do on a node: IMDSv2 only, downloads, pip with pins, idempotence. Nothing leaves
this machine: curl is a stub, and the metadata URL points nowhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bootstrap" / "install-ddbpipe.sh"
WHEEL_URI = "s3://bkt/logs/ddbpipe-runs/r1/ddbpipe-0.1.0-py3-none-any.whl"
REQ_URI = "s3://bkt/logs/ddbpipe-runs/r1/requirements.txt"

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
case "$src" in
  *requirements.txt) printf '%s' "${STUB_REQUIREMENTS}" > "$dst" ;;
  *) printf 'bytes of %s\n' "$src" > "$dst" ;;
esac
""",
    "dnf": r"""#!/usr/bin/env bash
echo "dnf $*" >> "$STUB_LOG"
touch "$STUB_STATE/pip"
""",
    "sudo": r"""#!/usr/bin/env bash
echo "sudo $*" >> "$STUB_LOG"
exec "$@"
""",
    "python3.11": r"""#!/usr/bin/env bash
echo "python $*" >> "$STUB_LOG"
if [ "$1 $2" = "-m pip" ]; then
  [ -f "$STUB_STATE/pip" ] || exit 1
  [ "$3" = "--version" ] && exit 0
  case " $* " in *" --no-deps "*) touch "$STUB_STATE/ddbpipe" ;; esac
  exit 0
fi
if [ "$1" = "-c" ]; then
  [ -f "$STUB_STATE/ddbpipe" ] || exit 1
  case "$2" in *print*) echo 0.1.0 ;; esac
  exit 0
fi
exit 3
""",
}


class Node:
    """A temporary root, stub commands and their call log."""

    def __init__(self, tmp: Path) -> None:
        self.root = tmp / "root"
        self.bin = tmp / "bin"
        self.state = tmp / "state"
        self.log = tmp / "calls.log"
        for path in (self.root, self.bin, self.state):
            path.mkdir()
        for name, text in STUBS.items():
            stub = self.bin / name
            stub.write_text(text)
            stub.chmod(0o755)
        (self.state / "pip").touch()
        self.requirements = "# pinned\nboto3==1.40.0\nbotocore==1.40.0\n"

    def run(self, *extra: str, env: dict[str, str] | None = None,
            args: list[str] | None = None) -> subprocess.CompletedProcess[str]:
        self.log.write_text("")
        argv = args if args is not None else [
            "--wheel", WHEEL_URI, "--requirements", REQ_URI,
            "--python", str(self.bin / "python3.11"), *extra]
        full_env = {
            "PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.root),
            "DDBPIPE_ROOT": str(self.root), "DDBPIPE_IMDS_URL": "http://imds.invalid",
            "STUB_LOG": str(self.log), "STUB_STATE": str(self.state),
            "STUB_REQUIREMENTS": self.requirements, **(env or {}),
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


def test_installs_the_wheel_and_its_pins_using_imdsv2_only(node: Node):
    proc = node.run()
    assert proc.returncode == 0, proc.stderr

    curls = node.calls("curl")
    assert "-X PUT http://imds.invalid/latest/api/token" in curls[0]
    assert "X-aws-ec2-metadata-token-ttl-seconds" in curls[0]
    assert all("X-aws-ec2-metadata-token: TOKEN123" in c for c in curls[1:])
    assert len(curls) == 3

    downloads = node.calls("aws")
    # the region comes from IMDS, on every download
    assert all(c.startswith("aws s3 cp --only-show-errors --region eu-west-1 ") for c in downloads)
    assert [c.split()[6] for c in downloads] == [WHEEL_URI, REQ_URI]

    pips = node.calls("python -m pip install")
    assert len(pips) == 2
    assert pips[0].startswith("python -m pip install --no-input --disable-pip-version-check "
                              "--requirement ")
    assert pips[1].endswith("--no-deps --force-reinstall " + pips[1].split()[-1])
    assert pips[1].split()[-1].endswith("/ddbpipe-0.1.0-py3-none-any.whl")

    dist = node.root / "opt/ddbpipe/dist"
    assert (dist / "ddbpipe-0.1.0-py3-none-any.whl").read_text() == f"bytes of {WHEEL_URI}\n"
    assert (dist / "requirements.txt").read_text() == node.requirements
    assert (node.root / "var/lib/ddbpipe/installed.sha256").read_text().strip()
    assert "node i-0123456789 in eu-west-1" in proc.stderr
    assert "installed ddbpipe 0.1.0" in proc.stderr
    assert "EMR installs /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar with Spark" in proc.stderr
    assert not node.calls("dnf")


def test_a_second_run_installs_nothing(node: Node):
    assert node.run().returncode == 0
    again = node.run()
    assert again.returncode == 0, again.stderr
    assert node.calls("python -m pip install") == []
    assert "already installed from these files" in again.stderr

    node.requirements = "boto3==1.40.1\n"  # new files: installs again
    assert node.run().returncode == 0
    assert len(node.calls("python -m pip install")) == 2


def test_missing_pip_is_installed_with_dnf(node: Node):
    (node.state / "pip").unlink()
    proc = node.run()
    assert proc.returncode == 0, proc.stderr
    assert node.calls("dnf") == ["dnf install -y python3.11-pip"]


def test_a_connector_jar_is_staged(node: Node):
    (node.root / "usr/share/aws/emr/ddb/lib").mkdir(parents=True)
    proc = node.run("--connector-jar", "s3://bkt/jars/emr-ddb-hadoop-5.2.0.jar")
    assert proc.returncode == 0, proc.stderr
    staged = node.root / "opt/ddbpipe/lib/emr-ddb-hadoop.jar"
    assert staged.read_text() == "bytes of s3://bkt/jars/emr-ddb-hadoop-5.2.0.jar\n"
    assert "staged at /opt/ddbpipe/lib/emr-ddb-hadoop.jar" in proc.stderr


def test_the_emr_connector_is_reported_when_present(node: Node):
    jar = node.root / "usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar"
    jar.parent.mkdir(parents=True)
    jar.write_text("jar")
    proc = node.run()
    assert proc.returncode == 0, proc.stderr
    assert "connector: /usr/share/aws/emr/ddb/lib/emr-ddb-hadoop.jar is present" in proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["--requirements", REQ_URI], "--wheel is required"),
    (["--wheel", "/tmp/x.whl", "--requirements", REQ_URI], "s3:// URI of a .whl"),
    (["--wheel", WHEEL_URI, "--requirements", REQ_URI, "--bogus"], "unknown argument: --bogus"),
])
def test_bad_arguments_fail_clearly(node: Node, args: list[str], message: str):
    proc = node.run(args=args)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert node.calls("curl") == []


def test_unpinned_requirements_are_refused(node: Node):
    node.requirements = "boto3>=1.34\n"
    proc = node.run()
    assert proc.returncode != 0
    assert "must pin every package" in proc.stderr
    assert node.calls("python -m pip install") == []


def test_no_metadata_service_fails_clearly(node: Node):
    proc = node.run(env={"STUB_IMDS_DOWN": "1"})
    assert proc.returncode != 0
    assert "no IMDSv2 token" in proc.stderr
    assert node.calls("aws") == []
