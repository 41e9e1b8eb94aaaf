"""The files a run puts in S3 under ``<staging-uri>/runs/<run>/`` (or ``schedules/<name>/``).

The wheel is built from the checkout with ``python -m build --wheel`` (on a clean copy, so no
build/ or egg-info lands in it), its dependencies are pinned as installed here and staged as
wheels for the nodes (``wheelhouse/``, see :mod:`ddbpipe.cluster.wheelhouse`), and the job file
comes from the package ``ddbpipe.jobs`` that the wheel ships. :func:`plan_uploads` says what goes
where (a dry run prints it); :func:`upload` puts it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, TextIO

from ddbpipe import __version__
from ddbpipe.aws import error_code
from ddbpipe.cluster import definition as d
from ddbpipe.cluster import wheelhouse as wh
from ddbpipe.cluster.emr_errors import ACCESS_DENIED
from ddbpipe.errors import BucketError, ConfigError, DdbpipeError, EndpointUnreachable
from ddbpipe.s3uri import S3Uri

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class WheelBuildFailed(DdbpipeError):
    """The ddbpipe wheel the cluster installs could not be built from the checkout."""


#: What a wheel build needs from the checkout; copied so no build/ or egg-info lands in it.
#: (ddbpipe/cluster and ddbpipe/jobs are links to the top-level folders, copied as links.)
SOURCE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in", "setup.cfg",
                  "setup.py", "ddbpipe", "cluster", "jobs")


def checkout_root() -> Path:
    from ddbpipe.home import project_root

    return project_root()


def job_path(kind: d.JobKind) -> Path:
    """The script of job ``kind`` as the package ``ddbpipe.jobs`` ships it (the EMR step runs it).

    From a checkout that is its jobs/ folder; from an installed wheel, the copy the wheel carries.
    """
    from ddbpipe import jobs

    return (Path(str(jobs.__file__)).parent / d.JOB_FILES[kind]).resolve()


def predicted_wheel_name(version: str = __version__) -> str:
    return f"ddbpipe-{version}-py3-none-any.whl"


def build_wheel(root: Path, outdir: Path) -> Path:
    """``python -m build --wheel`` on a clean copy of the checkout; returns the wheel's path."""
    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"{root} is not a ddbpipe checkout (no pyproject.toml).",
                          "Run ddbpipe emr from a checkout, or set DDBPIPE_HOME to one.")
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ddbpipe-src-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
        for name in SOURCE_ENTRIES:
            path = root / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=ignore, symlinks=True)
            elif path.is_file():
                shutil.copy2(path, src / name)
        try:
            import build  # noqa: F401

            cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(src)]
        except ImportError:
            cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir",
                   str(outdir), str(src)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise WheelBuildFailed(
                f"Building the ddbpipe wheel from {root} failed ({' '.join(cmd[1:4])}):\n{tail}",
                "Fix what the build says above; `make wheel` in the checkout runs the same build "
                "with its whole output (`make setup` first if build or setuptools is missing).")
    wheels = sorted(outdir.glob("ddbpipe-*.whl"))
    if len(wheels) != 1:
        raise WheelBuildFailed(
            f"The wheel build left {len(wheels)} ddbpipe wheels in {outdir}, not one.",
            "Give the build an empty folder, and check that pyproject.toml builds the one "
            "distribution ddbpipe (`make wheel` shows what it builds).")
    return wheels[0]


def wheel_requires(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        text = zf.read(meta).decode("utf-8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.startswith("Requires-Dist:")]


def installed_requires() -> list[str]:
    import importlib.metadata

    try:
        return list(importlib.metadata.requires("ddbpipe") or [])
    except importlib.metadata.PackageNotFoundError:
        return ["boto3"]


def _packaging() -> Any:
    try:
        import packaging.requirements as requirements
    except ImportError:  # pip vendors it
        from pip._vendor.packaging import requirements  # type: ignore[no-redef]
    return requirements


def cluster_marker_env(python_version: str = "3.11", machine: str = "x86_64") -> dict[str, str]:
    """PEP 508 marker values of the cluster's Python (Amazon Linux 2023, x86_64 or aarch64)."""
    return {
        "python_version": python_version, "python_full_version": f"{python_version}.0",
        "implementation_name": "cpython", "implementation_version": f"{python_version}.0",
        "platform_python_implementation": "CPython", "os_name": "posix",
        "sys_platform": "linux", "platform_system": "Linux", "platform_machine": machine,
        "platform_release": "", "platform_version": "", "extra": "",
    }


def pinned_requirements(
    roots: Iterable[str],
    version_of: Optional[Callable[[str], str]] = None,
    requires_of: Optional[Callable[[str], Iterable[str]]] = None,
    python_version: str = "3.11",
    machine: str = "x86_64",
) -> list[str]:
    """``NAME==VERSION`` for ``roots`` and everything they pull in, as installed here.

    The cluster gets exactly the versions this machine ran the tests with. Markers are evaluated
    for the cluster's Python; extras are not followed.
    """
    import importlib.metadata

    requirements = _packaging()
    version_of = version_of or importlib.metadata.version
    requires_of = requires_of or (lambda name: importlib.metadata.requires(name) or [])
    env = cluster_marker_env(python_version, machine)
    pins: dict[str, str] = {}
    queue = list(roots)
    while queue:
        req = requirements.Requirement(queue.pop(0))
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        key = req.name.lower().replace("_", "-").replace(".", "-")
        if key in pins:
            continue
        try:
            version = version_of(req.name)
        except importlib.metadata.PackageNotFoundError as err:
            raise ConfigError(
                f"{req.name}, a dependency of ddbpipe, is not installed here, so it cannot be "
                "pinned for the cluster.",
                "Install ddbpipe with its dependencies first (pip install -e .).",
            ) from err
        pins[key] = version
        queue.extend(requires_of(req.name))
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def requirements_text(pins: Iterable[str]) -> str:
    lines = [f"# ddbpipe {__version__}: dependencies pinned as installed where the run started",
             *pins]
    return "\n".join(lines) + "\n"


def wheel_digest(wheel: Path) -> str:
    """sha256 of the wheel's file names and contents (zip timestamps left out)."""
    h = hashlib.sha256()
    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(zf.namelist()):
            h.update(name.encode() + b"\0" + hashlib.sha256(zf.read(name)).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class Upload:
    """One object the run puts in S3: from a local file, or generated bytes."""

    uri: str
    what: str  # shown by --dry-run
    path: Optional[Path] = None
    body: Optional[bytes] = None
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


def bootstrap_architecture(request: dict[str, Any]) -> str:
    """The architecture the request's bootstrap installs wheels for (its ``--arch``)."""
    for action in request.get("BootstrapActions", []):
        if action.get("Name") == d.BOOTSTRAP_ACTION_NAME:
            args = action["ScriptBootstrapAction"]["Args"]
            return str(args[args.index("--arch") + 1])
    raise ValueError("the request has no ddbpipe bootstrap action")


def wheelhouse_uploads(plan: d.RunPlan, wheel: Path, requirements: str,
                       cache: Optional[Path] = None,
                       download: Optional[wh.Downloader] = None) -> list[Upload]:
    """The wheelhouse for the plan's nodes: ddbpipe, a wheel of every pin, pip, SHA256SUMS.

    ``requirements`` were pinned with x86_64 markers; for Graviton nodes they are pinned again
    from the wheel's own requirements with aarch64 markers."""
    target = wh.Target(bootstrap_architecture(plan.request))
    if target.machine != "x86_64":
        requirements = requirements_text(pinned_requirements(wheel_requires(wheel),
                                                             machine=target.machine))
    house = wh.build(wheel, requirements, target, cache or wh.cache_for(target),
                     download or wh.pip_download)
    folder = plan.staging.wheelhouse_uri
    uploads = [Upload(plan.staging.wheel_uri, str(wheel), path=wheel,
                      metadata={"ddbpipe-digest": wheel_digest(wheel)})]
    uploads += [Upload(folder + p.name, f"{p.name} for {target.key}", path=p)
                for p in house.wheels[1:]]
    uploads.append(Upload(plan.staging.requirements_uri, "pinned requirements",
                          body=requirements.encode(), content_type="text/plain"))
    # Last: the bootstrap reads it first, so a half-staged wheelhouse is never taken for whole.
    uploads.append(Upload(folder + wh.SUMS_FILE, "sha256 of every file of the wheelhouse",
                          body=house.sums().encode(), content_type="text/plain"))
    return uploads


def plan_uploads(plan: d.RunPlan, root: Path, *, wheel: Optional[Path] = None,
                 requirements: Optional[str] = None, for_dry_run: bool = False,
                 wheel_cache: Optional[Path] = None,
                 download: Optional[wh.Downloader] = None) -> list[Upload]:
    """The run's uploads. Without ``wheel``/``requirements`` (a dry run) they are described only.

    The bootstrap script comes from the checkout ``root`` the wheel is built from; the job file
    from the package ``ddbpipe.jobs``; the dependencies' wheels from ``wheel_cache`` (default
    ``.cache/wheelhouse/<target>``), downloaded there with ``download`` when missing.
    """
    job = job_path(plan.job.kind)
    if not job.is_file() and not for_dry_run:
        raise ConfigError(f"The job file {job} is missing from ddbpipe.jobs.",
                          "Reinstall ddbpipe from a complete checkout (`make setup`).")
    uploads = []
    if plan.uploads_wheel:
        bootstrap = root / "bootstrap" / d.BOOTSTRAP_SCRIPT
        if not bootstrap.is_file() and not for_dry_run:
            raise ConfigError(f"The bootstrap script {bootstrap} is missing.",
                              "Run from a complete ddbpipe checkout (or set DDBPIPE_HOME).")
        if wheel is not None and requirements is not None:
            uploads += wheelhouse_uploads(plan, wheel, requirements, wheel_cache, download)
        else:
            target = wh.Target(bootstrap_architecture(plan.request))
            uploads.append(Upload(plan.staging.wheelhouse_uri,
                                  f"wheelhouse for {target.key}: the ddbpipe wheel built from "
                                  f"{root}, a wheel of every pinned dependency and of pip "
                                  "(from .cache/wheelhouse or pip download), SHA256SUMS"))
        uploads.append(Upload(plan.staging.bootstrap_uri, str(bootstrap), path=bootstrap,
                              content_type="text/x-shellscript"))
    uploads.append(Upload(plan.staging.job_uri(plan.job.kind), str(job), path=job,
                          content_type="text/x-python"))
    reader = reader_jar_path()
    if not reader.is_file() and not for_dry_run:
        raise ConfigError(f"{reader} is missing: the export's input format, built from jvm/.",
                          "Run `make setup` in the ddbpipe checkout (or point DDBPIPE_JARS at a "
                          f"folder holding {d.READER_JAR}).")
    uploads.append(Upload(plan.staging.reader_jar_uri, str(reader), path=reader,
                          content_type="application/java-archive"))
    return uploads


def reader_jar_path() -> Path:
    """ddbpipe's reader jar as `make setup` built it (``DDBPIPE_JARS`` or .cache/jars)."""
    from ddbpipe.spark import jars_dir

    return jars_dir() / d.READER_JAR


def upload(s3: S3Client, uploads: Iterable[Upload], out: Optional[TextIO] = None) -> None:
    """Put every upload; a missing or unwritable bucket is told as such."""
    import botocore.exceptions

    for item in uploads:
        uri = S3Uri.parse(item.uri)
        body = item.body if item.body is not None else (item.path.read_bytes() if item.path
                                                        else None)
        if body is None:
            raise ValueError(f"nothing to upload for {item.uri}")
        try:
            s3.put_object(Bucket=uri.bucket, Key=uri.key, Body=body,
                          ContentType=item.content_type, Metadata=item.metadata)
        except botocore.exceptions.ClientError as err:
            code = error_code(err)
            if code in ("NoSuchBucket", "404"):
                raise BucketError(f"Bucket {uri.bucket!r} does not exist.",
                                  "Create it, or fix --log-uri (the run's files are staged "
                                  "under it).") from err
            if code in ACCESS_DENIED or code == "AllAccessDisabled":
                raise BucketError(f"Cannot write {item.uri} ({code}).",
                                  "Grant s3:PutObject on the log folder (`ddbpipe iam policy` "
                                  "prints a policy that does).") from err
            raise
        except botocore.exceptions.EndpointConnectionError as err:
            raise EndpointUnreachable(f"Cannot reach S3 ({err}).",
                                      "Fix --endpoint-url / AWS_ENDPOINT_URL_S3.") from err
        if out:
            print(f"uploaded {item.uri}", file=out)
