"""``python -m bench.run [--items N] [--runs 3] [--quick]``: ddbpipe's benchmarks, side by side.

Starts its own dynalite and moto server on free 127.0.0.1 ports (stopped by PID at the end), then
in one run:

1. Throughput on a table of ``--items`` small items (loaded once, reused): the limit for export
   (threaded parallel Scan, boto3 and raw, 2 and 4 segments), ddbpipe export, connector-only
   probes, the limit for import (threaded BatchWriteItem), ddbpipe import (with and without the
   validation pass), dynamodump backup and restore, and the ``ddbpipe export`` / ``import``
   command lines; each of the ``--runs`` rounds measures all of them one after the other, so
   every ratio compares numbers taken within minutes of each other. Plus Spark start-up, a
   fidelity comparison on a table of every type, and where the time goes (CPU by process, Java
   Flight Recorder, per-stage timings and cProfile of the Python task paths).
2. Peak memory of ``ddbpipe export`` (a subprocess) at two table sizes.
3. Throttled export and import through the capacity proxy, with charts.
4. The arithmetic of a 1 TB export at 40,000 RCU.

Measures into ``bench/results/bench-<UTC stamp>.json`` (``bench.results`` defines its fields),
then renders ``docs/benchmarks.md`` and the charts under ``docs/img/`` from that file alone with
``bench.summarize`` (``--quick``: the document and charts under ``bench/results/`` only); ``python
-m bench.summarize FILE`` renders a saved file again. Run it from the checkout as ``python -m
bench.run`` (what ``make bench`` does): the throttled runs use the capacity proxy of
``tests/support/``, which is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Optional, Sequence, TypeVar

from bench import (
    cpu,
    dynamodump,
    fidelity,
    items,
    jfr,
    limits,
    memory,
    paper,
    profiling,
    stages,
    summarize,
)
from bench.numbers import short_repr
from bench.results import (
    CPU_JVM,
    JFR_RUNS,
    LIMIT_CONTENDERS,
    SEGMENTS_ONE_PER_TASK,
    SEGMENTS_PLANNED,
    Main,
    Round,
    RunResults,
)
from bench.results import save as save_results
from bench.stack import BUCKET, HIGH_CAPACITY, Stack, set_local_credentials

ROOT = Path(__file__).resolve().parent.parent

MAIN = "bench-main"
#: ddbpipe's export of the main table: the highest read percent and a capacity far above what
#: dynalite serves (~150 RCU/s here), so the connector's rate limiter never waits.
EXPORT_PERCENT = 1.5
EXPORT_READ_CAPACITY = 10_000
IMPORT_PERCENT = 1.5
IMPORT_WRITE_CAPACITY = HIGH_CAPACITY
THROTTLED_CAPACITY = 200
THROTTLED_PERCENT = 0.5
THROTTLED_ITEM_BYTES = 1000
#: Lines of one data file timed stage by stage (bench/stages.py).
STAGE_LINES = 50_000
#: Spark's driver heap for the extra memory run at the larger size: Spark's own default, below
#: what the connector's page buffer can hold (ddbpipe's local default is 4g).
LARGE_HEAP = "1g"
#: Lines of the data file one import task writes in the import-task experiments.
TASK_LINES = 30_000
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    items: int
    runs: int
    quick: bool
    memory_sizes: tuple[int, int]
    fidelity_items: int
    throttled_read_items: int
    throttled_write_items: int
    out_doc: Path
    img_dir: Path
    results_dir: Path
    command: str


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def measured(meter: cpu.CpuMeter, fn: Callable[[], T]) -> tuple[T, dict[str, float]]:
    """``fn()`` and the CPU seconds each process group spent meanwhile."""
    meter.begin()
    result = fn()
    return result, meter.end()


# --------------------------------------------------------------------------- machine notes

def _command_output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unavailable ({err})"
    return (done.stdout + done.stderr).strip()


def machine_notes() -> dict[str, Any]:
    import boto3
    import psutil
    import pyspark

    import ddbpipe.spark as ddbpipe_spark
    from ddbpipe.home import project_root
    from ddbpipe.spark import jars_dir

    dynalite_pkg = project_root() / ".cache/node/node_modules/dynalite/package.json"
    connector = sorted(p.name for p in jars_dir().glob("emr-dynamodb-hadoop-*.jar"))
    try:
        from importlib.metadata import version

        moto_version = version("moto")
    except Exception:
        moto_version = "?"
    return {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": _command_output(["nproc"]),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in
                           Path("/proc/cpuinfo").read_text().splitlines()
                           if line.startswith("model name")), platform.processor()),
        "kernel": platform.release(),
        "java": _command_output(["java", "-version"]).splitlines()[0],
        "python": platform.python_version(),
        "pyspark": pyspark.__version__,
        "boto3": boto3.__version__,
        "moto": moto_version,
        "node": _command_output(["node", "--version"]),
        "dynalite": json.loads(dynalite_pkg.read_text())["version"]
        if dynalite_pkg.exists() else "?",
        "connector": connector[0] if connector else "?",
        "dynamodump": dynamodump.VERSION,
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]),
        "git_changed": [line.split(maxsplit=1)[1] for line in _command_output(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "ddbpipe", "jobs"]
        ).splitlines() if len(line.split(maxsplit=1)) == 2],
        "driver_memory": os.environ.get("DDBPIPE_DRIVER_MEMORY")
        or ddbpipe_spark.default_driver_memory("local[*]"),
    }


# --------------------------------------------------------------------------- helpers

def load(stack: Stack, table: str, start: int, count: int,
         make: Callable[[int], items.Item] = items.bench_item) -> limits.Rate:
    """Write items ``start..start+count`` with the raw threaded writer."""
    batches = items.wire_batches(count, start, make=make)
    return limits.write_raw(stack.aws, table, batches, 4, what="load")


def spark_startup(runs: int) -> list[dict[str, float]]:
    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-m", "bench.spark_probe"], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def export_main(spark: Any, stack: Stack, prefix: str,
                aws: Optional[Any] = None, table: str = MAIN,
                percent: float = EXPORT_PERCENT,
                read_capacity: Optional[int] = EXPORT_READ_CAPACITY) -> tuple[Any, float]:
    """(TableResult, wall seconds of ``export.run``)."""
    from ddbpipe import export
    from ddbpipe.s3uri import S3Uri

    cfg = export.ExportConfig(tables=(table,), dest=S3Uri.parse(f"s3://{BUCKET}/{prefix}"),
                              aws=aws or stack.aws, read_percent=percent,
                              read_capacity=read_capacity)
    started = time.monotonic()
    result = export.run(spark, cfg)[0]
    return result, time.monotonic() - started


def import_into(spark: Any, stack: Stack, folder: Any, table: str, *, skip_validation: bool,
                aws: Optional[Any] = None, percent: float = IMPORT_PERCENT,
                write_capacity: Optional[int] = IMPORT_WRITE_CAPACITY,
                create: bool = True) -> tuple[Any, float]:
    """(ImportResult, wall seconds of ``importer.run``); the table is made by the import from
    the export's sidecar, as a user restoring into a new table would."""
    from ddbpipe import importer

    cfg = importer.ImportConfig(source=folder, table=table, aws=aws or stack.aws,
                                write_percent=percent, write_capacity=write_capacity,
                                create_table=create, skip_validation=skip_validation)
    started = time.monotonic()
    result = importer.run(spark, cfg)
    return result, time.monotonic() - started


def export_dict(result: Any, wall: float) -> dict[str, Any]:
    plan = result.plan
    return {"items": result.items, "files": len(result.files), "bytes": result.bytes,
            "seconds": result.seconds, "scan_seconds": result.scan_seconds, "wall": wall,
            "items_per_s_scan": result.items / result.scan_seconds,
            "items_per_s_wall": result.items / wall,
            "mb_per_s_scan": result.bytes / 1e6 / result.scan_seconds,
            "read_units": result.read_units, "achieved_percent": result.achieved_percent,
            "segments": plan.segments if plan else None, "tasks": plan.tasks if plan else None,
            "folder": str(result.folder)}


def import_dict(result: Any, wall: float) -> dict[str, Any]:
    return {"written": result.written, "read": result.read, "seconds": result.seconds,
            "write_seconds": result.write_seconds, "wall": wall,
            "items_per_s_write": result.written / result.write_seconds,
            "items_per_s_wall": result.written / wall, "consumed": result.consumed,
            "throttled": result.throttled, "tasks": result.plan.tasks,
            "achieved_percent": result.achieved_percent}


# --------------------------------------------------------------------------- phases

def phase_fidelity(spark: Any, stack: Stack, dump: dynamodump.Dynamodump, work: Path,
                   count: int) -> dict[str, Any]:
    """A table of every type through ddbpipe (export + import) and through dynamodump."""
    from ddbpipe_dev import sample

    src, via_ddbpipe, via_dump = "bench-fid", "bench-fid-ddbpipe", "bench-fid-dynamodump"
    stack.create_table(src)
    sample.put_items(stack.ddb, src, sample.sample_items(count))
    source = fidelity.scan_table(stack.ddb, src)

    stack.drop_table(via_ddbpipe)
    exported, export_wall = export_main(spark, stack, "fidelity", table=src, read_capacity=None,
                                        percent=0.5)
    imported, import_wall = import_into(spark, stack, exported.folder, via_ddbpipe,
                                        skip_validation=False, percent=0.5,
                                        write_capacity=None)
    ours = fidelity.compare(source, fidelity.scan_table(stack.ddb, via_ddbpipe))

    folder = work / "dump-fidelity"
    shutil.rmtree(folder, ignore_errors=True)
    backup_s = dump.backup(src, folder)
    restore_s = dump.restore(src, via_dump, folder)
    restored = fidelity.scan_table(stack.ddb, via_dump)
    theirs = fidelity.compare(source, restored)
    examples = {}
    for attribute in list(theirs["attributes_differing"])[:6]:
        before, after = fidelity.example_difference(source, restored, attribute)
        examples[attribute] = {"source": short_repr(before),
                               "dynamodump": short_repr(after)}
    for name in (src, via_ddbpipe, via_dump):
        stack.drop_table(name)
    shutil.rmtree(folder, ignore_errors=True)
    return {"items": count, "ddbpipe": ours, "dynamodump": theirs,
            "dynamodump_examples": examples,
            "ddbpipe_seconds": {"export": export_wall, "import": import_wall,
                                "export_items": exported.items, "imported": imported.written},
            "dynamodump_seconds": {"backup": backup_s, "restore": restore_s}}


def export_limits(stack: Stack, meter: cpu.CpuMeter,
                  contenders: list[tuple[str, int]]) -> list[dict[str, Any]]:
    out = []
    for kind, threads in contenders:
        scan = limits.scan_raw if kind == "raw" else limits.scan_boto3
        rate, used = measured(meter, partial(scan, stack.aws, MAIN, threads))
        log(f"  limit scan {kind} x{threads}: {rate.items} items, {rate.items_per_s:,.0f}/s, "
            f"{rate.mb_per_s:.1f} MB/s")
        out.append({**rate.as_dict(), "cpu": used})
    return out


def import_limits(stack: Stack, meter: cpu.CpuMeter, contenders: list[tuple[str, int]],
                  wire: list[str], boto: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    out = []
    table = "bench-limit-write"
    for kind, threads in contenders:
        stack.create_table(table)
        write: Callable[[], limits.Rate] = (
            partial(limits.write_raw, stack.aws, table, wire, threads) if kind == "raw"
            else partial(limits.write_boto3, stack.aws, table, boto, threads))
        rate, used = measured(meter, write)
        log(f"  limit write {kind} x{threads}: {rate.items} items, {rate.items_per_s:,.0f}/s")
        out.append({**rate.as_dict(), "cpu": used})
        stack.drop_table(table)
    return out


def cli_cold(stack: Stack, work: Path, label: str) -> dict[str, Any]:
    """``ddbpipe export`` then ``ddbpipe import --create-table`` of the main table as command
    lines, as a user runs them: a fresh process and JVM each, end to end (and sampled for
    memory)."""
    exe = str(Path(sys.executable).parent / "ddbpipe")
    prefix = f"cli/{label}"
    export_cmd = [exe, "export", "--table", MAIN, "--to", f"s3://{BUCKET}/{prefix}",
                  "--read-percent", str(EXPORT_PERCENT), "--read-capacity",
                  str(EXPORT_READ_CAPACITY)]
    exported = memory.run_sampled(export_cmd, stack.env(), work / "cli.log", cwd=work)
    if exported.returncode != 0:
        raise RuntimeError(f"{shlex.join(export_cmd)} failed; see {work / 'cli.log'}")
    keys = [o["Key"] for page in stack.s3.get_paginator("list_objects_v2").paginate(
        Bucket=BUCKET, Prefix=prefix + "/") for o in page.get("Contents", [])]
    folder = next(k.rsplit("/", 1)[0] for k in keys if k.endswith("/_SUCCESS"))
    target = "bench-cli-import"
    stack.drop_table(target)
    import_cmd = [exe, "import", "--from", f"s3://{BUCKET}/{folder}", "--table", target,
                  "--write-percent", str(IMPORT_PERCENT), "--write-capacity",
                  str(IMPORT_WRITE_CAPACITY), "--create-table"]
    imported = memory.run_sampled(import_cmd, stack.env(), work / "cli.log", cwd=work)
    if imported.returncode != 0:
        raise RuntimeError(f"{shlex.join(import_cmd)} failed; see {work / 'cli.log'}")
    restored = stack.count(target)
    stack.drop_table(target)
    stack.delete_prefix(prefix + "/")
    return {"export_seconds": exported.seconds, "import_seconds": imported.seconds,
            "export_peak_mb": exported.peak_total / 2**20,
            "import_peak_mb": imported.peak_total / 2**20, "imported_items": restored}


def phase_main(spark: Any, stack: Stack, dump: dynamodump.Dynamodump, work: Path,
               settings: Settings) -> Main:
    n = settings.items
    log(f"pre-generating {n} items for the write limits")
    wire = items.wire_batches(n)
    boto = items.boto3_batches(n)
    log("warm-up: one untimed export of the main table (JIT of the read path)")
    warm, warm_wall = export_main(spark, stack, "warmup")
    stack.delete_prefix("warmup/")
    meter = cpu.CpuMeter(stack.dynalite.pid, stack.moto.pid, cpu.find_jvm())
    all_contenders = list(LIMIT_CONTENDERS)
    runs: list[Round] = []
    previous_folder: Optional[str] = None
    for r in range(settings.runs):
        log(f"round {r + 1}/{settings.runs}")
        rnd: Round = {"round": r + 1}
        rnd["export_limit"] = export_limits(stack, meter, all_contenders)

        (result, wall), used = measured(
            meter, partial(export_main, spark, stack, f"main/round{r + 1}"))
        rnd["export"] = {**export_dict(result, wall), "cpu": used}
        log(f"  ddbpipe export: {result.items} items, scan {result.scan_seconds:.1f} s "
            f"({rnd['export']['items_per_s_scan']:,.0f}/s), export.run {wall:.1f} s")
        if result.items != n:
            raise RuntimeError(f"export wrote {result.items} items, the table holds {n}")
        if previous_folder:
            stack.delete_prefix(previous_folder.split(f"{BUCKET}/", 1)[1])
        previous_folder = str(result.folder)

        probes: tuple[tuple[str, Literal["connector_count", "connector_pipe"]], ...] = (
            ("count", "connector_count"), ("pipe", "connector_pipe"))
        for mode, probe in probes:
            (got, secs), used = measured(meter, partial(
                profiling.connector_read, spark, stack.aws, MAIN, EXPORT_PERCENT,
                EXPORT_READ_CAPACITY, mode))
            rnd[probe] = {"items": got, "seconds": secs, "items_per_s": got / secs,
                          "cpu": used}
            log(f"  connector -> {mode}: {got} items in {secs:.1f} s ({got / secs:,.0f}/s)")

        rnd["import_limit"] = import_limits(stack, meter, all_contenders, wire, boto)

        for skip in (False, True):
            target = "bench-import"
            stack.drop_table(target)
            (imported, iwall), used = measured(meter, partial(
                import_into, spark, stack, result.folder, target, skip_validation=skip))
            key: Literal["import", "import_skip_validation"] = \
                "import_skip_validation" if skip else "import"
            rnd[key] = {**import_dict(imported, iwall), "cpu": used}
            log(f"  ddbpipe import (skip_validation={skip}): {imported.written} items, writes "
                f"{imported.write_seconds:.1f} s ({rnd[key]['items_per_s_write']:,.0f}/s), "
                f"importer.run {iwall:.1f} s")
            stack.drop_table(target)

        folder = work / "dump-main"
        shutil.rmtree(folder, ignore_errors=True)
        backup_s, backup_cpu = measured(meter, partial(dump.backup, MAIN, folder))
        dump_size = dynamodump.dump_bytes(folder, MAIN)
        restore_s, restore_cpu = measured(
            meter, partial(dump.restore, MAIN, "bench-dynamodump", folder))
        restored = stack.count("bench-dynamodump")
        stack.drop_table("bench-dynamodump")
        shutil.rmtree(folder, ignore_errors=True)
        rnd["dynamodump"] = {"backup_seconds": backup_s, "restore_seconds": restore_s,
                             "restored_items": restored, "dump_bytes": dump_size,
                             "backup_cpu": backup_cpu, "restore_cpu": restore_cpu}
        log(f"  dynamodump: backup {backup_s:.1f} s, restore {restore_s:.1f} s "
            f"({restored} items back)")
        rnd["cli"] = cli_cold(stack, work, f"round{r + 1}")
        log(f"  ddbpipe command lines (cold): export {rnd['cli']['export_seconds']:.1f} s, "
            f"import {rnd['cli']['import_seconds']:.1f} s "
            f"({rnd['cli']['imported_items']} items back)")
        runs.append(rnd)
    return {"items": n, "rounds": runs, "last_export_folder": previous_folder,
            "warmup_export": export_dict(warm, warm_wall)}


@contextlib.contextmanager
def _without_parameter_validation(module: Any) -> Iterator[None]:
    """An experiment, in this process only: ``module``'s DynamoDB clients skip botocore's
    parameter validation (``Config(parameter_validation=False)``)."""
    original = module.client

    def patched(cfg: Any, service: str, **config: Any) -> Any:
        if service == "dynamodb":
            config.setdefault("parameter_validation", False)
        return original(cfg, service, **config)

    module.client = patched
    try:
        yield
    finally:
        module.client = original


def phase_profiles(spark: Any, stack: Stack, folder: str, work: Path,
                   consumed_rcu_s: float) -> dict[str, Any]:
    """Where the time goes: stage timings and cProfile of the Python task paths on one real
    data file, and Java Flight Recorder on the JVM during one more export."""
    import io

    from ddbpipe import capacity, importer
    from ddbpipe.aws import client
    from ddbpipe.export import partwriter
    from ddbpipe.importer import DataFile, detect
    from ddbpipe.s3uri import S3Uri
    from ddbpipe.tables import TableInfo

    source = detect(stack.s3, S3Uri.parse(folder))
    data_file = max(source.files, key=lambda f: f.size)
    uri = S3Uri.parse(data_file.url)
    body = stack.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    lines = body.count(b"\n")
    out: dict[str, Any] = {"data_file": {"url": data_file.url, "bytes": data_file.size,
                                         "lines": lines}}

    log("  stage timings")
    head = b"\n".join(body.split(b"\n")[:STAGE_LINES])
    out["stages_us_per_item"] = stages.measure(head, stack.aws)

    log("  cProfile: partition writer")
    cfg = partwriter.WriterConfig(folder=f"s3://{BUCKET}/profile/partwriter",
                                  region=stack.aws.region, endpoints=dict(stack.aws.endpoints))
    s3 = client(stack.aws, "s3")
    written, seconds, main_stats, _ = profiling.profiled(
        lambda: partwriter.write_partition(io.BytesIO(body), cfg, s3, io.StringIO()))
    out["partwriter"] = {
        "items": written, "bytes": len(body), "seconds": seconds,
        "items_per_s": written / seconds,
        "upload_seconds": profiling.cumulative(main_stats, "partwriter.py", "close")
        + profiling.cumulative(main_stats, "partwriter.py", "_flush_part"),
        "size_sampling_seconds": profiling.cumulative(main_stats, "formats/datapipeline.py",
                                                      "line_to_item")
        + profiling.cumulative(main_stats, "formats/items.py", "item_size"),
        "top": profiling.top(main_stats),
    }
    stack.delete_prefix("profile/")

    table = "bench-profile-import"
    # One import task on a slice of the data file: unprofiled with and without botocore's
    # parameter validation (alternating, 3 times each), then once under cProfile.
    slice_lines = body.split(b"\n")[:TASK_LINES]
    slice_key = "profile/import-slice"
    stack.s3.put_object(Bucket=BUCKET, Key=slice_key, Body=b"\n".join(slice_lines) + b"\n")
    slice_file = DataFile(f"s3://{BUCKET}/{slice_key}", sum(len(x) + 1 for x in slice_lines))
    plain: list[float] = []
    lean: list[float] = []
    for variant in ("plain", "no-validation") * 3 + ("profiled",):
        stack.create_table(table)
        info = stack.ddb.describe_table(TableName=table)["Table"]
        task = importer.tasks.TaskConfig(stack.aws, table, source.line_format,
                                   tuple(dict(k) for k in info["KeySchema"]),
                                   tuple(dict(a) for a in info["AttributeDefinitions"]),
                                   rate=1e9, threads=4)
        # importer.tasks.write takes (rate, files) pairs: this task's write budget and its files.
        one_task = partial(lambda t: list(importer.tasks.write(t, iter([(1e9, [slice_file])]))),
                           task)
        if variant != "profiled":
            with (_without_parameter_validation(importer.tasks) if variant == "no-validation"
                  else contextlib.nullcontext()):
                started = time.monotonic()
                stats_out = one_task()
                seconds = time.monotonic() - started
            rate = stats_out[-1].stats.written / seconds
            (plain if variant == "plain" else lean).append(rate)
            log(f"  one import task ({variant}): {rate:,.0f} items/s")
            stack.drop_table(table)
            continue
        log("  cProfile: one import task")
        stats_out, seconds, main_stats, thread_stats = profiling.profiled(one_task)
        out["import_task"] = {
            "items": stats_out[-1].stats.written, "seconds": seconds,
            "items_per_s": stats_out[-1].stats.written / seconds,
            "main": {
                "parse_seconds": profiling.cumulative(main_stats, "formats/datapipeline.py",
                                                      "line_to_item"),
                "item_size_seconds": profiling.cumulative(main_stats, "formats/items.py",
                                                          "item_size"),
                "read_items_seconds": profiling.cumulative(main_stats, "sources.py",
                                                           "read_items"),
                "wait_for_slot_seconds": profiling.cumulative(main_stats, "threading.py",
                                                              "acquire"),
                "top": profiling.top(main_stats),
            },
            "threads": {
                "batch_write_seconds": profiling.cumulative(thread_stats, "writer.py",
                                                            "_send"),
                "validate_seconds": profiling.cumulative(thread_stats, "botocore/validate.py",
                                                         "(validate)"),
                "serialize_seconds": profiling.cumulative(
                    thread_stats, "botocore/serialize.py", "serialize_to_request"),
                "parse_response_seconds": profiling.cumulative(
                    thread_stats, "botocore/parsers.py", "(parse)"),
                "http_seconds": profiling.cumulative(thread_stats, "botocore/endpoint.py",
                                                     "_send"),
                "token_bucket_seconds": profiling.cumulative(thread_stats, "throttle.py",
                                                             "take"),
                "top": profiling.top(thread_stats) if thread_stats else [],
            },
        }
        stack.drop_table(table)
    stack.drop_table(table)
    out["import_task_plain"] = {"items": len(slice_lines), "runs_items_per_s": plain,
                                "items_per_s": median(plain)}
    out["import_task_no_validation"] = {"items": len(slice_lines), "runs_items_per_s": lean,
                                        "items_per_s": median(lean)}
    out["import_task_ratio_no_validation"] = median([b / a for a, b in zip(plain, lean)])

    # The connector's read alone (count), with the plan's segments and with one segment per
    # task, at the same read capacity: what a segment costs the JVM.
    meter = cpu.CpuMeter(stack.dynalite.pid, stack.moto.pid, cpu.find_jvm())
    info = stack.ddb.describe_table(TableName=MAIN)["Table"]
    planned = capacity.plan_read(TableInfo.from_description(info, stack.aws.region),
                                 EXPORT_PERCENT, int(spark.sparkContext.defaultParallelism),
                                 EXPORT_READ_CAPACITY)
    seg_runs: dict[str, list[dict[str, float]]] = {SEGMENTS_PLANNED: [], SEGMENTS_ONE_PER_TASK: []}
    for label in (SEGMENTS_PLANNED, SEGMENTS_ONE_PER_TASK) * 3:
        override = None if label == SEGMENTS_PLANNED else planned.tasks
        (got, secs), used = measured(meter, partial(
            profiling.connector_read, spark, stack.aws, MAIN, EXPORT_PERCENT,
            EXPORT_READ_CAPACITY, "count", override))
        seg_runs[label].append({"items_per_s": got / secs,
                                "jvm_us_per_item": used[CPU_JVM] / got * 1e6})
        log(f"  connector count, {label} segments: {got / secs:,.0f} items/s, "
            f"{used[CPU_JVM] / got * 1e6:.0f} µs of JVM per item")
    out["segments_experiment"] = {
        "segments": {SEGMENTS_PLANNED: planned.segments, SEGMENTS_ONE_PER_TASK: planned.tasks},
        "runs": seg_runs,
        "items_per_s": {k: median([x["items_per_s"] for x in v]) for k, v in seg_runs.items()},
        "jvm_us_per_item": {k: median([x["jvm_us_per_item"] for x in v])
                            for k, v in seg_runs.items()},
    }

    jvm_pid = cpu.find_jvm()
    if jvm_pid:
        # The same export twice under JFR: with the benchmark's read capacity (a target far
        # above what dynalite serves, so the connector keeps adding read workers) and with one
        # whose budget is about what the table served in the rounds.
        matched = max(134, math.ceil(1.2 * consumed_rcu_s / EXPORT_PERCENT))
        for key, read_capacity in zip(JFR_RUNS, (EXPORT_READ_CAPACITY, matched)):
            log(f"  Java Flight Recorder during one more export (--read-capacity "
                f"{read_capacity})")
            recording = work / f"export-{read_capacity}.jfr"
            try:
                jfr.start(jvm_pid)
                meter = cpu.CpuMeter(stack.dynalite.pid, stack.moto.pid, jvm_pid)
                (result, wall), used = measured(meter, partial(
                    export_main, spark, stack, f"profile/{key}", read_capacity=read_capacity))
                jfr.stop(jvm_pid, recording)
                out[key] = {"read_capacity": read_capacity,
                            "export": export_dict(result, wall), "cpu": used,
                            **jfr.summarize(recording)}
                gc = out[key]["gc"]
                log(f"    {result.items / result.scan_seconds:,.0f} items/s; GC "
                    f"{gc['cpu_seconds']:.1f} CPU s, live heap after GC up to "
                    f"{gc['heap_after_gc_max_mb']:.0f} MB, {gc['read_workers_started']} read "
                    "workers")
            except (subprocess.CalledProcessError, OSError, ValueError) as err:
                out[key] = {"error": str(err)}
            stack.delete_prefix("profile/")
    return out


def phase_memory(stack: Stack, size: int, work: Path,
                 heap: Optional[str] = None) -> dict[str, Any]:
    """``ddbpipe export`` of the main table (``size`` items) as a subprocess, sampled; with
    ``heap``, Spark's driver JVM gets that heap (``--driver-memory``)."""
    exe = Path(sys.executable).parent / "ddbpipe"
    prefix = f"memory/{size}{'-' + heap if heap else ''}"
    cmd = [str(exe), "export", "--table", MAIN, "--to", f"s3://{BUCKET}/{prefix}",
           "--read-percent", str(EXPORT_PERCENT), "--read-capacity",
           str(EXPORT_READ_CAPACITY)]
    env = stack.env()
    if heap:
        env["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {heap} pyspark-shell"
    log_path = work / f"memory-export-{size}{'-' + heap if heap else ''}.log"
    run = memory.run_sampled(cmd, env, log_path, cwd=work, timeout=300 if heap else 600)
    stack.delete_prefix(prefix + "/")
    out = run.as_dict()
    out["items"] = size
    out["driver_memory"] = heap or "default"
    out["ok"] = run.returncode == 0
    if not out["ok"]:  # a finding, not a crash of the benchmark: keep what killed it
        text = log_path.read_text(errors="replace")
        out["error"] = ("timed out" if run.timed_out else next(
            (line.strip() for line in text.splitlines() if "OutOfMemoryError" in line),
            text.strip().splitlines()[-1] if text.strip() else f"exit {run.returncode}"))
        log(f"  memory run FAILED: {out['error']}")
    log(f"  memory at {size} items (heap {out['driver_memory']}): peak "
        f"{out['peak_total_mb']:.0f} MB ("
        f"{', '.join(f'{k} {v:.0f}' for k, v in sorted(out['peak_by_kind_mb'].items()))}), "
        f"{run.seconds:.1f} s")
    return out


def phase_throttled(spark: Any, stack: Stack, settings: Settings) -> dict[str, Any]:
    from bench import throttled
    from ddbpipe_dev.localstack import free_port
    from tests.support.capacity_proxy import CapacityProxy, ProxyConfig

    make = partial(items.padded_item, size=THROTTLED_ITEM_BYTES)
    read_table, write_src, write_table = "bench-thr-read", "bench-thr-wsrc", "bench-thr-write"
    cap = THROTTLED_CAPACITY
    stack.create_table(read_table, cap, cap)
    load(stack, read_table, 0, settings.throttled_read_items, make)
    stack.create_table(write_src, cap, cap)
    load(stack, write_src, 0, settings.throttled_write_items, make)
    source, _ = export_main(spark, stack, "throttled-src", table=write_src)
    stack.create_table(write_table, cap, cap)

    out: dict[str, Any] = {}
    config = ProxyConfig(burst_seconds=1.0)
    with CapacityProxy(stack.dynalite.url, port=free_port(), config=config) as proxy:
        aws = stack.with_dynamodb(proxy.url)
        throttled.wait_quiet()
        started = time.monotonic()
        result, _ = export_main(spark, stack, "throttled", aws=aws, table=read_table,
                                percent=THROTTLED_PERCENT, read_capacity=None)
        run = throttled.ThrottledRun("export", read_table, cap, THROTTLED_PERCENT, result.items,
                                     time.monotonic() - started, result.read_units,
                                     result.achieved_percent,
                                     proxy.timeseries(table=read_table))
        out["export"] = run
        throttled.wait_quiet()
        started = time.monotonic()
        imported, _ = import_into(spark, stack, source.folder, write_table,
                                  skip_validation=False, aws=aws, percent=THROTTLED_PERCENT,
                                  write_capacity=None, create=False)
        out["import"] = throttled.ThrottledRun("import", write_table, cap, THROTTLED_PERCENT,
                                               imported.written, time.monotonic() - started,
                                               imported.consumed, imported.achieved_percent,
                                               proxy.timeseries(table=write_table))
    for what, run in out.items():
        unit = "RCU" if what == "export" else "WCU"
        log(f"  throttled {what}: steady median {run.steady_median:g} {unit}/s vs target "
            f"{run.target:g} over {len(run.steady())} s; {run.throttled} throttled")
    for name in (read_table, write_src, write_table):
        stack.drop_table(name)
    return {k: v.as_dict() for k, v in out.items()}


# --------------------------------------------------------------------------- main

def parse_args(argv: Optional[Sequence[str]]) -> Settings:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, help="items in the main table (default 200,000; "
                                                  "--quick: 20,000)")
    parser.add_argument("--runs", type=int, help="rounds of the side-by-side measurements "
                                                 "(default 3; --quick: 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: small tables, results under bench/results/ only")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    results = ROOT / "bench" / "results"
    python = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(str(ROOT)) \
        else sys.executable
    command = f"{python} -m bench.run" + (" " + shlex.join(argv) if argv else "")
    settings = Settings(
        items=args.items or (20_000 if quick else 200_000),
        runs=args.runs or (1 if quick else 3),
        quick=quick,
        memory_sizes=(20_000, 40_000) if quick else (100_000, 400_000),
        fidelity_items=100 if quick else 500,
        throttled_read_items=6_000 if quick else 24_000,
        throttled_write_items=1_000 if quick else 3_000,
        out_doc=results / "benchmarks-quick.md" if quick else ROOT / "docs" / "benchmarks.md",
        img_dir=results / "img" if quick else ROOT / "docs" / "img",
        results_dir=results,
        command=command,
    )
    if settings.items < 1 or settings.runs < 1:
        parser.error("--items and --runs must be >= 1")
    return settings


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = parse_args(argv)
    try:
        import matplotlib  # noqa: F401
        import psutil  # noqa: F401
    except ImportError:
        print("bench needs the bench extra: .venv/bin/pip install -e '.[bench]'", file=sys.stderr)
        return 2
    set_local_credentials()
    os.chdir(ROOT)
    started = time.monotonic()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    work = ROOT / ".cache" / "bench" / f"run-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    settings.results_dir.mkdir(parents=True, exist_ok=True)
    results: RunResults = {"command": settings.command, "settings": {
        "items": settings.items, "runs": settings.runs, "quick": settings.quick,
        "memory_sizes": settings.memory_sizes, "fidelity_items": settings.fidelity_items,
        "export_percent": EXPORT_PERCENT, "export_read_capacity": EXPORT_READ_CAPACITY,
        "import_percent": IMPORT_PERCENT, "import_write_capacity": IMPORT_WRITE_CAPACITY,
        "throttled_capacity": THROTTLED_CAPACITY, "throttled_percent": THROTTLED_PERCENT,
        "throttled_item_bytes": THROTTLED_ITEM_BYTES,
        "throttled_read_items": settings.throttled_read_items,
        "throttled_write_items": settings.throttled_write_items}}
    results["machine"] = machine_notes()
    log(f"bench: {settings.command}; work folder {work}")
    exe = dynamodump.ensure_installed(ROOT)
    stack = Stack.start(work)
    log(f"dynalite {stack.dynalite.url} (pid {stack.dynalite.pid}), moto {stack.moto.url} "
        f"(pid {stack.moto.pid})")
    spark = None
    json_path = settings.results_dir / f"bench-{stamp}{'-quick' if settings.quick else ''}.json"
    try:
        dump = dynamodump.Dynamodump(exe, stack.dynalite, stack.aws.region,
                                     work / "dynamodump.log")
        small, large = settings.memory_sizes
        checkpoints = sorted({small, settings.items, large})
        stack.create_table(MAIN)
        loaded = 0
        results["load"] = []
        results["memory"] = []
        for size in checkpoints:
            if size > loaded:
                rate = load(stack, MAIN, loaded, size - loaded)
                results["load"].append(rate.as_dict())
                log(f"loaded {MAIN} to {size} items ({rate.items_per_s:,.0f} items/s)")
                loaded = size
            if size in (small, large):
                results["memory"].append(phase_memory(stack, size, work))
            if size == large:
                results["memory"].append(phase_memory(stack, size, work, LARGE_HEAP))
            if size == settings.items:
                log("Spark start-up in fresh processes")
                results["spark_startup"] = spark_startup(settings.runs)
                from ddbpipe.spark import local_session

                t0 = time.monotonic()
                spark = local_session(stack.aws, "ddbpipe-bench")
                t1 = time.monotonic()
                spark.sparkContext.parallelize(range(1000), 2).count()
                results["spark_startup_in_process"] = {"session": t1 - t0,
                                                       "first_job": time.monotonic() - t1}
                results["spark_parallelism"] = int(spark.sparkContext.defaultParallelism)
                log("fidelity (also warms up the export and import paths)")
                results["fidelity"] = phase_fidelity(spark, stack, dump, work,
                                                     settings.fidelity_items)
                results["main"] = phase_main(spark, stack, dump, work, settings)
                log("profiles of the Python task paths")
                consumed = median([x["export"]["read_units"] / x["export"]["scan_seconds"]
                                   for x in results["main"]["rounds"]])
                last_folder = results["main"]["last_export_folder"]
                assert last_folder, "every round exports"
                results["profiles"] = phase_profiles(spark, stack, last_folder, work, consumed)
                stack.delete_prefix("main/")
        assert spark is not None
        log("throttled runs through the capacity proxy")
        results["throttled"] = phase_throttled(spark, stack, settings)
    finally:
        if spark is not None:
            spark.stop()
        stack.stop()
        results["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        results["total_seconds"] = time.monotonic() - started
        save_results(json_path, "run", results)
        log(f"raw results: {json_path}")
    results["paper"] = paper.terabyte_export(results)
    save_results(json_path, "run", results)
    # The document and charts from the saved file alone; the sections of `python -m
    # bench.resume` and `python -m bench.memory_bound` stay as the document has them.
    summarize.summarize([json_path], settings.out_doc, settings.img_dir)
    log(f"wrote {settings.out_doc} in {results['total_seconds'] / 60:.1f} min "
        f"(again from the results: python -m bench.summarize {json_path})")
    shutil.rmtree(work / "dump-main", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
