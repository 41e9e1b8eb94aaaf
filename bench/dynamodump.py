"""dynamodump, the peer measured against: installed into its own venv (it pins an old boto3).

It is run as its users run it, as a command: ``-m backup`` writes ``DUMP/TABLE/schema.json`` and
``DUMP/TABLE/data/NNNN.json`` (one Scan page each), ``-m restore`` deletes and re-creates the
target table from the schema and writes the pages back with BatchWriteItem on one thread. Its
restore fails on empty index lists in schema.json (which some local servers report), so those are
stripped between the two steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ddbpipe_dev import localstack

VERSION = "1.11.1"


def venv_dir(root: Path) -> Path:
    return root / ".cache" / "bench" / "dynamodump-venv"


def ensure_installed(root: Path) -> Path:
    """The dynamodump command of its own venv under .cache/ (created once, from PyPI)."""
    venv = venv_dir(root)
    exe = venv / "bin" / "dynamodump"
    stamp = venv / f".dynamodump-{VERSION}"
    if exe.exists() and stamp.exists():
        return exe
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"dynamodump=={VERSION}"],
                   check=True)
    stamp.touch()
    return exe


@dataclass(frozen=True)
class Dynamodump:
    exe: Path
    dynalite: localstack.Server
    region: str
    log: Path

    def _run(self, args: list[str], cwd: Path) -> float:
        # through the venv's own python: the script's shebang names the folder the venv was
        # made in, which may have moved (a copied or symlinked checkout)
        cmd = [str(self.exe.parent / "python"), str(self.exe), "-r", self.region,
               "--host", "127.0.0.1", "--port", str(self.dynalite.port),
               "--accessKey", "a", "--secretKey", "b", "--log", "INFO", *args]
        started = time.monotonic()
        with open(self.log, "ab") as log:
            log.write(("\n$ " + " ".join(cmd) + "\n").encode())
            log.flush()
            subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, check=True,
                           stdin=subprocess.DEVNULL)
        return time.monotonic() - started

    def backup(self, table: str, dump: Path) -> float:
        """Back ``table`` up under ``dump``; seconds, end to end."""
        dump.mkdir(parents=True, exist_ok=True)
        return self._run(["-m", "backup", "-s", table, "--dumpPath", str(dump)], cwd=dump)

    def restore(self, table: str, dest: str, dump: Path) -> float:
        """Restore the backup of ``table`` under ``dump`` into ``dest`` (dropped and re-created
        by dynamodump); seconds, end to end."""
        strip_empty_indexes(dump / table / "schema.json")
        return self._run(["-m", "restore", "-s", table, "-d", dest, "--dumpPath", str(dump),
                          "--noConfirm", "--skipThroughputUpdate"], cwd=dump)


def strip_empty_indexes(schema: Path) -> bool:
    """Remove empty ``GlobalSecondaryIndexes`` / ``LocalSecondaryIndexes`` lists; True if any."""
    data = json.loads(schema.read_text())
    table = data.get("Table", {})
    empty = [k for k in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
             if k in table and not table[k]]
    for key in empty:
        del table[key]
    if empty:
        schema.write_text(json.dumps(data, indent=4))
    return bool(empty)


def dump_bytes(dump: Path, table: str) -> int:
    return sum(p.stat().st_size for p in (dump / table).rglob("*") if p.is_file())
