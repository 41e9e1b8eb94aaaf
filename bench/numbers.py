"""Numbers derived from a ``bench.run`` results file and the formatting helpers of
docs/benchmarks.md, shared by ``bench.report`` (the tables) and ``bench.analysis`` (the prose)."""

from __future__ import annotations

import statistics
from typing import Any, Iterable, Mapping, Sequence

from bench.results import RunResults

TARGET_RATIO = 0.8
#: Issue 12's bar: import / raw writer, export / connector-plus-pipe probe.
ISSUE_RATIO = 0.9


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


def _per_round_best(rounds: Sequence[Mapping[str, Any]], key: str, kind: str) -> list[float]:
    """Per round, the faster of the 2- and 4-thread runs of ``kind``."""
    return [max((x["items_per_s"] for x in rnd[key] if x["kind"] == kind), default=0.0)
            for rnd in rounds]


def _best_threads(rounds: Sequence[Mapping[str, Any]], key: str, kind: str) -> str:
    wins = [max((x for x in rnd[key] if x["kind"] == kind),
                key=lambda x: x["items_per_s"])["threads"] for rnd in rounds]
    return "/".join(str(w) for w in wins)


def derived(r: RunResults) -> dict[str, Any]:
    """The medians and ratios the summary, the sections and the analysis all quote."""
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
    d["export_ratio_pipe"] = med(x["export"]["items_per_s_scan"]
                                 / x["connector_pipe"]["items_per_s"] for x in rounds)
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
