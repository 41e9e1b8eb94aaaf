"""``python -m bench.resume [--items 200000] [--runs 3]``: what ``--resume`` saves, side by side.

Per round, on one table of ``--items`` items (loaded once) against the benchmark's own dynalite
and moto server: a full ``ddbpipe export``; the same export killed (SIGKILL of its process group)
once ~80 % of its splits are recorded, then ``ddbpipe export --resume``. Likewise for the import
of the full export into a fresh table: a full import; one killed once ~80 % of its items are in
the table, then ``ddbpipe import --resume``. Reports the medians of the resumed part against the
full re-run that resume replaces: wall time, items read or written, capacity units.

Results: ``bench/results/resume.json`` and the section between the ``resume`` markers of
``docs/benchmarks.md`` (with the command that produced it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from bench.items import bench_item
from bench.results import ResumeResults
from bench.sections import Section
from bench.stack import BUCKET, Stack, set_local_credentials
from ddbpipe import layout
from ddbpipe.export import state
from ddbpipe_dev import sample

ROOT = Path(__file__).resolve().parent.parent

SPLITS_PER_TASK = 8  # what a table that scans for > 15 minutes gets (capacity.MAX_SPLITS_PER_TASK)
KILL_AT = 0.8
READ_CAPACITY = 10_000  # far above what dynalite serves: the rate limiter never waits
SECTION = Section("resume")
BEGIN, END = SECTION.begin, SECTION.end


@dataclass
class Run:
    seconds: float
    items: int  # read (export) or written (import) by this run
    units: float  # capacity units this run consumed (RCU estimated on export, WCU reported)


def ddbpipe(stack: Stack, *argv: str) -> subprocess.Popen[str]:
    env = stack.env()
    env.update(DDBPIPE_SPLITS_PER_TASK=str(SPLITS_PER_TASK), PYSPARK_PYTHON=sys.executable,
               SPARK_LOCAL_IP="127.0.0.1")
    return subprocess.Popen([sys.executable, "-m", "ddbpipe.cli", *argv, "--region", "us-east-1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen[str], started: float) -> tuple[str, float]:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"ddbpipe failed ({proc.returncode}): {err[-2000:]}")
    return out, time.monotonic() - started


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if not found:
        raise RuntimeError(f"no {pattern!r} in: {text[-2000:]}")
    return float(found[1].replace(",", ""))


def kill_when(proc: subprocess.Popen[str], done: Callable[[], bool]) -> float:
    """SIGKILL ``proc``'s process group once ``done()``; returns the seconds it ran."""
    started = time.monotonic()
    while not done():
        if proc.poll() is not None:
            raise RuntimeError("the run ended before the kill point: use more --items")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    return time.monotonic() - started


def keys(stack: Stack, prefix: str) -> list[str]:
    found: list[str] = []
    for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found += [o["Key"] for o in page.get("Contents", [])]
    return found


def export_round(stack: Stack, table: str, n: int, label: str) -> dict[str, Any]:
    t0 = time.monotonic()
    out, seconds = finish(ddbpipe(stack, "export", "--table", table, "--to",
                                  f"s3://{BUCKET}/full-{label}", "--read-percent", "1.0",
                                  "--read-capacity", str(READ_CAPACITY)), t0)
    full = Run(seconds, n, number(r"~(\d+) RCU consumed", out))
    folder_full = re.search(r"to (s3://\S+)/;", out)
    assert folder_full

    prefix = f"killed-{label}/"
    proc = ddbpipe(stack, "export", "--table", table, "--to", f"s3://{BUCKET}/{prefix}",
                   "--read-percent", "1.0", "--read-capacity", str(READ_CAPACITY))
    splits = 2 * SPLITS_PER_TASK

    def recorded() -> bool:
        found = [k for k in keys(stack, prefix) if f"/{state.SPLIT_PREFIX}" in k]
        return len(found) >= round(splits * KILL_AT)

    killed = kill_when(proc, recorded)
    marker = next(k for k in keys(stack, prefix) if k.endswith("/" + layout.IN_PROGRESS))
    folder = f"s3://{BUCKET}/{marker.rsplit('/', 1)[0]}"
    t0 = time.monotonic()
    out, seconds = finish(ddbpipe(stack, "export", "--resume", folder), t0)
    resumed = Run(seconds, int(number(r"([\d,]+) items were read now", out)),
                  number(r"~(\d+) RCU consumed", out))
    return {"full": asdict(full), "killed_after": killed, "resumed": asdict(resumed),
            "folder": folder_full[1]}


def import_round(stack: Stack, source: str, n: int, label: str) -> dict[str, Any]:
    target = f"resume-import-{label}"
    stack.create_table(target)
    t0 = time.monotonic()
    out, seconds = finish(ddbpipe(stack, "import", "--from", source, "--table", target,
                                  "--write-percent", "1.5"), t0)
    full = Run(seconds, n, number(r"([\d.]+) WCU consumed", out))
    stack.create_table(target)
    proc = ddbpipe(stack, "import", "--from", source, "--table", target, "--write-percent", "1.5")
    killed = kill_when(proc, lambda: stack.count(target) >= n * KILL_AT)
    t0 = time.monotonic()
    out, seconds = finish(ddbpipe(stack, "import", "--from", source, "--table", target,
                                  "--write-percent", "1.5", "--resume"), t0)
    resumed = Run(seconds, int(number(r"written (\d+),", out)),
                  number(r"([\d.]+) WCU consumed", out))
    if stack.count(target) != n:
        raise RuntimeError(f"{target} holds {stack.count(target)} items, not {n}")
    stack.drop_table(target)
    return {"full": asdict(full), "killed_after": killed, "resumed": asdict(resumed)}


def median_of(rounds: list[dict[str, Any]], run: str, key: str) -> float:
    return statistics.median(r[run][key] for r in rounds)


def table_rows(kind: str, rounds: list[dict[str, Any]], unit: str) -> list[str]:
    full_s, res_s = median_of(rounds, "full", "seconds"), median_of(rounds, "resumed", "seconds")
    full_u, res_u = median_of(rounds, "full", "units"), median_of(rounds, "resumed", "units")
    full_i, res_i = median_of(rounds, "full", "items"), median_of(rounds, "resumed", "items")
    killed = statistics.median(r["killed_after"] for r in rounds)
    return [
        f"| {kind} | {full_s:.1f} s | {killed:.1f} s | {res_s:.1f} s ({res_s / full_s:.2f}x) | "
        f"{full_i:,.0f} | {res_i:,.0f} ({res_i / full_i:.2f}x) | {full_u:,.0f} {unit} | "
        f"{res_u:,.0f} {unit} ({res_u / full_u:.2f}x) |",
    ]


def render(results: ResumeResults, command: str) -> str:
    lines = [
        BEGIN,
        "## 6. Resume after a stop",
        "",
        f"Command: `{command}` ({results['date']}, {results['items']:,} items, "
        f"{results['runs']} rounds, medians; load average at start {results['load'][0]:.2f}).",
        "",
        f"Each round: a full run; the same run killed (SIGKILL of its process group) at "
        f"~{KILL_AT:.0%} of its work; then the resumed run. The resumed part is what `--resume` "
        "costs instead of a full re-run (the killed run's own time and units are spent either "
        f"way). Export: {2 * SPLITS_PER_TASK} splits on 2 tasks "
        f"(`DDBPIPE_SPLITS_PER_TASK={SPLITS_PER_TASK}`, what a scan of more than ~15 minutes "
        "gets); RCU are estimated from the items' sizes, WCU are DynamoDB's ConsumedCapacity. "
        "The resumed part's time includes starting Spark (a few seconds here), which a full "
        "re-run pays too: on a table that takes hours to move, its time approaches its share of "
        "units. (The killed import ran longer than a full one because the benchmark counted the "
        "table every 0.2 s to find its kill point.)",
        "",
        "| run | full re-run | killed after | resumed part | items, full | items, resumed "
        "| units, full | units, resumed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += table_rows("export", results["export"], "RCU")
    if results.get("import"):
        lines += table_rows("import", results["import"], "WCU")
    else:
        lines.append(f"| import | {results.get('import_note', 'not measured')} |||||||")
    lines += ["", END]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    from bench import summarize

    parser = argparse.ArgumentParser(prog="python -m bench.resume")
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-import", action="store_true", help="measure the export only")
    summarize.add_render_flag(parser)
    args = parser.parse_args(argv)
    if (rendered := summarize.render_only(args)) is not None:
        return rendered
    command = "python -m bench.resume " + shlex.join(argv if argv is not None else sys.argv[1:])
    set_local_credentials()
    logs = ROOT / "bench" / "results" / "resume-logs"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack.start(logs)
    results: ResumeResults = {"items": args.items, "runs": args.runs,
                              "load": list(os.getloadavg()),
                               "command": command,
                               "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                               "export": [], "import": []}
    try:
        table = "resume-source"
        stack.create_table(table)
        sample.put_items(stack.ddb, table, (bench_item(i) for i in range(args.items)))
        for r in range(args.runs):
            print(f"round {r + 1}/{args.runs}: export", flush=True)
            one = export_round(stack, table, args.items, f"e{r}")
            results["export"].append(one)
            if not args.no_import:
                print(f"round {r + 1}/{args.runs}: import", flush=True)
                results["import"].append(import_round(stack, one["folder"], args.items, f"i{r}"))
            stack.delete_prefix(f"killed-e{r}/")
    finally:
        stack.stop()
    if args.no_import:
        results["import_note"] = "not measured in this run (--no-import)"
    summarize.publish("resume", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
