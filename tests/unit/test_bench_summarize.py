"""bench.summarize: docs/benchmarks.md and its charts from a saved results file alone.

The fixture ``data/bench/run-quick-2000.json`` is ``python -m bench.run --quick --items 2000
--runs 1`` (one round on 2,000 items: the throughput rounds, fidelity, Spark start-up, machine
notes as measured); the run stopped in its profiles phase on a bug since fixed, so the profiles,
memory and throttled parts are completed by hand in the shape the code writes them.
"""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from bench import export_line, memory_bound, results, summarize
from bench.sections import Section

FIXTURE = Path(__file__).parent / "data" / "bench" / "run-quick-2000.json"
#: ``python -m bench.export_line --items 3000 --runs 1`` as measured (one round, loaded machine).
EXPORT_LINE = Path(__file__).parent / "data" / "bench" / "export-line-3000.json"
BENCH = Path(summarize.__file__).parent


@pytest.fixture(autouse=True)
def charts_drawn(monkeypatch):
    """The charts each render asks for, not drawn: matplotlib is in the bench extra, not the
    dev environment (the one test that draws undoes this)."""
    asked: list[tuple[Path, str]] = []
    monkeypatch.setattr(summarize.throttled, "chart",
                        lambda run, path, title: asked.append((path, title)))
    monkeypatch.setattr(summarize.throttled, "require_charts", lambda: None)
    return asked


def saved(tmp_path: Path, edit=None, name: str = "run.json") -> Path:
    data = json.loads(FIXTURE.read_text())
    if edit:
        edit(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def rendered(tmp_path: Path, *files: Path) -> str:
    doc = tmp_path / "docs" / "benchmarks.md"
    assert summarize.main([*map(str, files), "--doc", str(doc), "--charts",
                           str(tmp_path / "docs" / "img")]) == 0
    return doc.read_text()


def test_the_document_is_rendered_from_a_saved_results_file(tmp_path, charts_drawn):
    text = rendered(tmp_path, FIXTURE)
    # the targets, judged from the numbers in the file
    assert ("| export, steady state >= 0.8x the limit: the boto3 reader | 0.24x (1,010 vs 4,144 "
            "items/s) | **missed** |") in text
    assert ("| export, steady state >= 0.9x the connector-plus-pipe probe | 0.23x (1,010 vs "
            "4,395 items/s; section 9 names the difference) | **missed** |") in text
    assert ("| export end to end >= 3x as fast as dynamodump backup | `ddbpipe export` command "
            "16.3 s (fresh JVM; 2.6 s in a running Spark) vs dynamodump backup 26.1 s: 1.60x as "
            "fast | **missed** |") in text
    assert ("| import end to end, validated, >= 2x as fast as dynamodump restore | `ddbpipe "
            "import` command 32.2 s with validation") in text
    assert "| throttled export holds 0.5 x 200 | steady median 100 units/s vs target 100 " \
           "(1.00x) | **met** |" in text
    assert "40,000 items with a 1g heap: peak 1,302 MB (**failed**: out of memory)" in text
    assert "| fidelity, every type | ddbpipe 100/100 items identical, dynamodump 0/100 | " \
           "**met** |" in text
    # the per-round tables
    assert "| 1 | raw | 4 | 36,074 | 13.4 |" in text
    assert "| 1 | 2,000 | 150 / 2 | 2.0 | 1,010 | 0.4 | 2.6 | 765 | 5,099 | 4,395 |" in text
    assert "| 1 | validate | 2,000 | 2 | 1.0 | 1,950 | 2.3 | 854 |" in text
    assert "| 1 | 26.1 | 77 | 1.8 | 1,131 | 2,000 | 1.7 |" in text
    # every section, in reading order, the prose where it belongs
    heads = [line for line in text.splitlines() if line.startswith("## ")]
    assert heads == ["## Summary", "## 1. Throughput", "## Where the time goes", "## 2. Memory",
                     "## 3. Throttled runs", "## 4. Fidelity",
                     "## 5. On paper: 1 TB at 40,000 RCU"]
    assert text.index("**Import task.**") < text.index("### Reading the numbers") \
        < text.index("## 2. Memory")
    assert text.index("## 5. On paper") < text.index("So about **")
    assert "PLACEHOLDER" not in text
    # the charts of the saved series, linked from the document
    img = tmp_path / "docs" / "img"
    assert charts_drawn == [
        (img / "throttled-export.png",
         "ddbpipe export, read percent 0.5 of 200 RCU (capacity proxy, per second)"),
        (img / "throttled-import.png",
         "ddbpipe import, write percent 0.5 of 200 WCU (capacity proxy, per second)")]
    for what in ("export", "import"):
        assert f"![throttled {what}](img/throttled-{what}.png)" in text


def test_the_charts_are_drawn_from_the_saved_series(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.undo()
    rendered(tmp_path, FIXTURE)
    for what in ("export", "import"):
        chart = tmp_path / "docs" / "img" / f"throttled-{what}.png"
        assert chart.read_bytes().startswith(b"\x89PNG")


def test_met_and_missed_follow_the_numbers(tmp_path):
    def faster_export(data):
        for x in data["main"]["rounds"][0]["export_limit"]:
            x["items_per_s"] = 1_100.0  # the readers now barely beat the export's 1,010

    text = rendered(tmp_path, saved(tmp_path, faster_export))
    assert ("| export, steady state >= 0.8x the limit: the boto3 reader | 0.92x (1,010 vs 1,100 "
            "items/s) | **met** |") in text
    assert "| ... and the fastest reader written (raw) | 0.92x" in text


MEMORY_RESULTS = {
    "command": "python -m bench.memory_bound --sizes 100000,400000", "heap": "1g",
    "date": "2026-12-01 13:00 UTC", "load": [2.5, 2.0, 1.9], "executor": "4 cores, 1452m heap",
    "runs": [{"label": "local bounded", "items": n, "ok": True, "seconds": 30.0,
              "peak_total_mb": mb, "peak_by_kind_mb": {"jvm": mb - 250}}
             for n, mb in ((100_000, 1300.0), (400_000, 1350.0))],
}


def test_the_marked_sections_are_kept_or_rendered_from_their_own_files(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    resume = Section("resume")
    doc.write_text("# old\n\n" + resume.begin + "\nresume numbers\n" + resume.end + "\n")
    text = rendered(tmp_path, FIXTURE)
    assert text.startswith("# Benchmarks\n")
    assert text.endswith("\n" + resume.begin + "\nresume numbers\n" + resume.end + "\n")

    memory = tmp_path / "memory-bound.json"
    results.save(memory, "memory-bound", MEMORY_RESULTS)
    text = rendered(tmp_path, FIXTURE, memory)
    assert "resume numbers" in text
    assert text.endswith(memory_bound.render(MEMORY_RESULTS))
    # the section's file alone: only that section changes
    doc.write_text(text.replace("## 7. Export memory", "## 7. stale"))
    assert rendered(tmp_path, memory) == text


def test_the_export_line_section_is_rendered_from_its_own_file(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    memory = Section("memory-bound")
    doc.write_text("# kept\n\n" + memory.begin + "\nmemory numbers\n" + memory.end + "\n")
    text = rendered(tmp_path, EXPORT_LINE)
    assert text.startswith("# kept\n\n" + memory.begin + "\nmemory numbers\n" + memory.end)
    section = text[text.index("<!-- export-line:begin -->"):]
    assert section.endswith("<!-- export-line:end -->\n")
    assert "Command: `python -m bench.export_line --items 3000 --runs 1` (2026-12-01 15:19 UTC, " \
           "3,000 items, 1 round, medians; load average at start 9.01, at end 10.04)." in section
    assert "before = b685ad7 (lines by Gson.toJson tree), after = dc9c4bc (lines by " \
           "JsonWriter)" in section
    # the measured (second) export of each side, from the file's CPU seconds and items
    assert "| 1 | before | 1 | 938 | 4.5 | 403.3 | 250.0 | 6.2 | yes |" in section
    assert "| 1 | after | 2 | 387 | 9.2 | 416.7 | 236.7 | 15.6 | yes |" in section
    assert "- JVM CPU per item: 1.03x -> **1.03x** (403.3 -> 416.7 us);" in section
    assert "- the cold first exports' JVM CPU per item: 1.16x -> **1.16x** (973.3 -> 1133.3 " \
           "us);" in section
    assert "- scan items/s: 0.41x -> **0.41x** (938 and 387);" in section
    # rendered again: replaced, not added twice; with a full run it follows memory-bound
    assert rendered(tmp_path, EXPORT_LINE) == text
    full = rendered(tmp_path, FIXTURE)
    assert full.index("memory numbers") < full.index("<!-- export-line:begin -->")
    assert full.endswith(section)


def test_export_line_ratios_are_medians_of_the_rounds_own_ratios():
    def run(items_per_s, jvm_seconds):
        return {"items": 1000, "items_per_s_scan": items_per_s,
                "cpu": {"jvm": jvm_seconds, "jvm children": 0.1}, "cold": {
                    "items": 1000, "cpu": {"jvm": 2 * jvm_seconds}}}

    # the machine slowed down between rounds: each round's pair is what counts
    rounds = [{"before": run(1000, 0.10), "after": run(1500, 0.05)},
              {"before": run(500, 0.20), "after": run(600, 0.16)},
              {"before": run(100, 1.00), "after": run(110, 0.70)}]
    m = export_line.medians({"rounds": rounds})
    assert export_line.ratios({"rounds": rounds}, "jvm") == "0.50x, 0.80x, 0.70x"
    assert export_line.ratios({"rounds": rounds}, "rate") == "1.50x, 1.20x, 1.10x"
    assert m["jvm_us_ratio"] == pytest.approx(0.7)
    assert m["items_per_s_ratio"] == pytest.approx(1.2)
    assert m["cold_jvm_us_ratio"] == pytest.approx(0.7)
    assert m["before_jvm_us"] == pytest.approx(200.0)
    assert m["after_items_per_s"] == pytest.approx(600)


def test_an_incomplete_export_line_file_names_its_benchmark(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# as it was\n")
    cut = tmp_path / "export-line.json"
    data = json.loads(EXPORT_LINE.read_text())
    del data["load_end"]
    cut.write_text(json.dumps(data))
    assert summarize.main([str(cut), "--doc", str(doc)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"bench.summarize: {cut}: no 'load_end' in these results (a run that stopped before "
        "the end?); measure again with `python -m bench.export_line`")
    assert doc.read_text() == "# as it was\n"


def _root_commit() -> str:
    return subprocess.run(["git", "-C", str(BENCH.parent), "rev-list", "--max-parents=0",
                           "HEAD"], check=True, capture_output=True, text=True).stdout.split()[0]


@pytest.mark.parametrize("flag, ref, said", [
    ("--before", "no-such-ref", "not a commit of {root}; give a commit id, branch or tag"),
    ("--after", "ROOT", "has no jvm/pom.xml (ddbpipe's reader jar came with b685ad7); give a "
                        "later commit"),
])
def test_export_line_refuses_a_ref_it_cannot_build_before_starting(tmp_path, monkeypatch,
                                                                   capsys, flag, ref, said):
    ref = _root_commit() if ref == "ROOT" else ref
    monkeypatch.setattr(export_line, "measure", lambda *a: pytest.fail("measured anyway"))
    with pytest.raises(SystemExit) as stopped:
        export_line.main([flag, ref])
    assert stopped.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == (f"python -m bench.export_line: error: {flag} {ref}: "
                    + said.format(root=export_line.ROOT))


@pytest.mark.parametrize("edit, said", [
    (lambda d: d.update(schema=0), "schema version 0"),
    (lambda d: d.pop("schema"), "no schema version (written before bench/results.py)"),
])
def test_a_results_file_of_another_schema_is_refused_in_one_line(tmp_path, capsys, edit, said):
    doc = tmp_path / "docs" / "benchmarks.md"
    doc.parent.mkdir()
    doc.write_text("# as it was\n")
    old = saved(tmp_path, edit, "old.json")
    assert summarize.main([str(old), "--doc", str(doc), "--charts", str(tmp_path / "img")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"bench.summarize: {old}: {said}; this summarizer reads version 1: measure "
                   "again with `python -m bench.run`, or render it with the commit that wrote it")
    assert doc.read_text() == "# as it was\n"  # nothing half-written


def test_an_incomplete_run_is_refused_before_anything_is_written(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    cut = saved(tmp_path, lambda d: d.pop("fidelity"), "cut.json")
    assert summarize.main([str(cut), "--doc", str(doc), "--charts", str(tmp_path / "img")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"bench.summarize: {cut}: no 'fidelity' in these results (a run that stopped before "
        "the end?); measure again with `python -m bench.run`")
    assert not doc.exists()


def test_two_files_of_one_kind_are_refused(tmp_path, capsys):
    doc = tmp_path / "benchmarks.md"
    again = saved(tmp_path, name="again.json")
    assert summarize.main([str(FIXTURE), str(again), "--doc", str(doc)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"bench.summarize: {again}: a second 'run' results file (after {FIXTURE}); give one of "
        "each kind")
    assert not doc.exists()


def test_save_stamps_the_schema_and_load_checks_the_kind(tmp_path):
    path = results.save(tmp_path / "r.json", "resume", {"items": 3})
    assert json.loads(path.read_text()) == {"schema": results.SCHEMA_VERSION, "kind": "resume",
                                            "items": 3}
    assert results.load(path, "resume")["items"] == 3
    with pytest.raises(results.ResultsError, match="a 'resume' results file where a 'run' one"):
        results.load(path, "run")
    with pytest.raises(results.ResultsError, match="no such results file"):
        results.load(tmp_path / "missing.json")


def test_bench_edits_no_import_path():
    """bench runs as ``python -m bench.X`` from the checkout; no module rewrites sys.path."""
    for module in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Attribute) and node.attr == "path" \
                    and isinstance(node.value, ast.Name) and node.value.id == "sys":
                pytest.fail(f"{module.name} touches sys.path")

