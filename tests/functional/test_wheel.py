"""What the wheel EMR nodes install holds: the runtime package and the job files, nothing else.

The wheel is the one ``ddbpipe emr`` builds and uploads (``python -m build --wheel`` on a clean
copy of the checkout, the session fixture ``built``). No server is needed.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from ddbpipe import __version__
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import staging

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def names(built: tuple[Path, str]) -> set[str]:
    with zipfile.ZipFile(built[0]) as zf:
        return set(zf.namelist())


def runtime_modules() -> set[str]:
    """Every module of the package in the checkout, through the links to cluster/ and jobs/."""
    out = set()
    for folder, dirs, files in os.walk(ROOT / "ddbpipe", followlinks=True):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        rel = Path(folder).relative_to(ROOT)
        out |= {(rel / f).as_posix() for f in files if f.endswith(".py")}
    return out


def test_the_wheel_holds_the_runtime_package(names):
    assert runtime_modules() <= names
    assert {"ddbpipe/py.typed", "ddbpipe/cluster/launcher.py", "ddbpipe/cluster/staging.py",
            "ddbpipe/cluster/monitor.py", "ddbpipe/commands/emr.py"} <= names
    dist = f"ddbpipe-{__version__}.dist-info"
    assert {n.split("/")[0] for n in names} == {"ddbpipe", dist}


def test_the_wheel_holds_the_job_files_the_launcher_uploads(built, names):
    with zipfile.ZipFile(built[0]) as zf:
        for kind, job_file in d.JOB_FILES.items():
            shipped = zf.read(f"ddbpipe/jobs/{job_file}")
            assert shipped == (ROOT / "jobs" / job_file).read_bytes()
            assert shipped == staging.job_path(kind).read_bytes()


def test_development_tools_tests_and_top_level_folders_stay_out(built, names):
    for name in names:
        parts = name.split("/")
        assert parts[0] not in {"cluster", "jobs", "tests", "bench", "dev", "ddbpipe_dev"}, name
        assert not {"localstack.py", "sample.py", "demo.py"} & set(parts), name
        assert "tests" not in parts and "bench" not in parts, name
    with zipfile.ZipFile(built[0]) as zf:
        meta = f"ddbpipe-{__version__}.dist-info"
        assert zf.read(f"{meta}/top_level.txt").decode().split() == ["ddbpipe"]
        assert "ddbpipe = ddbpipe.cli:main" in zf.read(f"{meta}/entry_points.txt").decode()
