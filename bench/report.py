"""docs/benchmarks.md from the raw results of one ``bench.run`` (numbers only from that run)."""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any, Iterable, Sequence

TARGET_RATIO = 0.8


def short_repr(value: Any, limit: int = 90) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def med(values: Iterable[float]) -> float:
    values = list(values)
    return float(statistics.median(values)) if values else 0.0


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def table(head: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def heap_label(run: dict[str, Any]) -> str:
    label = str(run.get("driver_memory", "default"))
    return "ddbpipe's default" if label.startswith("default") else label


def met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _per_round_best(rounds: list[dict[str, Any]], key: str, kind: str) -> list[float]:
    """Per round, the faster of the 2- and 4-thread runs of ``kind``."""
    return [max((x["items_per_s"] for x in rnd[key] if x["kind"] == kind), default=0.0)
            for rnd in rounds]


def _best_threads(rounds: list[dict[str, Any]], key: str, kind: str) -> str:
    wins = [max((x for x in rnd[key] if x["kind"] == kind),
                key=lambda x: x["items_per_s"])["threads"] for rnd in rounds]
    return "/".join(str(w) for w in wins)


class Doc:
    def __init__(self, results: dict[str, Any], doc_path: Path, root: Path) -> None:
        self.r = results
        self.doc_path = doc_path
        self.root = root
        self.parts: list[str] = []

    def add(self, *text: str) -> None:
        self.parts.extend(text)

    def link(self, path: str) -> str:
        return os.path.relpath(self.root / path, self.doc_path.parent)

    # ------------------------------------------------------------------ derived numbers

    def derived(self) -> dict[str, Any]:
        r = self.r
        rounds = r["main"]["rounds"]
        startup = [s["session"] + s["first_job"] for s in r["spark_startup"]]
        d: dict[str, Any] = {"rounds": rounds, "startup": med(startup),
                             "startup_all": startup}
        read = {k: _per_round_best(rounds, "export_limit", k) for k in ("boto3", "raw")}
        write = {k: _per_round_best(rounds, "import_limit", k) for k in ("boto3", "raw")}
        d["read_kinds"], d["write_kinds"] = read, write
        d["read_threads"] = {k: _best_threads(rounds, "export_limit", k) for k in read}
        d["write_threads"] = {k: _best_threads(rounds, "import_limit", k) for k in write}
        read_kind = max(read, key=lambda k: med(read[k]))
        write_kind = max(write, key=lambda k: med(write[k]))
        d["read_limit_name"] = f"{read_kind}, best of 2/4 threads"
        d["write_limit_name"] = f"{write_kind}, best of 2/4 threads"
        d["read_limit"] = med(read[read_kind])
        d["read_boto3"] = med(read["boto3"])
        d["write_limit"] = med(write[write_kind])
        d["write_boto3"] = med(write["boto3"])
        export_rates = [x["export"]["items_per_s_scan"] for x in rounds]
        d["export_scan"] = med(export_rates)
        d["export_scan_mb"] = med(x["export"]["mb_per_s_scan"] for x in rounds)
        d["export_wall"] = med(x["export"]["wall"] for x in rounds)
        d["export_scan_s"] = med(x["export"]["scan_seconds"] for x in rounds)
        d["export_ratio"] = med(a / b for a, b in zip(export_rates, read[read_kind]))
        d["export_ratio_boto3"] = med(a / b for a, b in zip(export_rates, read["boto3"]))
        d["count_rate"] = med(x["connector_count"]["items_per_s"] for x in rounds)
        d["pipe_rate"] = med(x["connector_pipe"]["items_per_s"] for x in rounds)
        d["import_write"] = med(x["import"]["items_per_s_write"] for x in rounds)
        d["import_skip_write"] = med(x["import_skip_validation"]["items_per_s_write"]
                                     for x in rounds)
        import_rates = [max(x["import"]["items_per_s_write"],
                            x["import_skip_validation"]["items_per_s_write"]) for x in rounds]
        d["import_best_write"] = med(import_rates)
        d["import_wall"] = med(x["import"]["wall"] for x in rounds)
        d["import_skip_wall"] = med(x["import_skip_validation"]["wall"] for x in rounds)
        d["import_ratio"] = med(a / b for a, b in zip(import_rates, write[write_kind]))
        d["import_ratio_boto3"] = med(a / b for a, b in zip(import_rates, write["boto3"]))
        d["import_ratio_validated"] = med(x["import"]["items_per_s_write"] / b
                                          for x, b in zip(rounds, write[write_kind]))
        d["dump_backup"] = med(x["dynamodump"]["backup_seconds"] for x in rounds)
        d["dump_restore"] = med(x["dynamodump"]["restore_seconds"] for x in rounds)
        d["cli"] = all("cli" in x for x in rounds)
        if d["cli"]:
            d["export_cold"] = med(x["cli"]["export_seconds"] for x in rounds)
            d["import_cold"] = med(x["cli"]["import_seconds"] for x in rounds)
        else:
            d["export_cold"] = d["startup"] + d["export_wall"]
            d["import_cold"] = d["startup"] + d["import_wall"]
        d["import_skip_cold"] = d["startup"] + d["import_skip_wall"]
        return d

    # ------------------------------------------------------------------ sections

    def render(self) -> str:
        r, d = self.r, self.derived()
        n = r["main"]["items"]
        m = r["machine"]
        s = r["settings"]
        self.add(
            "# Benchmarks",
            "",
            "Generated by `make bench` from one run; every number below was measured in that "
            "run (raw JSON in `bench/results/`, gitignored). Exact command:",
            "",
            "```sh",
            f"{r['command']}    # what `make bench` runs, from the checkout, with .venv/bin/python",
            "```",
            "",
            f"Machine: {m['nproc']} cores ({m['cpu_model']}), {m['memory_gib']} GiB memory, "
            f"kernel {m['kernel']}; {m['java']}; Python {m['python']}, pyspark {m['pyspark']}, "
            f"boto3 {m['boto3']}, moto {m['moto']}; node {m['node']}, dynalite {m['dynalite']}; "
            f"connector {m['connector']}; dynamodump {m['dynamodump']} (own venv). Date: "
            f"{m['date_utc']}. Code measured: commit {m.get('git_commit', '?')}"
            + (f" plus uncommitted changes to {', '.join(m['git_changed'])} (`git status` "
               "when the run started)"
               if m.get("git_changed") else "")
            + f". Load average at start {m['load_average_start']}, at end "
            f"{m.get('load_average_end', '?')}: the machine is shared and noisy, so every "
            "comparison is made side by side within one round and reported as a ratio, median "
            f"of {s['runs']} rounds. The whole run took {r['total_seconds'] / 60:.1f} minutes.",
            "",
            "Everything talks to a local dynalite (DynamoDB) and moto server (S3) on 127.0.0.1 "
            "that the run starts and stops. Both share the 2 cores with what is measured, so "
            "these are ratios on one small machine, not DynamoDB's or EMR's speed.",
            "",
        )
        self.summary(d, n)
        self.throughput(d, n)
        self.profiles(d)
        self.memory()
        self.throttled()
        self.fidelity()
        self.paper()
        return "\n".join(self.parts) + "\n"

    def summary(self, d: dict[str, Any], n: int) -> None:
        r = self.r
        mem = [x for x in r["memory"] if str(x.get("driver_memory", "default")).startswith("def")]
        capped = [x for x in r["memory"] if x not in mem]
        mem_ok = (len(mem) == 2 and all(x.get("ok", True) for x in mem)
                  and mem[1]["peak_total_mb"] <= mem[0]["peak_total_mb"] * 1.15)
        thr = r["throttled"]
        rows = [
            ("export, steady state >= 0.8x the limit: the boto3 reader",
             f"{d['export_ratio_boto3']:.2f}x ({fmt(d['export_scan'])} vs "
             f"{fmt(d['read_boto3'])} items/s)", met(d["export_ratio_boto3"] >= TARGET_RATIO)),
            ("... and the fastest reader written (raw)",
             f"{d['export_ratio']:.2f}x ({fmt(d['export_scan'])} vs {fmt(d['read_limit'])} "
             f"items/s, {d['read_limit_name']})", met(d["export_ratio"] >= TARGET_RATIO)),
            ("import, steady state >= 0.8x the limit: the boto3 writer",
             f"{d['import_ratio_boto3']:.2f}x ({fmt(d['import_best_write'])} vs "
             f"{fmt(d['write_boto3'])} items/s)", met(d["import_ratio_boto3"] >= TARGET_RATIO)),
            ("... and the fastest writer written (raw)",
             f"{d['import_ratio']:.2f}x ({fmt(d['import_best_write'])} vs "
             f"{fmt(d['write_limit'])} items/s, {d['write_limit_name']})",
             met(d["import_ratio"] >= TARGET_RATIO)),
            ("export ahead of dynamodump end to end",
             f"`ddbpipe export` command {fmt(d['export_cold'], 1)} s (fresh JVM; "
             f"{fmt(d['export_wall'], 1)} s in a running Spark) vs dynamodump backup "
             f"{fmt(d['dump_backup'], 1)} s: {ratio(d['dump_backup'], d['export_cold']):.2f}x "
             "as fast", met(d["export_cold"] < d["dump_backup"])),
            ("import ahead of dynamodump end to end",
             f"`ddbpipe import` command {fmt(d['import_cold'], 1)} s with validation (fresh "
             f"JVM; {fmt(d['import_wall'], 1)} s in a running Spark, "
             f"{fmt(d['import_skip_wall'], 1)} s without validation) vs dynamodump restore "
             f"{fmt(d['dump_restore'], 1)} s: {ratio(d['dump_restore'], d['import_cold']):.2f}x "
             "as fast", met(d["import_cold"] < d["dump_restore"])
             + (", narrowly: within this machine's noise"
                if 1 < ratio(d["dump_restore"], d["import_cold"]) < 1.15 else "")),
        ]
        if len(mem) == 2:
            def state(x: dict[str, Any]) -> str:
                return "" if x.get("ok", True) else " (**failed**: out of memory)" \
                    if "OutOfMemory" in str(x.get("error")) else " (**failed**)"

            rows.append(("export memory does not grow with the table",
                         f"peak {fmt(mem[0]['peak_total_mb'])} MB at {fmt(mem[0]['items'])} "
                         f"items{state(mem[0])}, {fmt(mem[1]['peak_total_mb'])} MB at "
                         f"{fmt(mem[1]['items'])}{state(mem[1])}"
                         + "".join(f"; {fmt(c['items'])} items with a {c['driver_memory']} "
                                   f"heap: peak {fmt(c['peak_total_mb'])} MB{state(c)}"
                                   for c in capped)
                         + ". The JVM grows: the connector's page buffer (600 pages a task) "
                         "fills the heap; the partition writers stay flat",
                         met(mem_ok)))
        for what in ("export", "import"):
            t = thr[what]
            rows.append((f"throttled {what} holds {t['percent']} x {t['capacity']}",
                         f"steady median {t['steady_median_units_per_s']:g} units/s vs "
                         f"target {t['target_units_per_s']:g} "
                         f"({t['steady_median_ratio']:.2f}x)",
                         met(0.9 <= t["steady_median_ratio"] <= 1.1)))
        f = r["fidelity"]
        rows.append(("fidelity, every type",
                     f"ddbpipe {f['ddbpipe']['identical']}/{f['items']} items identical, "
                     f"dynamodump {f['dynamodump']['identical']}/{f['items']}",
                     met(f["ddbpipe"]["identical"] == f["items"])))
        self.add("## Summary", "", f"Main table: {fmt(n)} items of "
                 f"~{self._item_bytes():.0f} bytes (DynamoDB size; S, N, BOOL, SS, B, M, L, "
                 "NULL).", "", table(("target", "measured (medians)", ""), rows), "")

    def _item_bytes(self) -> float:
        e = self.r["main"]["rounds"][0]["export"]
        return float(e["read_units"] * 8192 / e["items"])

    def throughput(self, d: dict[str, Any], n: int) -> None:
        r = self.r
        rounds = d["rounds"]
        s = r["settings"]
        self.add(
            "## 1. Throughput",
            "",
            f"One table of {fmt(n)} items, loaded once with threaded BatchWriteItem "
            f"({', '.join(fmt(x['items_per_s']) for x in r['load'])} items/s per load step) and "
            f"provisioned at 100,000 RCU/WCU (dynalite does not throttle). Each round runs, in "
            "this order: the read limit, ddbpipe export, two connector-only probes, the write "
            "limit, ddbpipe import with and without validation, dynamodump backup and restore, "
            "then the `ddbpipe export` and `ddbpipe import` command lines. "
            "Every round runs every limit contender (boto3 and raw, 2 and 4 threads); per "
            "round and kind the faster thread count is kept.",
            "",
            "**The limits** are the fastest plain clients written for this (`bench/limits.py`): "
            "a threaded parallel Scan (one segment per thread) and a threaded BatchWriteItem of "
            "items generated in memory beforehand, each as boto3 (one client per thread) and "
            "as *raw* (the same requests signed with botocore's SigV4 signer, sent on a "
            "keep-alive `http.client` connection per thread, answers decoded with `json.loads`; "
            "no boto3 shape parsing or serialization). Items read are discarded.",
            "",
        )
        head = ("round", "kind", "threads", "items/s", "MB/s (wire)")
        rows: list[Sequence[Any]] = []
        for rnd in rounds:
            for x in rnd["export_limit"]:
                rows.append((rnd["round"], x["kind"], x["threads"], fmt(x["items_per_s"]),
                             fmt(x["mb_per_s"], 1)))
        self.add("### Export", "", "Read limit:", "", table(head, rows), "")
        rows = []
        for rnd in rounds:
            e = rnd["export"]
            rows.append((rnd["round"], fmt(e["items"]), f"{e['segments']} / {e['tasks']}",
                         fmt(e["scan_seconds"], 1), fmt(e["items_per_s_scan"]),
                         fmt(e["mb_per_s_scan"], 1), fmt(e["wall"], 1),
                         fmt(e["items_per_s_wall"]),
                         fmt(rnd["connector_count"]["items_per_s"]),
                         fmt(rnd["connector_pipe"]["items_per_s"])))
        self.add(
            f"ddbpipe export (`export.run`, read percent {s['export_percent']}, "
            f"`--read-capacity {s['export_read_capacity']}` so the connector's limiter never "
            "waits; files of 100,000 items to moto S3). *Scan* is the Spark job (connector read "
            "+ partition writers + uploads); *export.run* adds DescribeTable, the checks, the "
            "manifest, sidecar and `_SUCCESS`. The two probes read the same table with the same "
            "plan and Hadoop configuration but end in `count()` (the connector alone) or pipe "
            "the export lines to `wc -l` (connector + `toString()` + the pipe, no Python):",
            "",
            table(("round", "items", "segments / tasks", "scan s", "scan items/s",
                   "MB/s (files)", "export.run s", "items/s", "probe: count items/s",
                   "probe: pipe items/s"), rows),
            "",
            f"Medians: export {fmt(d['export_scan'])} items/s over the scan "
            f"({fmt(d['export_scan_mb'], 1)} MB/s of export files); the raw reader "
            f"{fmt(med(d['read_kinds']['raw']))} items/s (best thread count per round: "
            f"{d['read_threads']['raw']}), the boto3 reader {fmt(d['read_boto3'])} "
            f"({d['read_threads']['boto3']}). Export / raw reader, per round then median: "
            f"**{d['export_ratio']:.2f}x**; export / boto3 reader: "
            f"**{d['export_ratio_boto3']:.2f}x**. The connector alone reads "
            f"{fmt(d['count_rate'])} items/s and {fmt(d['pipe_rate'])} with the pipe.",
            "",
        )
        rows = []
        for rnd in rounds:
            for x in rnd["import_limit"]:
                rows.append((rnd["round"], x["kind"], x["threads"], fmt(x["items_per_s"])))
        self.add("### Import", "", "Write limit (into a fresh table each time):", "",
                 table(("round", "kind", "threads", "items/s"), rows), "")
        rows = []
        for rnd in rounds:
            for key, label in (("import", "validate"), ("import_skip_validation", "skip")):
                x = rnd[key]
                rows.append((rnd["round"], label, fmt(x["written"]), x["tasks"],
                             fmt(x["write_seconds"], 1), fmt(x["items_per_s_write"]),
                             fmt(x["wall"], 1), fmt(x["items_per_s_wall"])))
        self.add(
            f"ddbpipe import of that round's export into a new table (`importer.run`, write "
            f"percent {s['import_percent']}, `--write-capacity {s['import_write_capacity']}`, "
            "`--create-table` from the sidecar). *Writes* is the Spark job that writes; "
            "*importer.run* adds the checks, table creation and (unless skipped) the "
            "validation pass:",
            "",
            table(("round", "validation", "items", "tasks", "writes s", "writes items/s",
                   "importer.run s", "items/s"), rows),
            "",
            f"Medians: import {fmt(d['import_write'])} items/s over the writes "
            f"({fmt(d['import_skip_write'])} with `skip_validation`; the validation pass runs "
            "before the writes and is not in this rate); the raw writer "
            f"{fmt(med(d['write_kinds']['raw']))} items/s (best thread count per round: "
            f"{d['write_threads']['raw']}), the boto3 writer {fmt(d['write_boto3'])} "
            f"({d['write_threads']['boto3']}). The faster of the two imports / raw writer, per "
            f"round then median: **{d['import_ratio']:.2f}x**; / boto3 writer: "
            f"**{d['import_ratio_boto3']:.2f}x**.",
            "",
        )
        rows = []
        for rnd in rounds:
            x = rnd["dynamodump"]
            rows.append((rnd["round"], fmt(x["backup_seconds"], 1),
                         fmt(n / x["backup_seconds"]), fmt(x["restore_seconds"], 1),
                         fmt(n / x["restore_seconds"]), fmt(x["restored_items"]),
                         fmt(x["dump_bytes"] / 1e6, 1)))
        st = r["spark_startup"]
        sp = r["spark_startup_in_process"]
        self.add(
            "### dynamodump and end to end",
            "",
            "dynamodump backs up to local JSON files (one file per Scan page) with one thread "
            "per table, after starting its 25 worker threads one second apart (the ~25 s fixed "
            "start-up), and restores by dropping and re-creating the table and writing "
            "BatchWriteItem calls one at a time:",
            "",
            table(("round", "backup s", "items/s", "restore s", "items/s", "items restored",
                   "dump MB"), rows),
            "",
            f"Spark start-up, apart (a fresh process creating ddbpipe's local session and "
            f"running a trivial first job): "
            f"{', '.join(fmt(x['session'] + x['first_job'], 1) for x in st)} s "
            f"(session {', '.join(fmt(x['session'], 1) for x in st)} s + first job "
            f"{', '.join(fmt(x['first_job'], 1) for x in st)} s); median "
            f"{fmt(d['startup'], 1)} s. In the benchmark process itself: session "
            f"{fmt(sp['session'], 1)} s, first job {fmt(sp['first_job'], 1)} s.",
            "",
            table(("end to end, medians", "ddbpipe in a running Spark",
                   "ddbpipe command line (fresh JVM)" if d["cli"]
                   else "ddbpipe + start-up", "dynamodump"), [
                ("export / backup", f"{fmt(d['export_wall'], 1)} s",
                 f"{fmt(d['export_cold'], 1)} s", f"{fmt(d['dump_backup'], 1)} s"),
                ("import / restore, validated", f"{fmt(d['import_wall'], 1)} s",
                 f"{fmt(d['import_cold'], 1)} s", f"{fmt(d['dump_restore'], 1)} s"),
                ("import / restore, skip validation", f"{fmt(d['import_skip_wall'], 1)} s",
                 "", ""),
            ]),
            "",
            ("The command lines are `.venv/bin/ddbpipe export --table bench-main --to s3://... "
             "--read-percent 1.5 --read-capacity 10000` and `.venv/bin/ddbpipe import --from "
             "... --table ... --write-percent 1.5 --write-capacity 100000 --create-table`, run "
             "once per round as subprocesses (" + "; ".join(
                 f"round {x['round']}: export {fmt(x['cli']['export_seconds'], 1)} s, import "
                 f"{fmt(x['cli']['import_seconds'], 1)} s" for x in rounds) + ")."
             if d["cli"] else ""),
            "",
            "The memory runs below are cold `ddbpipe export` command lines as a user runs them "
            "(a new JVM each): "
            + ", ".join(f"{fmt(x['items'])} items in {fmt(x['seconds'], 1)} s"
                        for x in r["memory"]) + ".",
            "",
        )

    def cpu_rows(self, d: dict[str, Any]) -> list[Sequence[Any]]:
        """Median cores used by each process group, per measured step."""
        rounds = d["rounds"]

        def best_of(rnd: dict[str, Any], key: str, kind: str) -> dict[str, Any]:
            return max((x for x in rnd[key] if x["kind"] == kind),
                       key=lambda x: x["items_per_s"])

        steps: list[tuple[str, Any]] = [
            ("read limit, raw", lambda rnd: best_of(rnd, "export_limit", "raw")["cpu"]),
            ("read limit, boto3", lambda rnd: best_of(rnd, "export_limit", "boto3")["cpu"]),
            ("ddbpipe export", lambda rnd: rnd["export"]["cpu"]),
            ("probe: connector count", lambda rnd: rnd["connector_count"]["cpu"]),
            ("probe: connector pipe", lambda rnd: rnd["connector_pipe"]["cpu"]),
            ("dynamodump backup", lambda rnd: rnd["dynamodump"]["backup_cpu"]),
            ("write limit, raw", lambda rnd: best_of(rnd, "import_limit", "raw")["cpu"]),
            ("write limit, boto3", lambda rnd: best_of(rnd, "import_limit", "boto3")["cpu"]),
            ("ddbpipe import (validated)", lambda rnd: rnd["import"]["cpu"]),
            ("ddbpipe import (skip validation)",
             lambda rnd: rnd["import_skip_validation"]["cpu"]),
            ("dynamodump restore", lambda rnd: rnd["dynamodump"]["restore_cpu"]),
        ]
        groups = ("dynalite", "jvm", "jvm children", "bench", "waited subprocesses", "moto",
                  "others")
        rows: list[Sequence[Any]] = []
        for label, get in steps:
            cpus = [get(rnd) for rnd in rounds]
            wall = med(c["wall"] for c in cpus)
            cores = [med(c[g] / c["wall"] for c in cpus) for g in groups]
            rows.append((label, fmt(wall, 1), *(f"{x:.2f}" for x in cores),
                         f"{sum(cores):.2f}"))
        return rows

    def profiles(self, d: dict[str, Any]) -> None:
        p = self.r["profiles"]
        w = p["partwriter"]
        it = p["import_task"]
        plain = p["import_task_plain"]
        main, threads = it["main"], it["threads"]
        rounds = d["rounds"]
        count = d["count_rate"]
        pipe = d["pipe_rate"]
        export = d["export_scan"]
        st = p["stages_us_per_item"]
        self.add(
            "## Where the time goes",
            "",
            "py-spy is not available here. Instead: CPU time by process for every measured "
            "step (psutil, `bench/cpu.py`), the connector-only probes, Java Flight Recorder "
            "on the Spark JVM during one more export (`bench/jfr.py`), each Python stage timed "
            "alone per item (`bench/stages.py`) and cProfile of the Python task paths "
            "(`bench/profiling.py`) on one real data file "
            f"({fmt(p['data_file']['lines'])} lines, {fmt(p['data_file']['bytes'] / 1e6, 1)} "
            "MB).",
            "",
            "**Who uses the 2 cores.** Average cores busy per process group during each step "
            "(CPU seconds / wall seconds, median over the rounds). *JVM* is Spark's driver and "
            "executors (local mode: one process), *JVM's children* the partition writers and "
            "PySpark workers, *bench* this process (the limit clients' threads; Spark's Python "
            "driver, idle during jobs), *others* whatever else ran on the machine meanwhile:",
            "",
            table(("step", "wall s", "dynalite", "JVM", "JVM's children", "bench", "dynamodump",
                   "moto (S3)", "others", "total"), self.cpu_rows(d)),
            "",
            "**Export.** Per round, items/s of the connector alone (`count`), with the export "
            "lines piped out of the JVM (`pipe`) and the whole export:",
            "",
            table(("round", "count", "pipe", "export", "export / count"),
                  [(x["round"], fmt(x["connector_count"]["items_per_s"]),
                    fmt(x["connector_pipe"]["items_per_s"]),
                    fmt(x["export"]["items_per_s_scan"]),
                    f"{x['export']['items_per_s_scan'] / x['connector_count']['items_per_s']:.2f}")
                   for x in rounds]),
            "",
            f"Medians: connector alone {fmt(count)}, + pipe {fmt(pipe)}, whole export "
            f"{fmt(export)} items/s. The partition writer on its own (in this process, "
            f"cProfile on) writes {fmt(w['items_per_s'])} items/s: "
            f"{fmt(w['upload_seconds'], 2)} s of its {fmt(w['seconds'], 2)} s in S3 uploads, "
            f"{fmt(w['size_sampling_seconds'], 2)} s parsing one line in 16 for the read-unit "
            "report.",
            "",
        )
        self.jfr()
        self.add(
            "**Python stages, microseconds per item** (one thread, no profiler, "
            f"{fmt(st['items'])} lines of the data file; the import path runs the first five "
            "in the task's main thread and validation + serialization + signing in its writer "
            "threads, all under one GIL per task):",
            "",
            table(("stage", "µs per item"),
                  [(k, fmt(v, 1)) for k, v in st.items() if k != "items"]),
            "",
            f"**Import task.** One import task (`importer._write`, 4 writer threads) alone on "
            f"the first {fmt(plain['items'])} lines of the file: "
            f"{fmt(plain['items_per_s'])} items/s without a profiler, "
            f"{fmt(p['import_task_no_validation']['items_per_s'])} items/s when its DynamoDB "
            "client skips botocore's parameter validation (an experiment in the benchmark "
            "process: `Config(parameter_validation=False)` patched in; alternating, median of 3 "
            f"each, {p['import_task_ratio_no_validation']:.2f}x). Under cProfile "
            f"({fmt(it['items_per_s'])} items/s, "
            "inflated several times), the main thread spent "
            f"{fmt(main['read_items_seconds'], 1)} s reading and parsing lines "
            f"(`codec.line_to_item` {fmt(main['parse_seconds'], 1)} s), "
            f"{fmt(main['item_size_seconds'], 1)} s in `codec.item_size` and "
            f"{fmt(main['wait_for_slot_seconds'], 1)} s waiting for a free writer slot; the "
            f"writer threads (summed) {fmt(threads['batch_write_seconds'], 1)} s in "
            f"BatchWriteItem: botocore parameter validation "
            f"{fmt(threads['validate_seconds'], 1)} s, serialization "
            f"{fmt(threads['serialize_seconds'], 1)} s, response parsing "
            f"{fmt(threads['parse_response_seconds'], 1)} s, the HTTP round trip "
            f"{fmt(threads['http_seconds'], 1)} s, the token bucket "
            f"{fmt(threads['token_bucket_seconds'], 2)} s.",
            "",
            "<details><summary>cProfile tables (tottime)</summary>",
            "",
            "Partition writer:",
            "",
            table(("function", "calls", "tottime s", "cumtime s"),
                  [(f"`{x['function']}`", fmt(x["calls"]), fmt(x["tottime"], 3),
                    fmt(x["cumtime"], 3)) for x in w["top"][:10]]),
            "",
            "Import task, main thread:",
            "",
            table(("function", "calls", "tottime s", "cumtime s"),
                  [(f"`{x['function']}`", fmt(x["calls"]), fmt(x["tottime"], 3),
                    fmt(x["cumtime"], 3)) for x in main["top"][:10]]),
            "",
            "Import task, writer threads (summed; waiting shows as lock acquisition and socket "
            "reads):",
            "",
            table(("function", "calls", "tottime s", "cumtime s"),
                  [(f"`{x['function']}`", fmt(x["calls"]), fmt(x["tottime"], 3),
                    fmt(x["cumtime"], 3)) for x in threads["top"][:10]]),
            "",
            "</details>",
            "",
        )
        self.add("ANALYSIS_PLACEHOLDER", "")

    def jfr(self) -> None:
        j = self.r["profiles"].get("jfr") or {}
        if "error" in j or not j:
            self.add(f"Java Flight Recorder: not available ({j.get('error', 'no JVM found')}).",
                     "")
            return
        ex = j["jdk.ExecutionSample"]
        nat = j["jdk.NativeMethodSample"]
        e = j["export"]

        def share(rows: list[Any], total: int) -> list[Sequence[Any]]:
            return [(name, n, f"{n / total:.0%}" if total else "") for name, n in rows]

        self.add(
            f"**JVM (Java Flight Recorder)** during one more export "
            f"({fmt(e['items_per_s_scan'])} items/s). *Running* samples are threads executing "
            "Java code (where the JVM's CPU goes); *native* samples are threads inside native "
            "code: waiting on a socket (DynamoDB's answer) or a pipe (the partition writer "
            "reading). Samples by thread role, then by role and the first frame outside the JDK "
            "(the library doing the work):",
            "",
            table(("thread role", "running samples", "native samples"),
                  [(role, n, dict(nat["roles"]).get(role, 0)) for role, n in ex["roles"]]),
            "",
            table(("running: role: library", "samples", "share of the export's threads"),
                  share(ex["groups"][:10], sum(n for _, n in ex["groups"]))),
            "",
            table(("native: role: library", "samples", "share"),
                  share(nat["groups"][:6], sum(n for _, n in nat["groups"]))),
            "",
            "<details><summary>Top methods of the export's threads (running / native)</summary>",
            "",
            table(("running: method", "samples"),
                  [(f"`{m}`", n) for m, n in ex["top_methods"][:12]]),
            "",
            table(("native: method", "samples"),
                  [(f"`{m}`", n) for m, n in nat["top_methods"][:8]]),
            "",
            "</details>",
            "",
        )
        self.read_workers()

    def read_workers(self) -> None:
        """The two JFR'd exports side by side: the benchmark's read capacity and a matched one."""
        prof = self.r["profiles"]
        seg = prof.get("segments_experiment")
        if seg:
            self.add(
                "**Segments.** ddbpipe plans `max(size / 1 GiB, budget / 100, tasks)` segments; "
                f"at `--read-capacity {self.r['settings']['export_read_capacity']}` that is "
                f"{seg['segments']['planned']} segments for this table of a few tens of MB. "
                "The connector alone (`count`) at the same read capacity with the planned "
                "segments and with one segment per task (the Hadoop setting overridden; "
                "alternating, median of 3):",
                "",
                table(("segments", "items/s", "JVM µs per item"),
                      [(f"{seg['segments'][k]} ({k})", fmt(seg["items_per_s"][k]),
                        fmt(seg["jvm_us_per_item"][k])) for k in ("planned", "one per task")]),
                "",
            )
        runs = [(k, prof[k]) for k in ("jfr", "jfr_matched")
                if k in prof and "error" not in prof[k] and "gc" in prof[k]]
        if len(runs) < 2:
            return
        rows: list[Sequence[Any]] = []
        for _key, x in runs:
            e, g, c = x["export"], x["gc"], x["cpu"]
            rows.append((f"{x['read_capacity']:,}", f"{e['segments']} / {e['tasks']}",
                         fmt(e["items_per_s_scan"]), g["read_workers_started"],
                         fmt(g["heap_after_gc_max_mb"]), g["collections"],
                         fmt(g["cpu_seconds"], 1), fmt(c["jvm"], 1),
                         fmt(c["jvm"] / e["items"] * 1e6)))
        self.add(
            "**The connector's read workers and page buffer.** The connector (5.0.0, read from "
            "its source and checked against the jar's constants) starts one read worker per "
            "task and adds one every 5 s while the task reads less than its target rate, up to "
            "30; each Scan asks for at most 25 RCU of items (~200 KB); pages wait in a buffer of "
            "up to 600 pages per task, and the task's iterator waits until 50 pages are "
            "buffered. With `--read-capacity` far above what the server gives, the target is "
            "never reached, workers keep coming and the buffer fills whenever the pipe to the "
            "partition writer is slower than the workers. The same export under JFR with the "
            "benchmark's `--read-capacity` and with one whose budget is about what the table "
            "served in the rounds:",
            "",
            table(("--read-capacity", "segments / tasks", "items/s", "read workers started",
                   "live heap after GC, max MB", "GCs", "GC CPU s", "JVM CPU s",
                   "JVM µs per item"), rows),
            "",
        )

    def memory(self) -> None:
        runs = self.r["memory"]
        rows: list[Sequence[Any]] = []
        for x in runs:
            kinds = x["peak_by_kind_mb"]
            rows.append((fmt(x["items"]), heap_label(x),
                         "done" if x.get("ok", True) else f"**failed**: {x.get('error', '')}",
                         fmt(x["seconds"], 1), fmt(x["peak_total_mb"]),
                         fmt(kinds.get("driver", 0)), fmt(kinds.get("jvm", 0)),
                         fmt(kinds.get("python_worker", 0) + kinds.get("partwriter", 0)),
                         x["max_processes"]))
        self.add(
            "## 2. Memory",
            "",
            "Peak RSS of the whole `ddbpipe export` process tree (`.venv/bin/ddbpipe export "
            "--table bench-main --to s3://... --read-percent 1.5 --read-capacity 10000`, "
            "endpoints from `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_S3`), sampled with "
            "psutil every 0.2 s; the same table grown from the first size to the second. Parts "
            "are each part's own peak (they need not peak together); shared pages are counted "
            "in each process, so the total over-counts a little. ddbpipe's local session gives "
            "Spark's JVM (driver and executors in one, local mode) `DDBPIPE_DRIVER_MEMORY` "
            "(default 4g, see decisions.md) as its heap; the last run sets the heap explicitly "
            "(`PYSPARK_SUBMIT_ARGS=--driver-memory ...`"
            + ("; 4g is ddbpipe's default too, so it repeats the run before it"
               if any(x.get("driver_memory") == "4g" for x in runs) else "")
            + "). An earlier run of this benchmark, "
            "with Spark's own default of 1 GiB, failed at 400,000 items with "
            "`OutOfMemoryError` in the connector's read workers; that is why the default "
            "changed.",
            "",
            table(("items", "JVM heap", "result", "seconds", "peak total MB",
                   "driver (Python) MB", "JVM MB", "partition writers MB", "max processes"),
                  rows),
            "",
        )
        rounds = self.r["main"]["rounds"]
        if all("cli" in x for x in rounds):
            self.add(
                f"The command-line runs of each round ({fmt(self.r['main']['items'])} items) "
                "peaked at " + ", ".join(fmt(x["cli"]["export_peak_mb"]) for x in rounds)
                + " MB for `ddbpipe export` and "
                + ", ".join(fmt(x["cli"]["import_peak_mb"]) for x in rounds)
                + " MB for `ddbpipe import` (whose tasks are PySpark workers holding one "
                "BatchWriter each).",
                "",
            )
        prof = self.r["profiles"]
        live = [f"{fmt(prof[k]['gc']['heap_after_gc_max_mb'])} MB with `--read-capacity "
                f"{prof[k]['read_capacity']}`" for k in ("jfr", "jfr_matched")
                if "gc" in prof.get(k, {})]
        self.add(
            "What grows is the JVM, and it is the connector's page buffer, not ddbpipe's code: "
            "items stream from the connector through a pipe into each partition writer (which "
            "holds at most one 8 MiB upload part, and stays flat above), and the driver "
            "collects one commit message per file. The connector (5.0.0) buffers up to 600 "
            "Scan pages per task (`PSCAN_MULTIPLEXER_CAPACITY`), each up to 25 RCU (~200 KB of "
            "items, `MAX_RCU_PER_REQ`), as SDK v2 `AttributeValue` objects, many times their "
            "wire size for small items; up to 30 read workers per task keep filling it while "
            "the task's target rate is not met and the pipe drains it more slowly. "
            + (f"Live heap after GC during the in-process 200,000-item exports under JFR: "
               f"{', '.join(live)}. " if live else "")
            + "Bounded by 600 pages x tasks, so on a table large enough to fill the buffer it "
            "stops growing, but that bound (several GiB per task for items this small) is far "
            "above Spark's default 1 GiB"
            + (": hence the failure." if not all(x.get("ok", True) for x in runs) else ".")
            + " A heap sized for the buffer (ddbpipe's 4g locally, executor memory on EMR) "
            "stops the failure but not the growth: the RSS then climbs with the table toward "
            "that heap. What would make memory flat is reading without the connector's buffer "
            "(the last fix under *Reading the numbers*) or a buffer bounded in bytes; its "
            "capacity is a constant of the connector, not a setting.",
            "",
        )

    def throttled(self) -> None:
        thr = self.r["throttled"]
        s = self.r["settings"]
        self.add(
            "## 3. Throttled runs",
            "",
            "Through the capacity proxy (`tests/support/capacity_proxy.py`) in front of "
            "dynalite: it meters consumed units per table and second by DynamoDB's rules and "
            f"throttles to the provisioned capacity ({s['throttled_capacity']} RCU / "
            f"{s['throttled_capacity']} WCU, 1 s of burst). Items of ~{s['throttled_item_bytes']}"
            " bytes (1 WCU each) so a run lasts long enough: "
            f"{fmt(s['throttled_read_items'])} items exported at read percent "
            f"{s['throttled_percent']}, {fmt(s['throttled_write_items'])} items imported at "
            f"write percent {s['throttled_percent']}. The steady part drops the first and last "
            "2 s of traffic.",
            "",
        )
        rows: list[Sequence[Any]] = []
        for what in ("export", "import"):
            t = thr[what]
            rows.append((what, fmt(t["items"]), fmt(t["seconds"], 1), t["active_seconds"],
                         f"{t['target_units_per_s']:g}", f"{t['steady_median_units_per_s']:g}",
                         f"{t['steady_median_ratio']:.2f}", fmt(t["proxy_total_units"]),
                         fmt(t["ddbpipe_units"]), f"{t['ddbpipe_achieved_percent']:.3f}",
                         t["proxy_throttled"]))
        self.add(table(("run", "items", "seconds", "seconds with traffic", "target units/s",
                        "steady median units/s", "median / target", "units (proxy)",
                        "units (ddbpipe's report)", "achieved percent (ddbpipe)",
                        "throttled requests"), rows), "")
        for what in ("export", "import"):
            chart = thr[what].get("chart")
            if chart:
                self.add(f"![throttled {what}]({self.link(chart)})", "")
        e = thr["export"]
        active = [r["read_units"] for r in e["series"] if r["read_units"] > 0]
        first = sum(active[:5])
        if active and first > 5 * e["target_units_per_s"] * 1.2:
            self.add(
                f"The export's first 5 s of traffic consumed {fmt(first)} units, "
                f"{first / (5 * e['target_units_per_s']):.1f}x its target: the connector's rate "
                "limiter starts with a full bucket of 5 s of the task's budget "
                "(`RATE_CONTROLLER_WINDOW_SIZE_SEC = 5` in the connector) and spends it at "
                "once. On DynamoDB that burst is drawn from the table's own burst capacity (up "
                "to 300 s of unused units) and passes; the proxy keeps only 1 s of burst, so "
                f"it throttled {e['proxy_throttled']} requests, which the connector retried. "
                "The steady part is what the percent controls.",
                "")

    def fidelity(self) -> None:
        f = self.r["fidelity"]
        ours, theirs = f["ddbpipe"], f["dynamodump"]
        self.add(
            "## 4. Fidelity",
            "",
            f"A table of {f['items']} items of every type (`ddbpipe_dev.sample.sample_items`: "
            "S with Unicode and escapes, empty S, big and negative N, B with all 256 byte "
            "values, SS, NS, BS, BOOL, NULL, nested M and L with binary and empty members), "
            "copied by ddbpipe (export, then import into a new table) and by dynamodump (backup, "
            "then restore into a new table), both compared item by item with a consistent scan "
            "of the source (sets as sets, numbers as decimals, binary byte for byte):",
            "",
            table(("tool", "items back", "identical", "missing", "attributes that differ "
                   "(items)"), [
                ("ddbpipe", ours["restored_items"], ours["identical"], ours["missing"],
                 ", ".join(f"{k} ({v})" for k, v in ours["attributes_differing"].items())
                 or "none"),
                ("dynamodump", theirs["restored_items"], theirs["identical"], theirs["missing"],
                 ", ".join(f"{k} ({v})" for k, v in theirs["attributes_differing"].items())
                 or "none"),
            ]),
            "",
        )
        if f["dynamodump_examples"]:
            self.add("What dynamodump changed (first differing item per attribute):", "")
            self.add(table(("attribute", "source", "after dynamodump"),
                           [(k, f"`{v['source']}`", f"`{v['dynamodump']}`")
                            for k, v in f["dynamodump_examples"].items()]), "")

    def paper(self) -> None:
        p = self.r["paper"]
        rows: list[Sequence[Any]] = []
        for row in p["rows"]:
            value = row["value"]
            shown = fmt(value, 2) if isinstance(value, float) and value < 100 else fmt(value)
            rows.append((row["what"], row["formula"], f"{shown} {row['unit']}"))
        self.add(
            "## 5. On paper: 1 TB at 40,000 RCU",
            "",
            "The same export on a real provisioned table of 1 TB (10^12 bytes) at 40,000 RCU "
            "and the default read percent 0.5, planned by ddbpipe's rules (`ddbpipe.capacity`) "
            "on a cluster sized by the old rule of thumb (one m3.xlarge-class core node, today "
            "m5.xlarge / m6g.xlarge with 4 vCPUs, per 1,500 units of the read budget):",
            "",
            table(("what", "arithmetic", "value"), rows),
            "",
            "PAPER_PLACEHOLDER",
            "",
        )


def render(results: dict[str, Any], doc_path: Path, root: Path) -> str:
    from bench import analysis

    text = Doc(results, doc_path, root).render()
    return analysis.fill(text, results)
