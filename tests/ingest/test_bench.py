"""`clickpulse bench generate` measures what it claims: every record it counts is in Kafka,
in a throwaway topic that is gone afterwards (the figures themselves are not tested)."""

from __future__ import annotations

import json

from clickpulse import reports
from clickpulse.ingest import bench
from clickpulse.stack.kafka import admin


def test_bench_generate_counts_what_kafka_holds_and_cleans_up(kafka, tmp_path):
    before = set(admin(kafka).list_topics(timeout=10).topics)
    rows = [bench.generate(kafka, events=30_000, workers=n, rate=1000) for n in (1, 2)]
    for n, row in zip((1, 2), rows):
        assert row["workers"] == n and row["records"] == row["in_kafka"] == 30_000
        assert row["records_per_s"] > 0 and row["seconds"] > 0
    report = reports.write_report("generate", "records/s into Kafka", rows, meta=reports.run_info(), directory=tmp_path)
    assert "| 30,000 |" in report.read_text()
    assert json.loads(report.with_suffix(".json").read_text())["results"] == rows
    after = set(admin(kafka).list_topics(timeout=10).topics)
    assert not {t for t in after - before if t.startswith("clickpulse.bench.")}
