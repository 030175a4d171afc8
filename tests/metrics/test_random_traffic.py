"""Every metric table equals the reference on seeded random traffic: several sites sharing
user ids, events out of order within the watermark delay, late ones, resent ones and
malformed ones, over three hours of event time that cross a day boundary."""

from __future__ import annotations

import pytest

from harness import run, same_as_truth
from scenarios import random_traffic, records


@pytest.mark.parametrize("seed,n,disorder_ms", [(1, 3000, 2_000), (7, 2000, 4_500)])
def test_all_metrics_match_the_reference(seed, n, disorder_ms):
    recs = records(random_traffic(seed, n, disorder_ms=disorder_ms))
    tables = run(recs)
    assert set(tables) >= {"events_per_minute", "active_users_1m", "active_users_live", "active_users_daily",
                           "top_pages_1m", "top_pages_1h", "sessions_1h", "funnel_conversions", "events",
                           "late_events", "invalid_events", "retention_daily", "retention_weekly"}
    assert all(tables[t] for t in ("late_events", "invalid_events", "funnel_conversions", "sessions_1h",
                                   "acquisition_1h"))
    # the traffic crosses midnight: some of the first day's users are back the next day
    assert any(r["period_offset"] == 1 for r in tables["retention_daily"])
    same_as_truth(tables, recs)
