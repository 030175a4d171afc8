"""Every `clickpulse bench` command writes its report with clickpulse.reports: a Markdown
file with the figures as a table and its plots as PNG files beside it, and a JSON file with
the same figures."""

from __future__ import annotations

import json

from clickpulse import reports

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_a_report_has_the_table_the_summary_and_the_plots(tmp_path):
    rows = [{"workers": 1, "records_per_s": 122_620, "seconds": 16.31}, {"workers": 2, "records_per_s": 114_491,
                                                                          "seconds": 17.47}]
    fig = reports.new_figure()
    ax = fig.add_subplot()
    ax.bar([str(r["workers"]) for r in rows], [r["records_per_s"] for r in rows])
    md = reports.write_report("generate", "records/s into Kafka", rows,
                              meta={"command": "clickpulse bench generate", "load_before": 0.5},
                              notes=["two cores"], summary={"workers": "best", "records_per_s": 122_620},
                              plots=[reports.Plot("records/s by workers", fig)], details={"raw": [1, 2]},
                              directory=tmp_path)

    assert md.parent == tmp_path and md.name.startswith("bench-generate-") and md.suffix == ".md"
    text = md.read_text()
    assert text.startswith("# clickpulse bench generate: records/s into Kafka\n")
    assert "- command: `clickpulse bench generate`" in text and "- two cores" in text
    assert "| workers | records per s | seconds |" in text
    assert "| 1 | 122,620 | 16.3 |" in text and "| 2 | 114,491 | 17.5 |" in text
    assert "| **best** | **122,620** |  |" in text

    record = json.loads(md.with_suffix(".json").read_text())
    assert record["results"] == rows and record["summary"]["records_per_s"] == 122_620
    assert record["details"] == {"raw": [1, 2]}
    [plot] = record["plots"]
    png = tmp_path / plot["file"]
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 5_000
    assert f"![records/s by workers]({png.name})" in text


def test_a_report_without_plots_writes_no_png(tmp_path):
    md = reports.write_report("collect", "events/s", [{"batch": 20, "p99_ms": 3.456}], meta={}, directory=tmp_path)
    assert "| 20 | 3.46 |" in md.read_text()
    assert not list(tmp_path.glob("*.png"))
    assert json.loads(md.with_suffix(".json").read_text())["plots"] == []


def test_cells_show_figures_readably():
    assert [reports.cell(v) for v in (1234567, 1234.56, 12.345, 0.001234, True, None, "x")] == \
        ["1,234,567", "1,235", "12.3", "0.00123", "yes", "", "x"]
