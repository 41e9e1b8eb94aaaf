"""Where the export's time goes beside the connector-plus-pipe probe, side by side.

``python -m bench.export_writer [--items N] [--runs R]`` starts the bench's own dynalite and moto
server, loads ``--items`` bench items and a local Spark, exports once untimed (JIT), then each
round reads the whole table five ways, one after another in an order that turns by round:

* ``probe``: the connector's read piped to ``wc -l`` (the bar's probe in docs/benchmarks.md);
* ``python reader``: piped to a Python process that reads and counts the lines as the
  partition writer reads them (``bench.pipe_sinks count``);
* ``writer, S3 discarded``: piped to the partition writer itself, its S3 answering at once and
  keeping nothing (``bench.pipe_sinks discard``);
* ``writer to S3``: piped to ``ddbpipe.export.partwriter`` uploading to moto, as the export
  does, but collected in one Spark job;
* ``export``: ``export.run`` (one job per split, the run record, progress, the manifest); its
  scan is what the bar measures.

Each is the same plan and Hadoop configuration as ``ddbpipe export`` (read percent 1.5 of
10,000 RCU: nothing waits). Recorded: items/s and the CPU seconds of each process group
(``bench/cpu.py``) while it ran. Results: ``bench/results/export-writer.json`` and the section
between the ``export-writer`` markers of docs/benchmarks.md (``--render FILE`` renders a saved
file only).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, Sequence

from bench.results import (
    CPU_DYNALITE,
    CPU_JVM,
    CPU_JVM_CHILDREN,
    CPU_MOTO,
    ExportWriterResults,
)
from bench.sections import Section

ROOT = Path(__file__).resolve().parent.parent
SECTION = Section("export-writer")
TABLE = "bench-export-writer"
PERCENT, READ_CAPACITY = 1.5, 10_000
PROBE = "probe"
WAYS = (PROBE, "python reader", "writer, S3 discarded", "writer to S3", "export")
#: What each way adds to the one before it, for the rendered section.
ADDS = {
    PROBE: "the connector, each line's `toString()`, the pipe into `wc -l`",
    "python reader": "a Python process reading the pipe 1 MiB at a time",
    "writer, S3 discarded": "the partition writer's own work (file cuts, size sample, parts)",
    "writer to S3": "the S3 client (boto3's start, CRC32, the SigV4 payload hash over HTTP), "
                    "the uploads and moto receiving them",
    "export": "`export.run`: a Spark job per split, the run record, progress, the manifest",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def items_printed(lines: Sequence[str]) -> int:
    """Items reported by the pipe's commands: a count per line (``wc -l``, ``count``), or the
    partition writer's commit lines (JSON with ``items``)."""
    total = 0
    for line in (x.strip() for x in lines):
        if not line:
            continue
        total += int(json.loads(line)["items"]) if line.startswith("{") else int(line)
    return total


def order(runs_so_far: int) -> list[str]:
    """The ways in this round's order: turned by one each round, so none is always first
    (after a Spark job of another kind) or always last."""
    shift = runs_so_far % len(WAYS)
    return list(WAYS[shift:] + WAYS[:shift])


def ratios_to_probe(results: ExportWriterResults) -> dict[str, float]:
    """Each way's items/s over the probe's in the same round, median over the rounds."""
    return {way: statistics.median(r[way]["items_per_s"] / r[PROBE]["items_per_s"]
                                   for r in results["rounds"]) for way in WAYS}


def cpu_medians(results: ExportWriterResults, group: str) -> dict[str, float]:
    """Each way's CPU seconds of ``group``, median over the rounds."""
    return {way: statistics.median(r[way]["cpu"][group] for r in results["rounds"])
            for way in WAYS}


def render(results: ExportWriterResults) -> str:
    ratio = ratios_to_probe(results)
    groups = (CPU_JVM, CPU_JVM_CHILDREN, CPU_MOTO, CPU_DYNALITE)
    cpu = {g: cpu_medians(results, g) for g in groups}
    busy = cpu_medians(results, "machine busy")
    rounds = len(results["rounds"])
    lines = [
        SECTION.begin,
        "## 9. The export beside its probe: what the partition writer and S3 add",
        "",
        f"Command: `{results['command']}` ({results['date']}, {results['items']:,} items, "
        f"{rounds} round{'s' if rounds != 1 else ''}, medians; load average at start "
        f"{results['load'][0]:.2f}, at end {results['load_end'][0]:.2f}).",
        "",
        "One Spark, one table, read five ways with the export's own plan and Hadoop "
        f"configuration (read percent {PERCENT} of {READ_CAPACITY:,} RCU: nothing waits), one "
        "after another in an order that turns by round. Each way adds one thing to the one "
        "before it:",
        "",
        *(f"- **{way}**: {ADDS[way]}." for way in WAYS),
        "",
        "| round | way | ran | items/s | / probe | JVM CPU s | JVM children CPU s "
        "| moto CPU s | dynalite CPU s | machine busy s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rnd in results["rounds"]:
        for way in WAYS:
            run = rnd[way]
            lines.append(
                f"| {rnd['round']} | {way} | {rnd['order'].index(way) + 1} "
                f"| {run['items_per_s']:,.0f} "
                f"| {run['items_per_s'] / rnd[PROBE]['items_per_s']:.2f}x | "
                + " | ".join(f"{run['cpu'][g]:.2f}" for g in (*groups, "machine busy"))
                + " |")
    lines += [
        "",
        "Medians (items/s over the same round's probe; CPU seconds):",
        "",
        "| way | / probe | JVM | JVM children | moto | dynalite | machine busy |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(f"| {way} | **{ratio[way]:.2f}x** | "
          + " | ".join(f"{cpu[g][way]:.2f}" for g in groups) + f" | {busy[way]:.2f} |"
          for way in WAYS),
        "",
        "The two cores are busy through every way, so CPU that any process adds (the writer, "
        "moto receiving the files) is time the connector's read does not get: the ratios are "
        "this machine's, with S3 and DynamoDB on the same cores.",
        "",
        SECTION.end,
    ]
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    from bench import summarize

    parser = argparse.ArgumentParser(prog="python -m bench.export_writer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    summarize.add_render_flag(parser)
    args = parser.parse_args(argv)
    if (rendered := summarize.render_only(args)) is not None:
        return rendered
    if args.items < 1 or args.runs < 1:
        parser.error("--items and --runs must be at least 1")
    try:
        return measure(args.items, args.runs, argv)
    except RuntimeError as err:
        print(f"bench.export_writer: {err}", file=sys.stderr)
        return 1


def measure(n: int, runs: int, argv: Optional[Sequence[str]]) -> int:
    """Load, read the table each way per round, save and render (see the module's docstring)."""
    from bench import cpu, items, limits, profiling, summarize
    from bench.run import export_main
    from bench.stack import BUCKET, Stack, set_local_credentials
    from ddbpipe.export.messages import ENV_VAR, WriterConfig
    from ddbpipe.spark import local_session

    set_local_credentials()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / ".cache" / "bench" / f"export-writer-{stamp}"
    work.mkdir(parents=True)
    results: ExportWriterResults = {
        "command": " ".join(["python -m bench.export_writer", shlex.join(
            argv if argv is not None else sys.argv[1:])]).strip(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "items": n, "load": list(os.getloadavg()), "rounds": []}
    python = sys.executable
    stack = Stack.start(work)
    spark = None
    try:
        stack.create_table(TABLE)
        loaded = limits.write_raw(stack.aws, TABLE, items.wire_batches(n), 4, what="load")
        log(f"loaded {loaded.items:,} items ({loaded.items_per_s:,.0f}/s)")
        spark = local_session(stack.aws, "ddbpipe-bench-export-writer")
        export_main(spark, stack, "export-writer/warmup", table=TABLE)
        stack.delete_prefix("export-writer/warmup/")
        meter = cpu.CpuMeter(stack.dynalite.pid, stack.moto.pid, cpu.find_jvm())

        def writer_env(prefix: str) -> dict[str, str]:
            cfg = WriterConfig(folder=f"s3://{BUCKET}/{prefix}", region=stack.aws.region,
                               endpoints=dict(stack.aws.endpoints))
            return {ENV_VAR: cfg.to_env(), "PYTHONPATH": str(ROOT)}

        commands = {
            PROBE: ["wc", "-l"],
            "python reader": [python, "-m", "bench.pipe_sinks", "count"],
            "writer, S3 discarded": [python, "-m", "bench.pipe_sinks", "discard"],
            "writer to S3": [python, "-m", "ddbpipe.export.partwriter"],
        }
        for r in range(runs):
            rnd: dict[str, Any] = {"round": r + 1, "order": order(r)}
            for way in rnd["order"]:
                prefix = f"export-writer/round{r + 1}-{way.replace(' ', '-').replace(',', '')}"
                meter.begin()
                if way == "export":
                    result, _ = export_main(spark, stack, prefix, table=TABLE)
                    got, seconds = result.items, result.scan_seconds
                else:
                    values = profiling.connector_rdd(spark, stack.aws, TABLE, PERCENT,
                                                     READ_CAPACITY)
                    started = time.monotonic()
                    printed = profiling.pipe_to(spark, values, commands[way], writer_env(prefix))
                    seconds = time.monotonic() - started
                    got = items_printed(printed)
                used = meter.end()
                stack.delete_prefix(prefix + "/")
                if got != n:
                    raise RuntimeError(f"round {r + 1}: {way} read {got} items of {n}")
                rnd[way] = {"items": got, "seconds": seconds, "items_per_s": got / seconds,
                            "cpu": used}
                log(f"round {r + 1}: {way}: {got / seconds:,.0f} items/s")
            results["rounds"].append(rnd)
    finally:
        if spark is not None:
            spark.stop()
        stack.stop()
    results["load_end"] = list(os.getloadavg())
    summarize.publish("export-writer", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
