"""``python -m bench.summarize [RESULTS.json ...] [--doc FILE] [--charts DIR]``: docs/benchmarks.md
and its charts from saved results files alone (no server, no Spark).

The benchmarks measure into ``bench/results/*.json`` (``bench.results``); this renders them:

* a ``run`` file (``bench.run``) gives the whole document except the marked sections, plus the
  charts of its throttled runs under ``--charts``;
* a ``resume``, ``memory-bound``, ``export-line`` or ``export-writer`` file (``bench.resume``,
  ``bench.memory_bound``, ``bench.export_line``, ``bench.export_writer``) gives its own
  section, between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``.

A section whose results file is not given is kept as the document has it. Without files: the
newest full ``bench/results/bench-*.json`` and ``resume.json`` / ``memory-bound.json`` /
``export-line.json`` / ``export-writer.json`` if they exist. Every file is read and checked
before anything is written.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence, cast

from bench import report, throttled
from bench.results import (
    MEASURED_BY,
    RESULTS_DIR,
    THROTTLED_RUNS,
    ExportLineResults,
    ExportWriterResults,
    Kind,
    MemoryBoundResults,
    ResultsError,
    ResumeResults,
    RunResults,
    load,
    save,
)
from bench.sections import Section

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
CHARTS = ROOT / "docs" / "img"
QUICK_DOC = RESULTS_DIR / "benchmarks-quick.md"
QUICK_CHARTS = RESULTS_DIR / "img"


def _resume(results: dict[str, Any]) -> str:
    from bench import resume

    return resume.render(cast(ResumeResults, results), results["command"])


def _memory_bound(results: dict[str, Any]) -> str:
    from bench import memory_bound

    return memory_bound.render(cast(MemoryBoundResults, results))


def _export_line(results: dict[str, Any]) -> str:
    from bench import export_line

    return export_line.render(cast(ExportLineResults, results))


def _export_writer(results: dict[str, Any]) -> str:
    from bench import export_writer

    return export_writer.render(cast(ExportWriterResults, results))


@dataclass(frozen=True)
class Marked:
    """A section that a benchmark of its own measures, in the order the document has them."""

    kind: Kind
    section: Section
    render: Callable[[dict[str, Any]], str]


MARKED = (Marked("resume", Section("resume"), _resume),
          Marked("memory-bound", Section("memory-bound"), _memory_bound),
          Marked("export-line", Section("export-line"), _export_line),
          Marked("export-writer", Section("export-writer"), _export_writer))


@dataclass(frozen=True)
class Rendered:
    text: str
    charts: dict[Path, throttled.ThrottledRun]

    def write(self, doc: Path) -> None:
        if self.charts:
            throttled.require_charts()  # ImportError before anything is written
        for path, run in self.charts.items():
            throttled.chart(run, path, throttled.title(run))
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(self.text)


def plan_charts(results: RunResults, charts: Path) -> dict[Path, throttled.ThrottledRun]:
    """Each throttled run with traffic and the chart it gets under ``charts``."""
    out: dict[Path, throttled.ThrottledRun] = {}
    for what in THROTTLED_RUNS:
        saved = results.get("throttled", {}).get(what)
        run = throttled.ThrottledRun.from_dict(saved) if saved else None
        if run and run.active():
            out[charts / f"throttled-{what}.png"] = run
    return out


def render(doc: Path, charts: Path, files: Sequence[Path]) -> Rendered:
    """The document at ``doc`` and its charts rendered from ``files``, nothing written yet
    (``ResultsError`` if a file cannot be rendered)."""
    loaded = [(path, load(path)) for path in files]
    paths: dict[Kind, Path] = {}
    for path, data in loaded:
        if data["kind"] in paths:
            raise ResultsError(f"{path}: a second {data['kind']!r} results file (after "
                               f"{paths[data['kind']]}); give one of each kind")
        paths[data["kind"]] = path
    runs = [(path, data) for path, data in loaded if data["kind"] == "run"]
    sections = {data["kind"]: data for _, data in loaded if data["kind"] != "run"}
    current = doc.read_text() if doc.exists() else ""
    if not runs and not current:
        raise ResultsError(f"{doc}: no such document to put the sections in; give a "
                           "`bench.run` results file too (python -m bench.summarize "
                           "bench/results/bench-*.json ...)")
    if runs:
        path, results = runs[0][0], cast(RunResults, runs[0][1])
        with _fields_of(path, "run"):
            planned = plan_charts(results, charts)
            text = report.render(results, doc, ROOT,
                                 {run.what: chart for chart, run in planned.items()})
        for marked in MARKED:
            if marked.kind in sections:
                with _fields_of(paths[marked.kind], marked.kind):
                    text += "\n" + marked.render(sections[marked.kind])
            else:
                text += marked.section.kept(doc)
        return Rendered(text, planned)
    for marked in MARKED:
        if marked.kind in sections:
            with _fields_of(paths[marked.kind], marked.kind):
                section = marked.render(sections[marked.kind])
            current = marked.section.replaced(current, section)
    return Rendered(current, {})


@contextmanager
def _fields_of(path: Path, kind: Kind) -> Iterator[None]:
    """A field missing from a results file of the right version: a run that stopped early."""
    try:
        yield
    except KeyError as err:
        raise ResultsError(f"{path}: no {err} in these results (a run that stopped before the "
                           f"end?); measure again with `{MEASURED_BY[kind]}`") from None


def default_files() -> list[Path]:
    full = sorted(p for p in RESULTS_DIR.glob("bench-*.json") if not p.stem.endswith("-quick"))
    out = full[-1:]
    out += [p for p in (RESULTS_DIR / f"{marked.kind}.json" for marked in MARKED) if p.exists()]
    return out


def summarize(files: Sequence[Path], doc: Optional[Path] = None,
              charts: Optional[Path] = None) -> Path:
    """Render ``files`` into ``doc`` (default: docs/benchmarks.md, or the quick document for
    a ``--quick`` run) and return the document's path."""
    if doc is None or charts is None:
        quick = any(load(p).get("settings", {}).get("quick") for p in files)
        doc = doc or (QUICK_DOC if quick else DOC)
        charts = charts or (QUICK_CHARTS if quick else CHARTS)
    render(doc, charts, files).write(doc)
    return doc


def publish(kind: Kind, results: Mapping[str, object]) -> Path:
    """What a benchmark of a section of its own does last: save ``results`` as
    ``bench/results/KIND.json``, render its section into docs/benchmarks.md and print it."""
    out = save(RESULTS_DIR / f"{kind}.json", kind, results)
    summarize([out], DOC)
    marked = next(m for m in MARKED if m.kind == kind)
    print(marked.render(load(out, kind)))
    return out


def add_render_flag(parser: argparse.ArgumentParser) -> None:
    """A benchmark's ``--render RESULTS_JSON``: render a saved file instead of measuring."""
    parser.add_argument("--render", metavar="RESULTS_JSON", type=Path,
                        help="only render docs/benchmarks.md from a saved results file (the "
                             "same as python -m bench.summarize RESULTS_JSON)")


def render_only(args: argparse.Namespace) -> Optional[int]:
    """With ``--render FILE`` (:func:`add_render_flag`): render it into docs/benchmarks.md and
    return the exit code; without, None (measure)."""
    if args.render is None:
        return None
    return main([str(args.render), "--doc", str(DOC)])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.summarize", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, metavar="RESULTS.json",
                        help="results files (default: the newest of each kind under "
                             "bench/results/)")
    parser.add_argument("--doc", type=Path, help="the document to write (default "
                                                 "docs/benchmarks.md)")
    parser.add_argument("--charts", type=Path, help="where the charts go (default docs/img)")
    args = parser.parse_args(argv)
    files = list(args.files) or default_files()
    if not files:
        print(f"bench.summarize: no results files under {RESULTS_DIR}; measure with "
              "`python -m bench.run` or name the files", file=sys.stderr)
        return 2
    try:
        doc = summarize(files, args.doc, args.charts)
    except ResultsError as err:
        print(f"bench.summarize: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"bench.summarize: the charts need the bench extra ({err}): .venv/bin/pip "
              "install -e '.[bench]'", file=sys.stderr)
        return 2
    print(f"wrote {doc} from {', '.join(str(p) for p in files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
