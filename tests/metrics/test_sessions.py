"""sessions_1h: sessions per hour of their start, 30-minute inactivity gap."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, T0, event, records

ITEMS = sorted([
    # a: three events over 20 minutes: one session, 1200 s, 2 page views, no bounce
    event("a1", 0, user="a"), event("a2", 10 * MIN, "click", user="a"), event("a3", 20 * MIN, user="a"),
    # b: a single page view: a bounce of 0 s
    event("b1", 5 * MIN, user="b"),
    # c: exactly 30 minutes between two views: still one session (it ends only after MORE
    # than 30 minutes without an event), 1800 s
    event("c1", 50 * MIN, user="c"), event("c2", 80 * MIN, user="c"),
    # d: 30 minutes and 1 ms apart: two sessions, one started at 22:58, one at 23:28
    event("d1", 58 * MIN, user="d"), event("d2", 88 * MIN + 1, user="d"),
    # e: only a click: a session with no page view, not a bounce
    event("e1", 10 * MIN, "click", user="e"),
    # a on another site: sessions are per site
    event("s2a", 1 * MIN, user="a", site="s2"),
], key=lambda e: e["ts"])


def hour(h: int, site: str, sessions: int, bounces: int, duration_ms: int, pageviews: int) -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, sessions=sessions, bounces=bounces,
                bounce_rate=bounces / sessions, total_duration_s=duration_ms / 1000,
                avg_duration_s=duration_ms / 1000 / sessions, pageviews=pageviews,
                pages_per_session=pageviews / sessions)


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "sessions_1h")


def test_sessions_by_hour_of_start(tables):
    same_rows(tables["sessions_1h"], [
        # a, b, c, d's first, e: bounces b and d1; 1200 s + 1800 s; 2 + 1 + 2 + 1 + 0 views
        hour(0, "s1", sessions=5, bounces=2, duration_ms=3_000_000, pageviews=6),
        hour(1, "s1", sessions=1, bounces=1, duration_ms=0, pageviews=1),        # d's second
        hour(0, "s2", sessions=1, bounces=1, duration_ms=0, pageviews=1),
    ])


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
