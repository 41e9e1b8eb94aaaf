"""cluster/wheelhouse.py: the wheels the nodes install offline, for the nodes' architecture.

pip is replaced by a fake downloader that writes wheel files as PyPI names them, so the cache,
the tag matching and the staged files are tested without a network.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path
from typing import Sequence

import pytest

from ddbpipe.cluster import definition as d
from ddbpipe.cluster import staging
from ddbpipe.cluster import wheelhouse as wh
from ddbpipe.s3uri import S3Uri


@pytest.mark.parametrize(("instance_type", "arch"), [
    ("m5.xlarge", "x86_64"), ("m6g.xlarge", "aarch64"), ("m7g.2xlarge", "aarch64"),
    ("c7g.large", "aarch64"), ("r6g.4xlarge", "aarch64"), ("m6gd.xlarge", "aarch64"),
    ("c6gn.xlarge", "aarch64"), ("im4gn.large", "aarch64"), ("is4gen.large", "aarch64"),
    ("x2gd.xlarge", "aarch64"), ("g5g.xlarge", "aarch64"), ("r8g.large", "aarch64"),
    ("g4dn.xlarge", "x86_64"), ("m7i-flex.large", "x86_64"), ("m5zn.large", "x86_64"),
    ("c6a.xlarge", "x86_64"), ("M6G.XLARGE", "aarch64"),
])
def test_the_architecture_comes_from_the_instance_type(instance_type: str, arch: str):
    assert wh.architecture(instance_type) == arch


def test_the_bootstrap_is_told_the_architecture():
    staging_ = d.Staging(S3Uri("bkt", "logs/ddbpipe-runs/r1"), "ddbpipe-0.1.0-py3-none-any.whl")
    args = d.bootstrap_action(staging_, instance_type="m7g.xlarge")["ScriptBootstrapAction"]["Args"]
    assert args == ["--wheelhouse", "s3://bkt/logs/ddbpipe-runs/r1/wheelhouse/",
                    "--arch", "aarch64", "--python", "/usr/bin/python3.11"]


@pytest.mark.parametrize(("name", "machine", "fits"), [
    ("boto3-1.40.0-py3-none-any.whl", "aarch64", True),
    ("six-1.17.0-py2.py3-none-any.whl", "x86_64", True),
    ("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "aarch64", True),
    ("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "aarch64", False),
    ("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "x86_64", True),
    ("PyYAML-6.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "x86_64", False),
    ("PyYAML-6.0.2-cp311-cp311-macosx_11_0_arm64.whl", "aarch64", False),
    ("PyYAML-6.0.2-cp311-cp311-musllinux_1_1_x86_64.whl", "x86_64", False),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_34_aarch64.whl", "aarch64", True),
    ("cryptography-44.0.0-cp39-abi3-manylinux_2_35_aarch64.whl", "aarch64", False),  # glibc 2.34
    ("orjson-3.10.0-cp311-cp311-manylinux_2_5_x86_64.manylinux1_x86_64.whl", "x86_64", True),
])
def test_a_wheel_fits_cpython_311_on_amazon_linux_2023(name: str, machine: str, fits: bool):
    project, version = name.split("-")[:2]
    assert wh.wheel_fits(name, project, version, wh.Target(machine)) is fits


class FakePip:
    """Writes the wheel PyPI would serve for each pin: pure unless listed in ``binary``."""

    def __init__(self, binary: Sequence[str] = ()) -> None:
        self.binary = set(binary)
        self.calls: list[list[str]] = []

    def __call__(self, pins: Sequence[str], dest: Path, target: wh.Target) -> None:
        self.calls.append(list(pins))
        for pin in pins:
            name, version = pin.split("==")
            tag = (f"cp311-cp311-manylinux_2_17_{target.machine}.manylinux2014_{target.machine}"
                   if name in self.binary else "py3-none-any")
            (dest / f"{name.replace('-', '_')}-{version}-{tag}.whl").write_bytes(pin.encode())


def test_gather_downloads_only_what_the_cache_lacks(tmp_path: Path):
    pip = FakePip(binary=["pyyaml"])
    target = wh.Target("aarch64")
    first = wh.gather(["boto3==1.40.0", "pyyaml==6.0.2"], target, tmp_path, pip)
    assert [p.name for p in first] == [
        "boto3-1.40.0-py3-none-any.whl",
        "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"]
    again = wh.gather(["boto3==1.40.0", "pyyaml==6.0.2", "six==1.17.0"], target, tmp_path, pip)
    assert pip.calls == [["boto3==1.40.0", "pyyaml==6.0.2"], ["six==1.17.0"]]
    assert again[:2] == first


def test_a_cached_wheel_of_another_architecture_is_not_taken(tmp_path: Path):
    (tmp_path / "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"x86")
    pip = FakePip(binary=["pyyaml"])
    (found,) = wh.gather(["pyyaml==6.0.2"], wh.Target("aarch64"), tmp_path, pip)
    assert pip.calls == [["pyyaml==6.0.2"]]
    assert "aarch64" in found.name


def test_a_pin_without_a_fitting_wheel_is_refused(tmp_path: Path):
    def sdist_only(pins: Sequence[str], dest: Path, target: wh.Target) -> None:
        (dest / "legacy-1.0.tar.gz").write_bytes(b"")

    with pytest.raises(wh.WheelhouseError, match=r"No wheel of legacy==1\.0 for cp311-"):
        wh.gather(["legacy==1.0"], wh.Target("x86_64"), tmp_path, sdist_only)


def test_pip_download_is_asked_for_the_cluster_not_for_this_machine():
    options = wh.Target("aarch64").pip_options()
    assert options[:2] == ["--only-binary=:all:", "--no-deps"]
    assert options[options.index("--python-version") + 1] == "3.11"
    platforms = [options[i + 1] for i, o in enumerate(options) if o == "--platform"]
    assert platforms[0] == "manylinux_2_34_aarch64" and "manylinux2014_aarch64" in platforms
    assert not [p for p in platforms if "x86_64" in p or "_2_35_" in p]


def test_the_staged_wheelhouse_has_every_file_and_its_sum(tmp_path: Path):
    wheel = tmp_path / "ddbpipe-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("ddbpipe/__init__.py", "")
    plan = d.plan_run(d.JobSpec("export", ("--table", "Orders", "--to", "s3://out"), ("Orders",),
                                "eu-west-1"),
                      d.ClusterOptions(log_uri="s3://bkt/logs", instance_type="m5.xlarge",
                                       core_count=1),
                      run="r1", wheel_name=wheel.name)
    pip = FakePip(binary=["pyyaml"])
    uploads = staging.wheelhouse_uploads(plan, wheel, "# pins\nboto3==1.40.0\npyyaml==6.0.2\n",
                                         tmp_path / "cache", pip)
    house = "s3://bkt/ddbpipe-staging/runs/r1/wheelhouse/"
    assert [u.uri for u in uploads] == [house + n for n in [
        wheel.name, "boto3-1.40.0-py3-none-any.whl",
        "pyyaml-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        f"pip-{wh.pip_version()}-py3-none-any.whl", "requirements.txt", "SHA256SUMS"]]
    sums = uploads[-1].body.decode().splitlines() if uploads[-1].body else []
    bodies = {u.uri.rsplit("/", 1)[1]: u.body if u.body is not None else u.path.read_bytes()
              for u in uploads[:-1] if u.body is not None or u.path is not None}
    assert sums == [f"{hashlib.sha256(b).hexdigest()}  {n}" for n, b in bodies.items()]
    assert pip.calls == [["boto3==1.40.0", "pyyaml==6.0.2", f"pip=={wh.pip_version()}"]]


def test_pip_itself_is_not_a_pin(tmp_path: Path):
    wheel = tmp_path / "ddbpipe-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    with pytest.raises(ValueError, match="pip is staged by the wheelhouse"):
        wh.build(wheel, "pip==24.0\n", wh.Target("x86_64"), tmp_path, FakePip())
