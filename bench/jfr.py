"""Java Flight Recorder on the Spark JVM during one export: where the JVM's time goes.

``jcmd PID JFR.start`` / ``JFR.stop``, then ``jfr print --json`` of the execution samples
(threads running Java code) and native-method samples (threads inside native code: socket reads,
pipe writes). Samples are grouped by the first frame outside the JDK, which names the library that
spent (or waited for) the time.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

JDK_PREFIXES = ("java.", "javax.", "jdk.", "sun.", "com.sun.")
GROUPS = (
    ("software.amazon.awssdk.thirdparty.jackson", "AWS SDK v2: JSON parsing (jackson)"),
    ("software.amazon.awssdk.protocols", "AWS SDK v2: unmarshalling"),
    ("software.amazon.awssdk.http", "AWS SDK v2: HTTP client"),
    ("software.amazon.awssdk", "AWS SDK v2: other"),
    ("org.apache.http", "Apache HttpClient"),
    ("org.apache.hadoop.dynamodb", "connector"),
    ("com.google.gson", "gson (item -> export line)"),
    ("org.apache.spark.rdd.PipedRDD", "Spark pipe() (writing lines to the partition writer)"),
    ("org.apache.spark", "Spark"),
    ("org.apache.hadoop", "Hadoop"),
    ("scala.", "Scala library"),
)


def start(jvm_pid: int, name: str = "ddbpipe-bench") -> None:
    subprocess.run(["jcmd", str(jvm_pid), "JFR.start", f"name={name}", "settings=profile"],
                   check=True, capture_output=True)


def stop(jvm_pid: int, path: Path, name: str = "ddbpipe-bench") -> None:
    subprocess.run(["jcmd", str(jvm_pid), "JFR.stop", f"name={name}", f"filename={path}"],
                   check=True, capture_output=True)


def _frames(event: dict[str, Any]) -> list[str]:
    trace = (event.get("values") or {}).get("stackTrace") or {}
    out = []
    for frame in trace.get("frames") or []:
        method = frame.get("method") or {}
        cls = ((method.get("type") or {}).get("name") or "?").replace("/", ".")
        out.append(f"{cls}.{method.get('name', '?')}")
    return out


def _group(frames: list[str]) -> str:
    for frame in frames:
        if frame.startswith(JDK_PREFIXES):
            continue
        for prefix, label in GROUPS:
            if frame.startswith(prefix):
                return label
        return frame.rsplit(".", 2)[0]
    return "JDK only: " + (frames[0].rsplit(".", 1)[0] if frames else "?")


ROLES = (
    ("ReadWorker", "connector scan workers"),
    ("stdin writer", "pipe writer (item -> line -> partition writer)"),
    ("Executor task launch worker", "Spark task threads"),
    ("stdout reader", "pipe reader (commit messages)"),
)


def _role(thread: str) -> str:
    for prefix, label in ROLES:
        if thread.startswith(prefix):
            return label
    return "other threads"


def seconds(text: Any) -> float:
    """An ISO-8601 duration of ``jfr print --json`` (``PT0.1S``, ``PT1M2.5S``) in seconds."""
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", str(text or ""))
    if not match:
        return 0.0
    hours, minutes, secs = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs or 0)


def _events(path: Path, event: str) -> list[dict[str, Any]]:
    done = subprocess.run(["jfr", "print", "--json", "--events", event, str(path)],
                          check=True, capture_output=True, text=True)
    return list(json.loads(done.stdout).get("recording", {}).get("events", []))


def gc(path: Path) -> dict[str, Any]:
    """Collections, their summed pauses, the GC threads' CPU time, the largest heap left after a
    collection (live data) and how many connector read workers were started."""
    collections = _events(path, "jdk.GarbageCollection")
    cpu = _events(path, "jdk.GCCPUTime")
    after = [int(e["values"].get("heapUsed") or 0) for e in _events(path, "jdk.GCHeapSummary")
             if e["values"].get("when") == "After GC"]
    started = [((e["values"].get("thread") or {}).get("javaName") or "")
               for e in _events(path, "jdk.ThreadStart")]
    return {
        "collections": len(collections),
        "pause_seconds": sum(seconds(e["values"].get("sumOfPauses")) for e in collections),
        "cpu_seconds": sum(seconds(e["values"].get("userTime"))
                           + seconds(e["values"].get("systemTime")) for e in cpu),
        "heap_after_gc_max_mb": max(after, default=0) / 2**20,
        "read_workers_started": sum(1 for name in started if name.startswith("ReadWorker")),
    }


def summarize(path: Path) -> dict[str, Any]:
    """Per event type: samples by thread role, by (role, library) and the top methods of the
    export's own threads (roles other than "other threads")."""
    out: dict[str, Any] = {}
    for event in ("jdk.ExecutionSample", "jdk.NativeMethodSample"):
        events = _events(path, event)
        roles: Counter[str] = Counter()
        groups: Counter[str] = Counter()
        tops: Counter[str] = Counter()
        for ev in events:
            values = ev.get("values") or {}
            thread = (values.get("sampledThread") or {}).get("javaName") or ""
            frames = _frames(ev)
            if not frames:
                continue
            role = _role(thread)
            roles[role] += 1
            if role == "other threads":
                continue
            groups[f"{role}: {_group(frames)}"] += 1
            tops[frames[0]] += 1
        out[event] = {"samples": sum(roles.values()), "roles": roles.most_common(),
                      "groups": groups.most_common(14), "top_methods": tops.most_common(12)}
    out["gc"] = gc(path)
    return out
