"""The wheelhouse EMR nodes install ddbpipe from, with no package index and no internet.

A cluster in a private subnet reaches S3 through a gateway endpoint and nothing else, so every
package the bootstrap installs is staged next to the job: the ddbpipe wheel, a wheel of every
pinned dependency, and a pip wheel (for a Python that has no pip). The bootstrap installs them
with ``pip install --no-index --find-links`` after checking each file against ``SHA256SUMS``.

Wheels are for the cluster, not for this machine: CPython 3.11 on Amazon Linux 2023 (glibc 2.34),
x86_64 or aarch64 (Graviton) as the instance type says. They come from ``pip download
--only-binary=:all: --platform ... --python-version 3.11`` where the run starts, and are kept in
``.cache/wheelhouse/<target>/`` so the next run downloads nothing.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from ddbpipe.errors import ConfigError, DdbpipeError

#: The folder under a run's staging prefix, and the checksum file the bootstrap reads first.
FOLDER = "wheelhouse"
SUMS_FILE = "SHA256SUMS"
REQUIREMENTS_FILE = "requirements.txt"
PYTHON_VERSION = "3.11"
#: Amazon Linux 2023, the OS of EMR 7.x, ships glibc 2.34: manylinux wheels up to 2_34 run there.
GLIBC_MINOR = 34
ARCHITECTURES = ("x86_64", "aarch64")

_FAMILY = re.compile(r"^(?P<family>[a-z]+)(?P<generation>\d+)(?P<attributes>[a-z]*)(?:-[a-z]+)?$")
_WHEEL_NAME = re.compile(r"^[A-Za-z0-9._+-]+\.whl$")


class WheelhouseError(DdbpipeError):
    """The wheels the cluster installs could not be gathered."""


def architecture(instance_type: str) -> str:
    """``aarch64`` for a Graviton instance type, else ``x86_64``.

    EC2 names a type ``<family><generation><attributes>.<size>``; the attribute ``g`` marks an
    AWS Graviton processor (m6g, m7gd, c6gn, c7g, r8g, im4gn, is4gen, x2gd, g5g), while ``i``, ``a``
    (Intel, AMD), ``d``, ``n``, ``z`` and ``-flex`` do not (m5, m7i-flex, g4dn, m5zn).
    """
    family = instance_type.strip().lower().split(".", 1)[0]
    match = _FAMILY.match(family)
    return "aarch64" if match and "g" in match.group("attributes") else "x86_64"


@dataclass(frozen=True)
class Target:
    """The interpreter and platform the wheels must fit: CPython 3.11, manylinux, one machine."""

    machine: str
    python_version: str = PYTHON_VERSION

    def __post_init__(self) -> None:
        if self.machine not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.machine!r}")

    @property
    def key(self) -> str:
        """The cache folder's name, e.g. ``cp311-manylinux_2_34-aarch64``."""
        return f"cp{self.python_version.replace('.', '')}-manylinux_2_{GLIBC_MINOR}-{self.machine}"

    @property
    def abi(self) -> str:
        return f"cp{self.python_version.replace('.', '')}"

    def platforms(self) -> list[str]:
        """Every manylinux tag glibc 2.34 runs, newest first (pip takes them as given)."""
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in range(GLIBC_MINOR, 16, -1)]
        tags.append(f"manylinux2014_{self.machine}")
        if self.machine == "x86_64":
            tags += [f"manylinux_2_{minor}_x86_64" for minor in range(16, 4, -1)]
            tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
        return tags

    def supported_tags(self) -> frozenset[str]:
        tags = _packaging_tags()
        version = tuple(int(p) for p in self.python_version.split("."))
        platforms = self.platforms()
        found = list(tags.cpython_tags(version, abis=[self.abi], platforms=platforms))
        found += list(tags.compatible_tags(version, self.abi, platforms))
        return frozenset(str(t) for t in found)

    def pip_options(self) -> list[str]:
        """What makes ``pip download`` pick wheels for this target rather than for this machine."""
        options = ["--only-binary=:all:", "--no-deps", "--python-version", self.python_version,
                   "--implementation", "cp", "--abi", self.abi, "--abi", "abi3", "--abi", "none"]
        for platform in self.platforms():
            options += ["--platform", platform]
        return options


def _packaging_tags() -> Any:
    try:
        import packaging.tags as tags
    except ImportError:  # pip vendors it
        from pip._vendor.packaging import tags  # type: ignore[no-redef]
    return tags


def _packaging_utils() -> Any:
    try:
        import packaging.utils as utils
    except ImportError:
        from pip._vendor.packaging import utils  # type: ignore[no-redef]
    return utils


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pin(line: str) -> tuple[str, str]:
    name, sep, version = line.strip().partition("==")
    if not sep or not name or not version:
        raise ValueError(f"not a NAME==VERSION pin: {line!r}")
    return canonical(name), version


def wheel_fits(filename: str, name: str, version: str, target: Target,
               supported: Optional[frozenset[str]] = None) -> bool:
    """Whether ``filename`` is a wheel of ``name==version`` that runs on ``target``."""
    utils = _packaging_utils()
    try:
        wname, wversion, _build, wtags = utils.parse_wheel_filename(filename)
    except Exception:  # InvalidWheelFilename, InvalidVersion
        return False
    if canonical(str(wname)) != canonical(name) or str(wversion) != str(utils.Version(version)):
        return False
    supported = supported if supported is not None else target.supported_tags()
    return any(str(t) in supported for t in wtags)


def find_cached(cache: Path, name: str, version: str, target: Target,
                supported: Optional[frozenset[str]] = None) -> Optional[Path]:
    """The wheel of ``name==version`` for ``target`` in ``cache``; the most specific if several."""
    if not cache.is_dir():
        return None
    supported = supported if supported is not None else target.supported_tags()
    fits = sorted(p for p in cache.glob("*.whl")
                  if wheel_fits(p.name, name, version, target, supported))
    # A binary wheel beats a pure one when both are there (pip would prefer it too).
    fits.sort(key=lambda p: p.name.endswith("-none-any.whl"))
    return fits[0] if fits else None


Downloader = Callable[[Sequence[str], Path, Target], None]


def pip_download(pins: Sequence[str], dest: Path, target: Target) -> None:
    """``pip download`` of exact pins, wheels only, for ``target``, into ``dest``.

    It uses the index, proxy and certificates pip is configured with on this machine."""
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
           "--dest", str(dest), *target.pip_options(), *pins]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-6:])
        raise WheelhouseError(
            f"pip could not download wheels of {', '.join(pins)} for {target.key} "
            f"(CPython {target.python_version} on {target.machine}):\n{tail}",
            "A package without a wheel for the cluster cannot be installed offline: pin a "
            "version that has one, or check that this machine reaches the package index "
            "(pip's index-url and proxy settings apply).")


def pip_version() -> str:
    try:
        return importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError as err:
        raise ConfigError("pip is not installed where ddbpipe runs, so no pip wheel can be staged "
                          "for the cluster.", "Install pip (python -m ensurepip).") from err


def gather(pins: Sequence[str], target: Target, cache: Path,
           download: Downloader = pip_download) -> list[Path]:
    """A wheel for ``target`` of every ``NAME==VERSION`` in ``pins``: from the cache, downloading
    only what it lacks."""
    supported = target.supported_tags()
    parsed = [parse_pin(p) for p in pins]
    missing = [f"{n}=={v}" for n, v in parsed
               if find_cached(cache, n, v, target, supported) is None]
    if missing:
        cache.mkdir(parents=True, exist_ok=True)
        download(missing, cache, target)
    wheels = []
    for name, version in parsed:
        found = find_cached(cache, name, version, target, supported)
        if found is None:
            raise WheelhouseError(
                f"No wheel of {name}=={version} for {target.key} after pip download.",
                "Pin a version that publishes a manylinux or pure-Python wheel for CPython "
                f"{target.python_version}.")
        wheels.append(found)
    return wheels


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Wheelhouse:
    """What goes in the run's ``wheelhouse/`` folder: files by name, plus the generated texts."""

    target: Target
    wheels: tuple[Path, ...]  # the ddbpipe wheel first, then the dependencies and pip
    requirements: str

    def sums(self) -> str:
        """``SHA256SUMS`` in ``sha256sum`` format: every file the bootstrap fetches and checks."""
        lines = [f"{sha256(p)}  {p.name}" for p in self.wheels]
        req = hashlib.sha256(self.requirements.encode()).hexdigest()
        lines.append(f"{req}  {REQUIREMENTS_FILE}")
        return "\n".join(lines) + "\n"


def requirement_pins(requirements: str) -> list[str]:
    return [line.strip() for line in requirements.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def build(wheel: Path, requirements: str, target: Target, cache: Path,
          download: Downloader = pip_download) -> Wheelhouse:
    """The ddbpipe ``wheel``, a wheel of each pin in ``requirements`` and a pip wheel for
    ``target``; names must be unique, as the bootstrap keeps them in one folder."""
    if not _WHEEL_NAME.match(wheel.name):
        raise ValueError(f"not a wheel file name: {wheel.name}")
    pins = requirement_pins(requirements)
    if any(parse_pin(p)[0] == "pip" for p in pins):
        raise ValueError("pip is staged by the wheelhouse itself; leave it out of the pins")
    deps = gather([*pins, f"pip=={pip_version()}"], target, cache, download)
    wheels = (wheel, *deps)
    names = [p.name for p in wheels]
    if len(set(names)) != len(names):
        raise WheelhouseError(f"Two wheels share a name in the wheelhouse: {sorted(names)}.",
                              "Clear .cache/wheelhouse and run again.")
    return Wheelhouse(target, wheels, requirements)


def default_cache() -> Path:
    from ddbpipe.home import project_root

    return project_root() / ".cache" / FOLDER


def cache_for(target: Target, root: Optional[Path] = None) -> Path:
    return (root or default_cache()) / target.key


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m ddbpipe.cluster.wheelhouse [--arch x86_64|aarch64]``: fill the cache with the
    wheels of this checkout's pins (``make setup`` runs it so tests need no network)."""
    import argparse
    import platform

    from ddbpipe.cluster import staging

    parser = argparse.ArgumentParser(prog="python -m ddbpipe.cluster.wheelhouse")
    parser.add_argument("--arch", action="append", choices=ARCHITECTURES,
                        help="architecture(s) to cache (default: this machine's)")
    args = parser.parse_args(argv)
    machine = "aarch64" if platform.machine() in ("aarch64", "arm64") else "x86_64"
    for arch in args.arch or [machine]:
        target = Target(arch)
        pins = [*staging.pinned_requirements(staging.installed_requires(), machine=arch),
                f"pip=={pip_version()}"]
        wheels = gather(pins, target, cache_for(target))
        print(f"{target.key}: {len(wheels)} wheels in {cache_for(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
