"""active_users_1m, active_users_live and active_users_daily: distinct users, never summed."""

from __future__ import annotations

import datetime as dt

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records

U1 = dict(country="DE", device="desktop", plan="pro")
U2 = dict(country="US", device="mobile", plan="free")

ITEMS = [
    event("a", 1 * SEC, user="u1", **U1),
    event("b", 10 * SEC, user="u2", **U2),
    event("c", 30 * SEC, "click", user="u1", **U1),          # u1 again: still one user
    event("d", 40 * SEC, user="u1", site="s2", **U1),          # same user id on another site
    event("e", 65 * SEC, user="u3"),                           # no segments: 'unknown'
    event("f", 80 * SEC, user="u1", **U1),
    event("g", 2 * 3_600_000, user="u4"),                      # at 00:00 the next day (UTC)
]


def segment_rows(minute: int, site: str, users: dict[tuple, int]) -> list[dict]:
    return [dict(window_start=ts_utc(T0 + minute * MIN), window_end=ts_utc(T0 + (minute + 1) * MIN), site_id=site,
                 country=c, device=d, plan=p, users=n) for (c, d, p), n in users.items()]


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "active_users_1m", "active_users_live", "active_users_daily")


def test_per_minute_with_rolled_up_rows(tables):
    same_rows(tables["active_users_1m"], [
        *segment_rows(0, "s1", {
            ("all", "all", "all"): 2,                               # u1, u2
            ("DE", "all", "all"): 1, ("US", "all", "all"): 1,
            ("all", "desktop", "all"): 1, ("all", "mobile", "all"): 1,
            ("all", "all", "pro"): 1, ("all", "all", "free"): 1,
            ("DE", "desktop", "pro"): 1, ("US", "mobile", "free"): 1,
        }),
        *segment_rows(0, "s2", {
            ("all", "all", "all"): 1, ("DE", "all", "all"): 1, ("all", "desktop", "all"): 1,
            ("all", "all", "pro"): 1, ("DE", "desktop", "pro"): 1,
        }),
        *segment_rows(1, "s1", {
            ("all", "all", "all"): 2,                               # u3, u1
            ("unknown", "all", "all"): 1, ("DE", "all", "all"): 1,
            ("all", "unknown", "all"): 1, ("all", "desktop", "all"): 1,
            ("all", "all", "unknown"): 1, ("all", "all", "pro"): 1,
            ("unknown", "unknown", "unknown"): 1, ("DE", "desktop", "pro"): 1,
        }),
        *segment_rows(120, "s1", {
            ("all", "all", "all"): 1, ("unknown", "all", "all"): 1, ("all", "unknown", "all"): 1,
            ("all", "all", "unknown"): 1, ("unknown", "unknown", "unknown"): 1,
        }),
    ])


def test_users_right_now(tables):
    live = {(r["site_id"], r["window_end"]): r["users"] for r in tables["active_users_live"]}
    # [21:55:10, 22:00:10) holds only a (u1)
    assert live[("s1", ts_utc(T0 + 10 * SEC))] == 1
    # [21:55:20, 22:00:20) holds a and b (u1, u2)
    assert live[("s1", ts_utc(T0 + 20 * SEC))] == 2
    # [22:01:00, 22:06:00) holds e and f (u3, u1)
    assert live[("s1", ts_utc(T0 + 6 * MIN))] == 2
    # [22:01:20, 22:06:20) is the last window holding f, the last event before midnight
    assert live[("s1", ts_utc(T0 + 6 * MIN + 20 * SEC))] == 1
    assert ("s1", ts_utc(T0 + 6 * MIN + 30 * SEC)) not in live
    # every 10 s of the 5 minutes after each event has a row: 30 windows per event, merged
    assert all(r["window_end"] - r["window_start"] == dt.timedelta(minutes=5) for r in tables["active_users_live"])


def test_users_so_far_today(tables):
    daily = {(r["day"], r["site_id"], r["country"], r["device"], r["plan"]): r for r in tables["active_users_daily"]}
    nov14, nov15 = dt.date(2023, 11, 14), dt.date(2023, 11, 15)
    assert daily[(nov14, "s1", "all", "all", "all")]["users"] == 3         # u1, u2, u3
    assert daily[(nov14, "s1", "DE", "all", "all")]["users"] == 1
    assert daily[(nov14, "s2", "all", "all", "all")]["users"] == 1
    assert daily[(nov15, "s1", "all", "all", "all")]["users"] == 1         # u4 only: a new day starts from zero
    # the input ended, so every day was counted to its end
    assert daily[(nov14, "s1", "all", "all", "all")]["updated_through"] == ts_utc(T0 + 2 * 3_600_000)


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
