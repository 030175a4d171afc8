"""`clickpulse bench pipeline` measures what it claims: every job it times reads the whole
backlog (ceiling, shared stages, one metric), the metric job writes its table, and the
backlog's topic and database are gone afterwards. The figures themselves are not tested."""

from __future__ import annotations

import psycopg

from clickpulse.runner import bench
from clickpulse.stack.kafka import admin


def test_each_variant_reads_the_whole_backlog_and_the_bench_cleans_up(flink):
    backlog = bench.produce(flink, events=10_000, workers=1, raw_events=False)
    procs = bench.Processes.local()
    plan = [bench.Variant("ceiling", "ceiling", [], 1), bench.Variant("shared stages", "shared", [], 1),
            bench.Variant("events_per_minute", "metrics", ["events_per_minute"], 1)]
    try:
        # 10,000 events, plus a flush tick per partition
        assert backlog.records >= 10_000
        runs = [bench.run_variant(flink, backlog, v, procs, timeout=300) for v in plan]
        for run in runs:
            assert run.records == backlog.records and run.samples[-1][1] == backlog.records, run.label
            assert run.rate > 0 and run.tm_us > 0, run.label
        with psycopg.connect(bench.bench_settings(flink, backlog).dsn("admin")) as conn:
            (minutes,) = conn.execute("select count(*) from events_per_minute").fetchone()
        assert minutes > 0
        assert set(bench.stage_costs(runs)) == {"shared stages", "events_per_minute"}
    finally:
        bench.remove(flink, backlog)
    assert backlog.topic not in admin(flink).list_topics(timeout=10).topics
