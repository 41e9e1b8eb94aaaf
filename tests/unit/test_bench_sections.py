"""The benchmark sections of docs/benchmarks.md: rendered from a saved results file, replaced
between their markers and kept when the rest of the document is rewritten."""

from __future__ import annotations

from bench import memory_bound
from bench.sections import Section


def run(label: str, items: int, total: float, ok: bool = True, **kinds: float) -> dict:
    out = {"label": label, "items": items, "ok": ok, "seconds": 12.0, "peak_total_mb": total,
           "peak_by_kind_mb": dict(kinds)}
    if not ok:
        out["error"] = "java.lang.OutOfMemoryError: Java heap space"
    return out


RESULTS = {
    "command": "python -m bench.memory_bound --sizes 100000,1600000", "heap": "1g",
    "date": "2026-12-01 13:00 UTC", "load": [2.5, 2.0, 1.9],
    "executor": "4 cores, 1452m heap",
    "runs": [
        run("local bounded", 100_000, 1300.0, jvm=1050.0),
        run("local connector", 100_000, 1350.0, jvm=1100.0),
        run("standalone bounded", 100_000, 1800.0, executor=1185.0),
        run("local bounded", 1_600_000, 1430.0, jvm=1180.0),
        run("local connector", 1_600_000, 1480.0, ok=False),
        run("standalone bounded", 1_600_000, 1900.0, executor=1250.0),
    ],
}


def test_the_memory_section_is_rendered_from_a_results_file():
    text = memory_bound.render(RESULTS)
    assert text.startswith("<!-- memory-bound:begin -->\n## 7. Export memory")
    assert "| 100,000 | 1,300 MB (12 s) | 1,350 MB (12 s) | 1,800 MB (12 s), executor 1,185 MB |" \
        in text
    assert "| 1,600,000 | 1,430 MB (12 s) | **failed**: java.lang.OutOfMemoryError" in text
    assert "local 1.10x, standalone executor 1.05x (target: at most 1.2x)" in text
    assert text.rstrip().endswith("<!-- memory-bound:end -->")


def test_a_section_is_replaced_between_its_markers_and_kept(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nbody\n")
    section = Section("memory-bound")
    assert section.kept(doc) == ""
    section.write(doc, memory_bound.render(RESULTS))
    first = doc.read_text()
    assert first.startswith("# Benchmarks\n\nbody\n\n<!-- memory-bound:begin -->")
    section.write(doc, memory_bound.render(RESULTS))  # again: replaced, not added
    assert doc.read_text() == first
    assert section.kept(doc).strip() == memory_bound.render(RESULTS).strip()
