"""Helpers of the metric tests. Metric tests run the real Flink planner and runtime (a local mini-cluster, no Kafka,
no database) over recorded Kafka records, through exactly the views and SQL files the
deployed job runs, and compare the tables with rows computed independently: by hand in
the spec tests, by clickpulse.truth (plain Python) everywhere."""

from __future__ import annotations

import math

from clickpulse import truth
from clickpulse.runner.local import run_recorded
from clickpulse.runner.metric import discover
from clickpulse.settings import get_settings


def run(recs: list[dict], *metrics: str) -> dict[str, list[dict]]:
    """The tables the job would hold after `recs` (all windows closed at the end)."""
    return run_recorded(recs, get_settings(), discover(list(metrics) or None))


def _norm(row: dict) -> tuple:
    return tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in row.items()))


def same_rows(got: list[dict], want: list[dict]) -> None:
    """Equal as sets of rows (doubles to 1e-9); on failure, show what differs."""
    g, w = {_norm(r) for r in got}, {_norm(r) for r in want}
    only_got = [dict(r) for r in g - w][:5]
    only_want = [dict(r) for r in w - g][:5]
    assert g == w, f"only in the job's output: {only_got}\nonly in the expected rows: {only_want}"
    assert len(got) == len(want), "duplicate rows"


def same_as_truth(tables: dict[str, list[dict]], recs: list[dict], **kw) -> None:
    expected = truth.compute(recs, watermark_delay_ms=get_settings().watermark_delay_ms, **kw)
    for name, rows in tables.items():
        same_rows(rows, expected[name])


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12)

