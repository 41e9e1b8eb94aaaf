"""The prose of docs/benchmarks.md that depends on the numbers: what limits each path and what
would fix it. Kept apart from the tables so the reasoning can be read (and reviewed) as text;
every figure in it is computed from the run's raw results."""

from __future__ import annotations

from typing import Any, Callable

from bench.numbers import fmt, med, ratio
from bench.results import (
    CPU_BENCH,
    CPU_DYNALITE,
    CPU_JVM,
    CPU_JVM_CHILDREN,
    CPU_MOTO,
    CPU_OTHERS,
    CPU_WAITED,
    CPU_WALL,
    JFR_RUNS,
    SEGMENTS_ONE_PER_TASK,
    SEGMENTS_PLANNED,
    STAGE_ITEM_SIZE,
    STAGE_KEY_OF,
    STAGE_LEAN_DUMPS,
    STAGE_LEAN_WIRE,
    STAGE_LINE_TO_ITEM,
    STAGE_SERIALIZE,
    STAGE_SIGN,
    STAGE_VALIDATE,
    RunResults,
)

GROUPS = (CPU_DYNALITE, CPU_JVM, CPU_JVM_CHILDREN, CPU_BENCH, CPU_MOTO, CPU_WAITED)


def _best(rnd: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
    return max((x for x in rnd[key] if x["kind"] == kind), key=lambda x: x["items_per_s"])


def cpu_us(rounds: list[dict[str, Any]], get: Callable[[dict[str, Any]], dict[str, Any]],
           items: int) -> dict[str, float]:
    """Median CPU microseconds per item of each process group over the rounds."""
    return {g: med(get(rnd)["cpu"].get(g, 0.0) / items * 1e6 for rnd in rounds)
            for g in GROUPS}


def _jfr_share(results: RunResults, *needles: str) -> float:
    j = results["profiles"].get(JFR_RUNS[0]) or {}
    ex = j.get("jdk.ExecutionSample")
    if not ex:
        return 0.0
    total = sum(n for _, n in ex["groups"])
    hit = sum(n for name, n in ex["groups"] if all(x in name for x in needles))
    return ratio(hit, total)


def why(results: RunResults, d: dict[str, Any]) -> str:
    rounds = d["rounds"]
    n = results["main"]["items"]
    st = results["profiles"]["stages_us_per_item"]
    p = results["profiles"]
    raw_read = cpu_us(rounds, lambda r: _best(r, "export_limit", "raw"), n)
    export = cpu_us(rounds, lambda r: r["export"], n)
    count = cpu_us(rounds, lambda r: r["connector_count"], n)
    pipe = cpu_us(rounds, lambda r: r["connector_pipe"], n)
    raw_write = cpu_us(rounds, lambda r: _best(r, "import_limit", "raw"), n)
    boto_write = cpu_us(rounds, lambda r: _best(r, "import_limit", "boto3"), n)
    imp = cpu_us(rounds, lambda r: r["import_skip_validation"], n)
    sdk = _jfr_share(results, "connector scan workers", "AWS SDK")
    gson = _jfr_share(results, "gson")
    python_import = (st[STAGE_LINE_TO_ITEM] + st[STAGE_ITEM_SIZE] + st[STAGE_KEY_OF]
                     + st[STAGE_VALIDATE]
                     + st[STAGE_SERIALIZE]
                     + st[STAGE_SIGN])
    lean = (st[STAGE_LEAN_WIRE] + st[STAGE_ITEM_SIZE] + st[STAGE_KEY_OF]
            + st[STAGE_LEAN_DUMPS] + st[STAGE_SIGN])
    totals = [sum(rnd["export"]["cpu"].get(g, 0.0) for g in (*GROUPS, CPU_OTHERS))
              / rnd["export"]["cpu"][CPU_WALL] for rnd in rounds]
    totals += [sum(rnd["import"]["cpu"].get(g, 0.0) for g in (*GROUPS, CPU_OTHERS))
               / rnd["import"]["cpu"][CPU_WALL] for rnd in rounds]
    out = [
        "### Reading the numbers",
        "",
        f"During ddbpipe's exports and imports the machine's 2 cores were "
        f"{min(totals) / 2:.0%} to {max(totals) / 2:.0%} busy (the *total* column above, "
        "other users included), so each path's rate is set by the CPU it needs per item, the "
        "server's included. CPU microseconds per item, medians:",
        "",
        "| step | dynalite | JVM | JVM's children | bench process | moto |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, c in (("read limit, raw", raw_read), ("ddbpipe export", export),
                     ("probe: connector count", count), ("probe: connector pipe", pipe),
                     ("write limit, raw", raw_write), ("write limit, boto3", boto_write),
                     ("ddbpipe import (skip validation)", imp)):
        out.append(f"| {label} | {fmt(c[CPU_DYNALITE])} | {fmt(c[CPU_JVM])} | "
                   f"{fmt(c[CPU_JVM_CHILDREN])} | {fmt(c[CPU_BENCH])} | {fmt(c[CPU_MOTO])} |")
    out += [
        "",
        f"**Export: {d['export_ratio']:.2f}x the raw reader, {d['export_ratio_boto3']:.2f}x "
        "the boto3 reader.** The raw reader costs dynalite "
        f"{fmt(raw_read[CPU_DYNALITE])} µs and itself {fmt(raw_read[CPU_BENCH])} µs per item. "
        f"The export costs {fmt(export[CPU_JVM])} µs in the JVM, "
        f"{fmt(export[CPU_JVM_CHILDREN])} µs in the partition writers and "
        f"{fmt(export[CPU_MOTO])} µs in moto (S3) per item, on top of dynalite's "
        f"{fmt(export[CPU_DYNALITE])} µs. The connector alone (`count`) needs "
        f"{fmt(count[CPU_JVM])} µs of JVM per item and reads {fmt(d['count_rate'])} "
        f"items/s, {ratio(d['count_rate'], d['read_limit']):.2f}x the raw reader, so the scan "
        "itself is not what is missing; what the export adds is the export line. Java Flight "
        f"Recorder puts {sdk:.0%} of the export's running JVM samples in the AWS SDK v2 "
        "parsing each Scan page and unmarshalling it into `AttributeValue` objects (the "
        f"connector's scan workers), and {gson:.0%} in gson turning those objects back into "
        "the export line. With the lines piped out (`pipe`) the JVM needs "
        f"{fmt(pipe[CPU_JVM])} µs per item; the whole export runs at "
        f"{ratio(d['export_scan'], d['pipe_rate']):.2f}x of `pipe`, the rest being the "
        "partition writers, the uploads to moto and the fixed cost of each job (file commit, "
        "listing). The partition writer itself is cheap: alone it writes "
        f"{fmt(p['partwriter']['items_per_s'])} items/s on one core.",
        "",
        "What would fix it, cheapest first:",
        "",
        *export_fixes(results, d, count, pipe),
        "",
        f"**Import: {d['import_ratio']:.2f}x the raw writer, {d['import_ratio_boto3']:.2f}x "
        "the boto3 writer.** The raw writer sends request bodies serialized beforehand, so it "
        f"costs itself {fmt(raw_write[CPU_BENCH])} µs per item (signing and HTTP) next to "
        f"dynalite's {fmt(raw_write[CPU_DYNALITE])} µs. ddbpipe's import tasks are Python and "
        f"spend {fmt(imp[CPU_JVM_CHILDREN])} µs per item: the stage timings above add up to "
        f"about {fmt(python_import)} µs per item before any HTTP "
        f"(`codec.line_to_item` {fmt(st[STAGE_LINE_TO_ITEM])}, botocore's parameter "
        f"validation {fmt(st[STAGE_VALIDATE])} and serialization "
        f"{fmt(st[STAGE_SERIALIZE])}, `codec.item_size` "
        f"{fmt(st[STAGE_ITEM_SIZE])}), under one GIL per task. The boto3 writer pays the "
        f"same validation and serialization ({fmt(boto_write[CPU_BENCH])} µs per item in its "
        "process), which is why the import is much closer to it than to the raw writer.",
        "",
        "What would fix it, cheapest first:",
        "",
        "- `parameter_validation=False` in the writer's botocore `Config`: every item was "
        "already checked by `codec` (and by the validation pass); measured on one task above: "
        f"{p['import_task_ratio_no_validation']:.2f}x.",
        "- Build the BatchWriteItem body straight from the export line: rename the type keys "
        "and keep the base64 and number text as they are, then `json.dumps` and sign (the "
        "`lean:` rows). With the size and key checks kept, the stage timings put that path at "
        f"about {fmt(lean)} µs per item against {fmt(python_import)} µs now.",
        "- Skipping the validation pass saves the second read and parse of every file "
        f"(end to end {fmt(d['import_wall'], 1)} s with it, "
        f"{fmt(d['import_skip_wall'], 1)} s without), not write throughput.",
    ]
    return "\n".join(out)


def export_fixes(results: RunResults, d: dict[str, Any], count: dict[str, float],
                 pipe: dict[str, float]) -> list[str]:
    prof = results["profiles"]
    out: list[str] = []
    seg = prof.get("segments_experiment")
    if seg:
        rates, jvm_us = seg["items_per_s"], seg["jvm_us_per_item"]
        planned, one = seg["segments"][SEGMENTS_PLANNED], seg["segments"][SEGMENTS_ONE_PER_TASK]
        gain = ratio(rates[SEGMENTS_ONE_PER_TASK], rates[SEGMENTS_PLANNED])
    if seg and gain < 1.1:
        out.append(
            f"- Not the segment count: {planned} segments (ddbpipe's `budget / 100` at this "
            f"read capacity) and {one} read the table at "
            f"{fmt(rates[SEGMENTS_PLANNED])} and {fmt(rates[SEGMENTS_ONE_PER_TASK])}"
            f" items/s ({gain:.2f}x), so the planner needs no change for speed.")
    elif seg:
        out.append(
            f"- Fewer segments when the budget is high and the table small (ddbpipe's planner): "
            f"{planned} segments read {fmt(rates[SEGMENTS_PLANNED])} items/s at "
            f"{fmt(jvm_us[SEGMENTS_PLANNED])} µs of JVM per item, {one} segments "
            f"{fmt(rates[SEGMENTS_ONE_PER_TASK])} items/s at "
            f"{fmt(jvm_us[SEGMENTS_ONE_PER_TASK])} µs ({gain:.2f}x). `budget / 100` "
            "segments exists to spread the budget over tasks, which the task count already "
            "does; a floor of some tens of MB per segment would keep it from cutting a small "
            "table into slivers (on a 1 TB table the size term dominates anyway).")
    jfrs = [prof[k] for k in JFR_RUNS if "gc" in prof.get(k, {})]
    if len(jfrs) == 2 and jfrs[1]["gc"]["heap_after_gc_max_mb"] \
            >= 0.7 * jfrs[0]["gc"]["heap_after_gc_max_mb"]:
        hi, lo = jfrs
        out.append(
            "- Not the read target either: at `--read-capacity "
            f"{hi['read_capacity']}` the connector started {hi['gc']['read_workers_started']} "
            f"read workers and held up to {fmt(hi['gc']['heap_after_gc_max_mb'])} MB live, at "
            f"{lo['read_capacity']} (a budget close to what dynalite served) "
            f"{lo['gc']['read_workers_started']} workers and "
            f"{fmt(lo['gc']['heap_after_gc_max_mb'])} MB (single runs under JFR: "
            f"{fmt(hi['export']['items_per_s_scan'])} and "
            f"{fmt(lo['export']['items_per_s_scan'])} items/s). A few workers already fill the "
            "page buffer faster than the pipe drains it, so the JVM holds a large buffer and "
            "pays GC for it either way (section 2).")
    elif len(jfrs) == 2:
        hi, lo = jfrs
        out.append(
            "- A read target the table can meet: at `--read-capacity "
            f"{hi['read_capacity']}` the connector started {hi['gc']['read_workers_started']} "
            f"read workers and held up to {fmt(hi['gc']['heap_after_gc_max_mb'])} MB live; "
            f"at {lo['read_capacity']} (a budget close to what dynalite served) "
            f"{lo['gc']['read_workers_started']} workers, "
            f"{fmt(lo['gc']['heap_after_gc_max_mb'])} MB, and "
            f"{fmt(lo['export']['items_per_s_scan'])} vs "
            f"{fmt(hi['export']['items_per_s_scan'])} items/s. On DynamoDB the target is the "
            "real capacity and is met, so this is mostly a local artefact, except that the "
            "page buffer also fills whenever the pipe is slower than the scan (next section).")
    out.append(
        "- The export line: gson's share above is the connector turning `AttributeValue` "
        "objects back into JSON (`DynamoDBItemWritable.toString()`), on the one pipe-writer "
        "thread per task. More tasks than cores would not help on 2 cores, but on a cluster "
        "it parallelizes with the task count.")
    out.append(
        "- On a real cluster DynamoDB does not share the executors' cores; what bounds a task "
        f"there is JVM CPU per item: at the `pipe` probe's {fmt(pipe[CPU_JVM])} µs per item one "
        f"core turns out about {fmt(1e6 / max(1.0, pipe[CPU_JVM]))} items/s (section 5 compares "
        "that with what a 40,000 RCU export needs per task).")
    out.append(
        "- The JVM's share is the connector's read path, not ddbpipe's: SDK v2 builds an "
        "object per attribute and gson re-serializes it. A reader that keeps the Scan page's "
        "JSON text and only renames the type keys (what the raw reader does in Python) would "
        "skip both and bound memory to a page per worker, at the price of reimplementing the "
        "connector's segment scan and rate limiter (decisions.md chose the connector for "
        "those).")
    return out


def paper_notes(results: RunResults, d: dict[str, Any]) -> str:
    p = results["paper"]
    out = [
        f"So about **{p['hours']:.1f} hours** on {p['nodes']} core nodes with {p['tasks']} "
        f"tasks reading {fmt(p['segments'])} segments and writing {fmt(p['files'])} files "
        f"(~{p['line_ratio']:.1f} TB of export text). The read budget, not the cluster, sets "
        "the time, provided every task keeps up with its share "
        f"({fmt(p['per_task_needed_mb_s'], 2)} MB/s of items, about "
        f"{fmt(p['per_task_needed_mb_s'] * 1e6 / 1024)} items/s of 1 KB).",
    ]
    seen = p.get("per_task_seen_mb_s") or 0.0
    if seen:
        out += [
            "",
            f"Can a task keep up? Here one export task moved {fmt(seen, 2)} MB/s of items "
            f"(~{d['export_scan'] / 2:,.0f} items/s of ~190 bytes) while sharing two cores "
            "with the other task, dynalite, moto and the machine's other users; a task needs "
            f"{fmt(p['per_task_needed_mb_s'], 2)} MB/s "
            + ("so the rule of thumb leaves room even at this machine's speed."
               if seen >= p["per_task_needed_mb_s"] else
               f"({p['per_task_needed_mb_s'] / seen:.1f}x what it did here). On a core of "
               "its own with DynamoDB elsewhere a task does more than here, and a 1 KB item "
               "costs less CPU per byte than a 190-byte one, but if a task did not keep up "
               "the export would run at the tasks' speed instead of the budget's; more core "
               "nodes than the rule of thumb would restore the budget's pace."),
            "",
            "Memory: each task's JVM may hold up to 600 pages of 25 RCU (~200 KB of items, "
            "several times that as Java objects) in the connector's buffer whenever its pipe "
            "drains more slowly than DynamoDB answers (section 2); with 4 tasks per m5.xlarge "
            "(16 GiB) that buffer, not the table, decides the executor memory to give.",
        ]
    return "\n".join(out)
