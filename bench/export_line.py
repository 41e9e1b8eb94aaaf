"""The export line before and after ``ItemLineWritable``, end to end, side by side.

``python -m bench.export_line [--items N] [--runs R] [--before REF] [--after REF]`` builds
ddbpipe's reader jar (``jvm/``) as of ``--before`` (default b685ad7: the bounded reader whose
lines are the connector's ``Gson.toJson`` element tree) and as of ``--after`` (default ``HEAD``:
each line written straight to gson's ``JsonWriter``), both the same way: ``git archive REF jvm``
and Maven offline against ``.cache/m2``. Each side gets a ddbpipe home of its own (``DDBPIPE_HOME``
whose ``.cache/jars`` holds this checkout's jars, the reader jar being that side's), so the same
ddbpipe code runs with the two jars.

It starts the bench's own dynalite and moto server, loads ``--items`` bench items, then each
round runs each side in a fresh process, in an order that alternates by round; the process
exports the table twice (``export.run``, read percent 1.5 of 10,000 RCU: nothing waits): the
first, cold (JIT, class loading), is kept apart, the second is the measure. Recorded per export:
the scan's items/s and the CPU of the JVM and of its Python children per item (``bench/cpu.py``).
The two sides' data files are downloaded and their sorted lines compared: the run stops unless
they are byte-identical. Results: ``bench/results/export-line.json`` and the section between the
``export-line`` markers of docs/benchmarks.md (``--render FILE`` renders a saved file only).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.lean_import import extract, in_child
from bench.results import CPU_JVM, CPU_JVM_CHILDREN, CPU_OTHERS, ExportLineResults
from bench.sections import Section

ROOT = Path(__file__).resolve().parent.parent
SECTION = Section("export-line")
TABLE = "bench-export-line"
PERCENT, READ_CAPACITY = 1.5, 10_000  # far above what dynalite serves: the limiter never waits
SIDES = ("before", "after")
#: The class that writes the line without gson's element tree (commit eb56b2a).
LINE_WRITER = "dev/ddbpipe/reader/ItemLineWritable.class"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def resolve(ref: str, flag: str) -> str:
    """``ref``'s short commit id; ``ValueError`` (one line) unless it is a commit of this
    repository with a ``jvm/pom.xml`` to build."""
    found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet",
                            "--short", f"{ref}^{{commit}}"], capture_output=True, text=True)
    if found.returncode != 0:
        raise ValueError(f"{flag} {ref}: not a commit of {ROOT}; give a commit id, branch or tag")
    tree = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{ref}:jvm/pom.xml"],
                          capture_output=True)
    if tree.returncode != 0:
        raise ValueError(f"{flag} {ref}: has no jvm/pom.xml (ddbpipe's reader jar came with "
                         "b685ad7); give a later commit")
    return found.stdout.strip()


def build_jar(ref: str, dest: Path) -> Path:
    """ddbpipe's reader jar as of ``ref``, built from ``git archive`` by Maven offline with the
    repository ``make setup`` filled (``.cache/m2``)."""
    from ddbpipe.capacity import READER_JAR

    src = extract(ref, dest / "src", "jvm")
    build = dest / "build"
    cmd = ["mvn", "-o", "-q", "-B", f"-Dmaven.repo.local={ROOT / '.cache' / 'm2'}",
           "-f", str(src / "jvm" / "pom.xml"), "package", f"-Dddbpipe.build={build}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    jar = build / READER_JAR
    if done.returncode != 0 or not jar.is_file():
        (dest / "maven.log").write_text(done.stdout + done.stderr)
        raise RuntimeError(f"the reader jar of {ref} did not build offline ({shlex.join(cmd)} "
                           f"exited {done.returncode}); see {dest / 'maven.log'}")
    return jar


def make_home(home: Path, reader_jar: Path) -> Path:
    """A ddbpipe home whose ``.cache/jars`` links every jar of this checkout's but the reader
    jar, which is ``reader_jar``."""
    from ddbpipe.capacity import READER_JAR

    jars = home / ".cache" / "jars"
    jars.mkdir(parents=True)
    for jar in sorted((ROOT / ".cache" / "jars").glob("*.jar")):
        if jar.name != READER_JAR:
            (jars / jar.name).symlink_to(jar.resolve())
    (jars / READER_JAR).symlink_to(reader_jar.resolve())
    return home


def line_writer(jar: Path) -> str:
    with zipfile.ZipFile(jar) as z:
        return "JsonWriter" if LINE_WRITER in z.namelist() else "Gson.toJson tree"


def child() -> None:
    """The child's side: argv[1]'s request exported cold, then measured; prints the result as
    the last line."""
    import ddbpipe
    from bench import cpu
    from ddbpipe import export
    from ddbpipe.aws import AwsConfig
    from ddbpipe.capacity import READER_JAR
    from ddbpipe.s3uri import S3Uri
    from ddbpipe.spark import jars_dir, local_session

    request = json.loads(sys.argv[1])
    aws = AwsConfig(region=request["region"], endpoints=request["endpoints"])
    spark = local_session(aws, "ddbpipe-bench-export-line", verbose=False)

    def measured(to: str) -> dict[str, Any]:
        dynalite_pid, moto_pid = request["pids"]
        meter = cpu.CpuMeter(dynalite_pid, moto_pid, cpu.find_jvm())
        meter.begin()
        started = time.monotonic()
        cfg = export.ExportConfig(tables=(request["table"],), dest=S3Uri.parse(to), aws=aws,
                                  read_percent=PERCENT, read_capacity=READ_CAPACITY)
        result = export.run(spark, cfg)[0]
        wall = time.monotonic() - started
        return {"items": result.items, "scan_seconds": result.scan_seconds,
                "seconds": result.seconds, "wall": wall,
                "items_per_s_scan": result.items / result.scan_seconds, "cpu": meter.end(),
                "files": [f.url for f in result.files], "bytes": result.bytes}

    try:
        # the first export in a fresh JVM (JIT, class loading): kept, but not the measure
        cold = measured(request["warmup_to"])
        out = measured(request["to"])
    finally:
        spark.stop()
    out["cold"] = {k: v for k, v in cold.items() if k != "files"}
    out["ddbpipe"] = ddbpipe.__file__
    out["reader_jar"] = str((jars_dir() / READER_JAR).resolve())
    print(json.dumps(out), flush=True)


def run_child(home: Path, stack_env: dict[str, str], work: Path,
              request: dict[str, Any]) -> dict[str, Any]:
    """One side's two exports in a fresh process: this checkout's ddbpipe, ``home``'s jars."""
    env = dict(stack_env)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "dev")])
    env["DDBPIPE_HOME"] = str(home)
    env.pop("DDBPIPE_JARS", None)
    return in_child("bench.export_line", env, work, request, f"the export with {home}")


def sorted_lines(s3: Any, urls: Sequence[str]) -> list[bytes]:
    """Every line of the data files at ``urls``, sorted (how they are split into files may
    differ between runs; the lines may not)."""
    from ddbpipe.s3uri import S3Uri

    lines: list[bytes] = []
    for url in urls:
        uri = S3Uri.parse(url)
        body = s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
        if url.endswith(".gz"):
            body = gzip.decompress(body)
        lines += body.splitlines()
    lines.sort()
    return lines


def digest(lines: Sequence[bytes]) -> str:
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def per_item(run: dict[str, Any], group: str) -> float:
    """CPU microseconds of ``group`` per exported item."""
    return float(run["cpu"][group]) / run["items"] * 1e6


def medians(results: ExportLineResults) -> dict[str, float]:
    """Medians over the rounds: each side's JVM and Python children CPU per item and scan
    rate, and the per-round after/before ratios (a round's two exports ran back to back)."""
    rounds = results["rounds"]
    out: dict[str, float] = {}
    for side in SIDES:
        out[f"{side}_jvm_us"] = statistics.median(per_item(r[side], CPU_JVM) for r in rounds)
        out[f"{side}_children_us"] = statistics.median(
            per_item(r[side], CPU_JVM_CHILDREN) for r in rounds)
        out[f"{side}_items_per_s"] = statistics.median(
            r[side]["items_per_s_scan"] for r in rounds)
        out[f"{side}_cold_jvm_us"] = statistics.median(
            per_item(r[side]["cold"], CPU_JVM) for r in rounds)
    out["cold_jvm_us_ratio"] = statistics.median(
        per_item(r["after"]["cold"], CPU_JVM) / per_item(r["before"]["cold"], CPU_JVM)
        for r in rounds)
    out["jvm_us_ratio"] = statistics.median(
        per_item(r["after"], CPU_JVM) / per_item(r["before"], CPU_JVM) for r in rounds)
    out["items_per_s_ratio"] = statistics.median(
        r["after"]["items_per_s_scan"] / r["before"]["items_per_s_scan"] for r in rounds)
    return out


def ratios(results: ExportLineResults, what: str) -> str:
    """Each round's after/before ratio of ``what`` (``jvm``, ``cold``: JVM CPU per item of the
    measured or the cold export; ``rate``: scan items/s), e.g. ``0.93x, 1.02x``."""
    def one(rnd: dict[str, Any]) -> float:
        if what == "rate":
            return float(rnd["after"]["items_per_s_scan"] / rnd["before"]["items_per_s_scan"])
        pick = (lambda run: run["cold"]) if what == "cold" else (lambda run: run)
        return per_item(pick(rnd["after"]), CPU_JVM) / per_item(pick(rnd["before"]), CPU_JVM)

    return ", ".join(f"{one(rnd):.2f}x" for rnd in results["rounds"])


def render(results: ExportLineResults) -> str:
    m = medians(results)
    sides = results["sides"]
    lines = [
        SECTION.begin,
        "## 8. The export line: gson's element tree or its JsonWriter",
        "",
        f"Command: `{results['command']}` ({results['date']}, {results['items']:,} items, "
        f"{len(results['rounds'])} round{'s' if len(results['rounds']) != 1 else ''}, medians; "
        f"load average at start "
        f"{results['load'][0]:.2f}, at end {results['load_end'][0]:.2f}).",
        "",
        f"The same ddbpipe (`export.run`, read percent {PERCENT} of {READ_CAPACITY:,} RCU: "
        "nothing waits) with ddbpipe's reader jar as of two commits, both built by Maven "
        f"offline from `git archive`: before = {sides['before']['ref']} (lines by "
        f"{sides['before']['line_writer']}), after = {sides['after']['ref']} (lines by "
        f"{sides['after']['line_writer']}). Each side runs in a fresh process and JVM that "
        "exports the table twice: the first (cold: JIT, class loading, as a user's single run) "
        "is kept apart, the second is the one in the table; the two sides run back to back in "
        "an order that alternates by round. CPU is per exported item: the JVM (connector, SDK "
        "parsing, the line), its Python children (the partition writers); `others` is the rest "
        "of the machine in CPU seconds (the load the two sides shared). Every round's two "
        "exports are byte-identical (sorted lines of the data files compared).",
        "",
        "| round | side | ran | scan items/s | export.run s | JVM CPU us/item "
        "| Python children us/item | others CPU s | identical |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rnd in results["rounds"]:
        for side in SIDES:
            run = rnd[side]
            lines.append(
                f"| {rnd['round']} | {side} | {rnd['order'].index(side) + 1} "
                f"| {run['items_per_s_scan']:,.0f} | {run['wall']:.1f} "
                f"| {per_item(run, CPU_JVM):.1f} | {per_item(run, CPU_JVM_CHILDREN):.1f} "
                f"| {run['cpu'][CPU_OTHERS]:.1f} | {'yes' if rnd['identical'] else '**no**'} |")
    lines += [
        "",
        "After/before: each round's own pair (its two exports ran back to back, closer in load "
        "than exports of different rounds; `others` shows how close), then the median of those "
        "ratios, each side's own median in brackets:",
        "",
        f"- JVM CPU per item: {ratios(results, 'jvm')} -> **{m['jvm_us_ratio']:.2f}x** "
        f"({m['before_jvm_us']:.1f} -> {m['after_jvm_us']:.1f} us);",
        f"- the cold first exports' JVM CPU per item: {ratios(results, 'cold')} -> "
        f"**{m['cold_jvm_us_ratio']:.2f}x** ({m['before_cold_jvm_us']:.1f} -> "
        f"{m['after_cold_jvm_us']:.1f} us);",
        f"- scan items/s: {ratios(results, 'rate')} -> **{m['items_per_s_ratio']:.2f}x** "
        f"({m['before_items_per_s']:,.0f} and {m['after_items_per_s']:,.0f});",
        f"- Python children CPU per item: {m['before_children_us']:.1f} -> "
        f"{m['after_children_us']:.1f} us (the same lines to write).",
        "",
        SECTION.end,
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    from bench import summarize

    parser = argparse.ArgumentParser(prog="python -m bench.export_line", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", default="b685ad7",
                        help="git ref of the 'before' reader jar (default b685ad7)")
    parser.add_argument("--after", default="HEAD", help="git ref of the 'after' reader jar")
    summarize.add_render_flag(parser)
    args = parser.parse_args(argv)
    if (rendered := summarize.render_only(args)) is not None:
        return rendered
    if args.items < 1 or args.runs < 1:
        parser.error("--items and --runs must be at least 1")
    refs = {"before": args.before, "after": args.after}
    try:
        commits = {side: resolve(refs[side], f"--{side}") for side in SIDES}
    except ValueError as err:
        parser.error(str(err))
    try:
        return measure(args.items, args.runs, refs, commits, argv)
    except RuntimeError as err:
        print(f"bench.export_line: {err}", file=sys.stderr)
        return 1


def measure(n: int, runs: int, refs: dict[str, str], commits: dict[str, str],
            argv: Optional[Sequence[str]]) -> int:
    """Build, load, export side by side, save and render (see the module's docstring)."""
    from bench import items, limits, summarize
    from bench.stack import BUCKET, Stack, set_local_credentials

    set_local_credentials()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / ".cache" / "bench" / f"export-line-{stamp}"
    work.mkdir(parents=True)
    homes: dict[str, Path] = {}
    sides: dict[str, dict[str, str]] = {}
    for side in SIDES:
        jar = build_jar(refs[side], work / side)
        homes[side] = make_home(work / side / "home", jar)
        sides[side] = {"ref": commits[side], "line_writer": line_writer(jar)}
        log(f"{side}: reader jar of {sides[side]['ref']} built ({sides[side]['line_writer']})")
    results: ExportLineResults = {
        "command": " ".join(["python -m bench.export_line", shlex.join(
            argv if argv is not None else sys.argv[1:])]).strip(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "items": n, "sides": sides, "load": list(os.getloadavg()), "rounds": []}
    stack = Stack.start(work)
    try:
        request = {"region": stack.aws.region, "endpoints": dict(stack.aws.endpoints),
                   "pids": [stack.dynalite.pid, stack.moto.pid], "table": TABLE}
        stack.create_table(TABLE)
        loaded = limits.write_raw(stack.aws, TABLE, items.wire_batches(n), 4,
                                  what="load")
        log(f"loaded {loaded.items:,} items ({loaded.items_per_s:,.0f}/s)")
        for r in range(runs):
            order = SIDES if r % 2 == 0 else SIDES[::-1]
            rnd: dict[str, Any] = {"round": r + 1, "order": list(order)}
            digests = {}
            for side in order:
                prefix = f"export-line/round{r + 1}-{side}"
                got = run_child(homes[side], stack.env(), work,
                                {**request, "to": f"s3://{BUCKET}/{prefix}",
                                 "warmup_to": f"s3://{BUCKET}/{prefix}-cold"})
                stack.delete_prefix(prefix + "-cold/")
                if got["items"] != n:
                    raise RuntimeError(f"round {r + 1}: {side} exported {got['items']} items "
                                       f"of {n}")
                lines = sorted_lines(stack.s3, got["files"])
                digests[side] = digest(lines)
                if len(lines) != n:
                    raise RuntimeError(f"round {r + 1}: {side}'s files hold {len(lines)} lines "
                                       f"for {n} items")
                stack.delete_prefix(prefix + "/")
                rnd[side] = {k: v for k, v in got.items() if k != "files"}
                rnd[side]["files"] = len(got["files"])
                log(f"round {r + 1}: {side} {got['items_per_s_scan']:,.0f} items/s scan, JVM "
                    f"{per_item(got, CPU_JVM):.1f} us/item, export.run {got['wall']:.1f} s")
            rnd["identical"] = digests["before"] == digests["after"]
            rnd["sha256"] = digests["after"]
            if not rnd["identical"]:
                raise RuntimeError(f"round {r + 1}: the two jars' export files differ (sorted "
                                   f"lines: before {digests['before'][:12]}, after "
                                   f"{digests['after'][:12]}); the change is not byte-identical")
            results["rounds"].append(rnd)
    finally:
        stack.stop()
    results["load_end"] = list(os.getloadavg())
    summarize.publish("export-line", results)
    for side in SIDES:
        shutil.rmtree(work / side / "src", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
