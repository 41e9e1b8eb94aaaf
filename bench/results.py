"""The results files of the benchmarks: their schema, defined once, and how they are saved and
read back.

Measuring (``bench.run``, ``bench.resume``, ``bench.memory_bound``, ``bench.export_line``,
``bench.export_writer``) writes one JSON file per run under ``bench/results/``;
``bench.summarize`` renders docs/benchmarks.md and the charts from such files alone. Both sides
name the top-level fields through the TypedDicts below and the labels shared between modules
(stage names, CPU groups, experiment names) through the constants here, so a field renamed on
one side is a mypy error on the other, not a KeyError at render time.

Every file carries ``schema`` (``SCHEMA_VERSION``) and ``kind``; :func:`load` refuses a file of
another version or kind with one line naming the file and what to do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal, Mapping, TypedDict, Union, cast

#: Bumped whenever a field the summarizer reads changes meaning or name.
SCHEMA_VERSION: Final = 1

RESULTS_DIR: Final = Path(__file__).resolve().parent / "results"

Kind = Literal["run", "resume", "memory-bound", "export-line", "export-writer"]
KINDS: Final[tuple[Kind, ...]] = ("run", "resume", "memory-bound", "export-line",
                                  "export-writer")
#: The command that measures each kind of results file again.
MEASURED_BY: Final[dict[Kind, str]] = {"run": "python -m bench.run",
                                       "resume": "python -m bench.resume",
                                       "memory-bound": "python -m bench.memory_bound",
                                       "export-line": "python -m bench.export_line",
                                       "export-writer": "python -m bench.export_writer"}

# --------------------------------------------------------------------------- shared labels

#: CPU seconds are grouped by process (bench/cpu.py); the renderers look these groups up.
CPU_DYNALITE: Final = "dynalite"
CPU_JVM: Final = "jvm"
CPU_JVM_CHILDREN: Final = "jvm children"
CPU_BENCH: Final = "bench"
CPU_MOTO: Final = "moto"
CPU_WAITED: Final = "waited subprocesses"
CPU_OTHERS: Final = "others"
CPU_WALL: Final = "wall"

#: Processes of a sampled process tree (bench/memory.py), each with its own peak RSS.
MEM_DRIVER: Final = "driver"
MEM_JVM: Final = "jvm"
MEM_EXECUTOR: Final = "executor"
MEM_PARTWRITER: Final = "partwriter"
MEM_PYTHON_WORKER: Final = "python_worker"
MEM_OTHER: Final = "other"

#: Python stages timed alone (bench/stages.py), microseconds per item.
STAGE_ITEMS: Final = "items"
STAGE_SPLIT: Final = "split lines"
STAGE_LINE_TO_ITEM: Final = "codec.line_to_item"
STAGE_ITEM_SIZE: Final = "codec.item_size"
STAGE_KEY_OF: Final = "codec.key_of"
STAGE_VALIDATE: Final = "botocore validate (BatchWriteItem)"
STAGE_SERIALIZE: Final = "botocore serialize (BatchWriteItem)"
STAGE_SIGN: Final = "SigV4 signing (per item, 25 a request)"
STAGE_LEAN_WIRE: Final = "lean: line -> wire JSON item"
STAGE_LEAN_DUMPS: Final = "lean: request body json.dumps"

#: The segment-count experiment (bench/run.py phase_profiles).
SEGMENTS_PLANNED: Final = "planned"
SEGMENTS_ONE_PER_TASK: Final = "one per task"

#: The two exports recorded under Java Flight Recorder.
JFR_RUNS: Final = ("jfr", "jfr_matched")

#: The limit clients (bench/limits.py): kinds and the thread counts each round runs.
LIMIT_KINDS: Final = ("boto3", "raw")
LIMIT_CONTENDERS: Final = (("boto3", 2), ("boto3", 4), ("raw", 2), ("raw", 4))

#: Throttled runs, in the order they are measured and rendered.
THROTTLED_RUNS: Final = ("export", "import")

# --------------------------------------------------------------------------- the files

Round = TypedDict("Round", {
    "round": int,
    "export_limit": list[dict[str, Any]],
    "export": dict[str, Any],
    "connector_count": dict[str, Any],
    "connector_pipe": dict[str, Any],
    "import_limit": list[dict[str, Any]],
    "import": dict[str, Any],
    "import_skip_validation": dict[str, Any],
    "dynamodump": dict[str, Any],
    "cli": dict[str, Any],
}, total=False)


class Main(TypedDict):
    items: int
    rounds: list[Round]
    last_export_folder: str | None
    warmup_export: dict[str, Any]


class RunResults(TypedDict, total=False):
    """``bench.run``: everything of docs/benchmarks.md outside the marked sections."""

    schema: int
    kind: Kind
    command: str
    settings: dict[str, Any]
    machine: dict[str, Any]
    load: list[dict[str, Any]]
    memory: list[dict[str, Any]]
    spark_startup: list[dict[str, float]]
    spark_startup_in_process: dict[str, float]
    spark_parallelism: int
    fidelity: dict[str, Any]
    main: Main
    profiles: dict[str, Any]
    throttled: dict[str, dict[str, Any]]
    paper: dict[str, Any]
    total_seconds: float


#: ``bench.resume``: the ``resume`` section (``import`` is a keyword, hence this spelling).
ResumeResults = TypedDict("ResumeResults", {
    "schema": int,
    "kind": Kind,
    "command": str,
    "date": str,
    "items": int,
    "runs": int,
    "load": list[float],
    "export": list[dict[str, Any]],
    "import": list[dict[str, Any]],
    "import_note": str,
}, total=False)


class MemoryBoundResults(TypedDict, total=False):
    """``bench.memory_bound``: the ``memory-bound`` section."""

    schema: int
    kind: Kind
    command: str
    date: str
    heap: str
    load: list[float]
    executor: str
    runs: list[dict[str, Any]]


class ExportLineResults(TypedDict, total=False):
    """``bench.export_line``: the ``export-line`` section (each round holds ``before`` and
    ``after``, one export each: items, scan seconds, CPU by group)."""

    schema: int
    kind: Kind
    command: str
    date: str
    items: int
    #: per side: the git ref its reader jar was built from and how that jar writes a line
    sides: dict[str, dict[str, str]]
    load: list[float]
    load_end: list[float]
    rounds: list[dict[str, Any]]


class ExportWriterResults(TypedDict, total=False):
    """``bench.export_writer``: the ``export-writer`` section (each round holds every way of
    ``bench.export_writer.WAYS``: items, seconds, items/s, CPU by group; and ``order``)."""

    schema: int
    kind: Kind
    command: str
    date: str
    items: int
    load: list[float]
    load_end: list[float]
    rounds: list[dict[str, Any]]


AnyResults = Union[RunResults, ResumeResults, MemoryBoundResults, ExportLineResults,
                   ExportWriterResults]


class ResultsError(ValueError):
    """A results file that cannot be rendered (missing, not JSON, another schema or kind)."""


def save(path: Path, kind: Kind, results: Mapping[str, object]) -> Path:
    """Write ``results`` to ``path`` stamped with the schema version and ``kind``; the file is
    written whole (a temporary file renamed), so a crash leaves the earlier one intact."""
    stamped = {"schema": SCHEMA_VERSION, "kind": kind,
               **{k: v for k, v in results.items() if k not in ("schema", "kind")}}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(stamped, indent=1, default=str))
    partial.replace(path)
    return path


def _kind_by_name(path: Path) -> Kind | None:
    """What wrote a file of no known kind, by the name each benchmark gives its file."""
    if path.name.startswith("bench-"):
        return "run"
    return next((kind for kind in KINDS if path.name == f"{kind}.json"), None)


def load(path: Path, kind: Kind | None = None) -> dict[str, Any]:
    """The results in ``path``; :class:`ResultsError` (one line: the file, the problem, what to
    do) unless it is a results file of this schema version (and of ``kind``, if given)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{path}: no such results file") from None
    except (OSError, ValueError) as err:
        raise ResultsError(f"{path}: not a readable JSON results file ({err})") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{path}: not a results file (a JSON object with \"schema\" and "
                           "\"kind\" is expected)")
    found_kind = data.get("kind")
    version = data.get("schema")
    if version != SCHEMA_VERSION:
        shown = "no schema version (written before bench/results.py)" if version is None \
            else f"schema version {version!r}"
        guess = found_kind if found_kind in KINDS else _kind_by_name(path)
        redo = f"`{MEASURED_BY[guess]}`" if guess else "the benchmark that wrote it"
        raise ResultsError(f"{path}: {shown}; this summarizer reads version {SCHEMA_VERSION}: "
                           f"measure again with {redo}, or render it with the commit that "
                           "wrote it")
    if found_kind not in KINDS:
        raise ResultsError(f"{path}: unknown results kind {found_kind!r} (expected one of "
                           f"{', '.join(KINDS)})")
    if kind is not None and found_kind != kind:
        raise ResultsError(f"{path}: a {found_kind!r} results file where a {kind!r} one is "
                           f"expected (written by `{MEASURED_BY[kind]}`)")
    return cast(dict[str, Any], data)
