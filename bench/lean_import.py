"""Import before and after a change, side by side with the raw writer, in one run.

``python -m bench.lean_import [--items N] [--runs R] [--before REF] [--after REF]`` starts the
bench's own dynalite and moto server, loads the main table (``bench.items``), exports it once
with ddbpipe, then each round writes the export into fresh tables with: the raw writer
(``bench.limits``, 2 and 4 threads, the faster kept), ``ddbpipe`` as of ``--before`` (default
``main``) and as of ``--after`` (default ``HEAD``), both extracted with ``git archive``, in an
order that alternates by round. Each import runs ``importer.run`` (validated,
``--create-table``) in a process of its own whose ``ddbpipe`` comes from the tree measured, so
the two never share a module. Prints one JSON document (per round and medians); nothing is
written to docs/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.results import CPU_BENCH, CPU_DYNALITE, CPU_JVM, CPU_JVM_CHILDREN

ROOT = Path(__file__).resolve().parent.parent
MAIN = "bench-lean-main"
PERCENT = 1.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def extract(ref: str, dest: Path, *folders: str) -> Path:
    """``folders`` of ``ref`` under ``dest`` (what a child imports)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, *folders],
                             check=True, capture_output=True).stdout
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _child_env(tree: Path, stack_env: dict[str, str]) -> dict[str, str]:
    env = dict(stack_env)
    # this module as of --after, whichever ddbpipe the child measures
    harness = tree.parent / "harness"
    env["PYTHONPATH"] = os.pathsep.join([str(tree), str(tree / "dev"), str(harness)])
    env["DDBPIPE_HOME"] = str(ROOT)  # jars and dynalite of this checkout's .cache
    return env


def run_child(tree: Path, stack_env: dict[str, str], work: Path,
              request: dict[str, Any]) -> dict[str, Any]:
    """One export or import in a fresh process importing ``ddbpipe`` from ``tree``."""
    return in_child("bench.lean_import", _child_env(tree, stack_env), work, request,
                    f"{request['mode']} in {tree}")


def in_child(module: str, env: dict[str, str], work: Path, request: dict[str, Any],
             what: str) -> dict[str, Any]:
    """``module``'s ``child()`` in a fresh process given ``request``: the JSON of its last line
    of output (its stderr appended to ``work``/children.log)."""
    code = f"from {module} import child; child()"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(request)], cwd=work, env=env,
                          capture_output=True, text=True)
    with open(work / "children.log", "a") as out:
        out.write(f"\n$ {request}\n{done.stderr}\n")
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed; see {work / 'children.log'}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def child() -> None:
    """The child's side: argv[1] is the request; prints the result as the last line."""
    import ddbpipe
    from bench import cpu
    from ddbpipe.aws import AwsConfig
    from ddbpipe.s3uri import S3Uri
    from ddbpipe.spark import local_session

    request = json.loads(sys.argv[1])
    aws = AwsConfig(region=request["region"], endpoints=request["endpoints"])
    spark = local_session(aws, "ddbpipe-bench-lean", verbose=False)
    try:
        dynalite_pid, moto_pid = request["pids"]
        meter = cpu.CpuMeter(dynalite_pid, moto_pid, cpu.find_jvm())
        meter.begin()
        started = time.monotonic()
        if request["mode"] == "export":
            from ddbpipe import export

            cfg = export.ExportConfig(tables=(request["table"],),
                                      dest=S3Uri.parse(request["to"]), aws=aws,
                                      read_percent=PERCENT, read_capacity=10_000)
            result = export.run(spark, cfg)[0]
            out: dict[str, Any] = {"items": result.items, "folder": str(result.folder)}
        else:
            from ddbpipe import importer

            icfg = importer.ImportConfig(
                source=S3Uri.parse(request["folder"]), table=request["table"], aws=aws,
                write_percent=PERCENT, write_capacity=100_000, create_table=True,
                skip_validation=bool(request.get("skip_validation")))
            imported = importer.run(spark, icfg)
            out = {"written": imported.written, "write_seconds": imported.write_seconds,
                   "items_per_s_write": imported.written / imported.write_seconds,
                   "consumed": imported.consumed, "tasks": imported.plan.tasks}
        out["wall"] = time.monotonic() - started
        out["cpu"] = meter.end()
        out["ddbpipe"] = ddbpipe.__file__
    finally:
        spark.stop()
    print(json.dumps(out), flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from bench import cpu, items, limits
    from bench.stack import BUCKET, Stack, set_local_credentials

    parser = argparse.ArgumentParser(prog="python -m bench.lean_import", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", default="main", help="git ref of the 'before' ddbpipe")
    parser.add_argument("--after", default="HEAD", help="git ref of the 'after' ddbpipe")
    args = parser.parse_args(argv)
    set_local_credentials()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / ".cache" / "bench" / f"lean-{stamp}"
    work.mkdir(parents=True)
    before_ref = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.before],
                                check=True, capture_output=True, text=True).stdout.strip()
    after_ref = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.after],
                               check=True, capture_output=True, text=True).stdout.strip()
    trees = {"before": extract(args.before, work / "before", "ddbpipe", "dev"),
             "after": extract(args.after, work / "after", "ddbpipe", "dev")}
    extract(args.after, work / "harness", "bench")
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, "-m", "bench.lean_import",
                             *(argv if argv is not None else sys.argv[1:])]),
        "before": before_ref, "after": after_ref, "items": args.items,
        "load_average_start": os.getloadavg(), "rounds": []}
    stack = Stack.start(work)
    try:
        request = {"region": stack.aws.region, "endpoints": dict(stack.aws.endpoints),
                   "pids": [stack.dynalite.pid, stack.moto.pid]}
        meter = cpu.CpuMeter(stack.dynalite.pid, stack.moto.pid)
        stack.create_table(MAIN)
        loaded = limits.write_raw(stack.aws, MAIN, items.wire_batches(args.items), 4,
                                  what="load")
        log(f"loaded {loaded.items} items ({loaded.items_per_s:,.0f}/s)")
        exported = run_child(trees["after"], stack.env(), work, {
            **request, "mode": "export", "table": MAIN, "to": f"s3://{BUCKET}/lean"})
        log(f"exported {exported['items']} items to {exported['folder']}")
        wire = items.wire_batches(args.items)
        for r in range(args.runs):
            rnd: dict[str, Any] = {"round": r + 1, "raw": []}
            for threads in (2, 4):
                stack.create_table("bench-lean-raw")
                meter.begin()
                rate = limits.write_raw(stack.aws, "bench-lean-raw", wire, threads)
                used = meter.end()
                stack.drop_table("bench-lean-raw")
                rnd["raw"].append({**rate.as_dict(), "cpu": used})
                log(f"round {r + 1}: raw x{threads} {rate.items_per_s:,.0f} items/s")
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for which in order:
                target = f"bench-lean-{which}"
                stack.drop_table(target)
                got = run_child(trees[which], stack.env(), work, {
                    **request, "mode": "import", "table": target,
                    "folder": exported["folder"]})
                if got["written"] != args.items or stack.count(target) != args.items:
                    raise RuntimeError(f"{which} wrote {got['written']} items")
                stack.drop_table(target)
                rnd[which] = got
                log(f"round {r + 1}: {which} {got['items_per_s_write']:,.0f} items/s over the "
                    f"writes, importer.run {got['wall']:.1f} s ({got['ddbpipe']})")
            results["rounds"].append(rnd)
    finally:
        stack.stop()
    rounds = results["rounds"]
    raw = [max(x["items_per_s"] for x in rnd["raw"]) for rnd in rounds]
    summary: dict[str, float] = {"raw_items_per_s": statistics.median(raw)}
    for which in ("before", "after"):
        summary[f"{which}_items_per_s"] = statistics.median(
            rnd[which]["items_per_s_write"] for rnd in rounds)
        summary[f"{which}_wall"] = statistics.median(rnd[which]["wall"] for rnd in rounds)
        summary[f"{which}_vs_raw"] = statistics.median(
            rnd[which]["items_per_s_write"] / best for rnd, best in zip(rounds, raw))
        # CPU of the import's own processes (driver, JVM, Python workers; validation pass
        # included) per item written, and the server's, in microseconds
        summary[f"{which}_own_cpu_us"] = statistics.median(
            sum(rnd[which]["cpu"][k] for k in (CPU_BENCH, CPU_JVM, CPU_JVM_CHILDREN))
            / rnd[which]["written"] * 1e6 for rnd in rounds)
        summary[f"{which}_python_workers_cpu_us"] = statistics.median(
            rnd[which]["cpu"][CPU_JVM_CHILDREN] / rnd[which]["written"] * 1e6 for rnd in rounds)
        summary[f"{which}_dynalite_cpu_us"] = statistics.median(
            rnd[which]["cpu"][CPU_DYNALITE] / rnd[which]["written"] * 1e6 for rnd in rounds)
    summary["after_vs_before"] = statistics.median(
        rnd["after"]["items_per_s_write"] / rnd["before"]["items_per_s_write"] for rnd in rounds)
    fastest = [max(rnd["raw"], key=lambda x: x["items_per_s"]) for rnd in rounds]
    summary["raw_own_cpu_us"] = statistics.median(
        x["cpu"]["bench"] / x["items"] * 1e6 for x in fastest)
    summary["raw_dynalite_cpu_us"] = statistics.median(
        x["cpu"]["dynalite"] / x["items"] * 1e6 for x in fastest)
    results["medians"] = summary
    results["load_average_end"] = os.getloadavg()
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))
    for tree in (*trees.values(), work / "harness"):
        shutil.rmtree(tree, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
