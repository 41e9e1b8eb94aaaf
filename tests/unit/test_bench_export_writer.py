"""bench.export_writer: the export beside its probe, and the pipe's consumers it measures with.

The fixture ``data/bench/export-writer-3000.json`` is ``python -m bench.export_writer --items
3000 --runs 1`` as measured (one round on a small table: the numbers mean nothing, the shape
everything)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bench import export_writer, pipe_sinks, summarize
from ddbpipe.export.messages import ENV_VAR, WriterConfig
from ddbpipe.formats import item_to_line

FIXTURE = Path(__file__).parent / "data" / "bench" / "export-writer-3000.json"


def test_the_pipes_printed_counts_and_commit_lines_are_summed():
    printed = ["  1500\n", "", json.dumps({"url": "s3://b/f", "items": 1000}),
               json.dumps({"url": "s3://b/g", "items": 499}), "1"]
    assert export_writer.items_printed(printed) == 3000


def test_the_order_turns_by_round_and_runs_every_way_once():
    orders = [export_writer.order(r) for r in range(len(export_writer.WAYS) + 1)]
    assert all(sorted(o) == sorted(export_writer.WAYS) for o in orders)
    assert [o[0] for o in orders[:-1]] == list(export_writer.WAYS)
    assert orders[-1] == orders[0]


def test_ratios_are_medians_of_each_rounds_own_ratio():
    def rnd(probe, rates):
        return {export_writer.PROBE: {"items_per_s": probe},
                **{way: {"items_per_s": rate} for way, rate in
                   zip(export_writer.WAYS[1:], rates)}}

    rounds = [rnd(100, [90, 80, 70, 60]), rnd(200, [200, 190, 150, 170]),
              rnd(50, [45, 45, 45, 45])]
    ratios = export_writer.ratios_to_probe({"rounds": rounds})
    assert ratios[export_writer.PROBE] == 1.0
    assert ratios["python reader"] == pytest.approx(0.9)
    assert ratios["writer to S3"] == pytest.approx(0.75)  # 0.70, 0.75, 0.90
    assert ratios["export"] == pytest.approx(0.85)  # 0.60, 0.85, 0.90


def test_the_python_reader_counts_lines_across_chunks():
    text = b"".join(b"%d\n" % i for i in range(400_000))  # several 1 MiB chunks
    assert len(text) > 2 * pipe_sinks.CHUNK
    assert pipe_sinks.count(io.BytesIO(text)) == 400_000


def test_the_discarding_writer_runs_the_partition_writer_to_the_end(monkeypatch):
    lines = [item_to_line({"pk": {"S": f"k{i}"}, "n": {"N": str(i)}}) for i in range(2500)]
    cfg = WriterConfig(folder="s3://bucket-of-nothing/run", region="us-east-1", endpoints={},
                       items_per_file=1000)
    monkeypatch.setenv(ENV_VAR, cfg.to_env())
    out = io.StringIO()
    assert pipe_sinks.discard(io.BytesIO("".join(x + "\n" for x in lines).encode()), out) == 2500
    commits = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [c["items"] for c in commits] == [1000, 1000, 500]
    assert export_writer.items_printed(out.getvalue().splitlines()) == 2500


def test_the_section_is_rendered_from_its_own_file(tmp_path, monkeypatch):
    monkeypatch.setattr(summarize.throttled, "require_charts", lambda: None)
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# kept\n")
    assert summarize.main([str(FIXTURE), "--doc", str(doc)]) == 0
    text = doc.read_text()
    section = text[text.index("<!-- export-writer:begin -->"):]
    assert text.startswith("# kept\n")
    assert section.endswith("<!-- export-writer:end -->\n")
    saved = json.loads(FIXTURE.read_text())
    (rnd,) = saved["rounds"]
    assert f"Command: `{saved['command']}` ({saved['date']}, 3,000 items, 1 round" in section
    for way in export_writer.WAYS:
        run = rnd[way]
        ratio = run["items_per_s"] / rnd[export_writer.PROBE]["items_per_s"]
        assert (f"| 1 | {way} | {rnd['order'].index(way) + 1} | {run['items_per_s']:,.0f} "
                f"| {ratio:.2f}x | {run['cpu']['jvm']:.2f} |") in section
        assert f"| {way} | **{ratio:.2f}x** | {run['cpu']['jvm']:.2f} |" in section
    assert summarize.main([str(FIXTURE), "--doc", str(doc)]) == 0
    assert doc.read_text() == text  # replaced, not added twice


def test_publish_saves_renders_and_prints_the_section(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(summarize, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(summarize, "DOC", tmp_path / "benchmarks.md")
    (tmp_path / "benchmarks.md").write_text("# kept\n")
    measured = {k: v for k, v in json.loads(FIXTURE.read_text()).items()
                if k not in ("schema", "kind")}
    out = summarize.publish("export-writer", measured)
    assert out == tmp_path / "results" / "export-writer.json"
    assert json.loads(out.read_text())["kind"] == "export-writer"
    section = export_writer.render(json.loads(out.read_text()))
    assert (tmp_path / "benchmarks.md").read_text() == "# kept\n\n" + section
    assert capsys.readouterr().out == section + "\n"
