"""retention_daily and retention_weekly: users first seen on a site in a UTC day (an ISO week
from Monday) and how many of them have an event k days (weeks) later; the k = 0 row is the
cohort's size."""

from __future__ import annotations

import pytest

from clickpulse.truth import DAY, ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records

HOUR = 60 * MIN
TUE_14 = T0 - 22 * HOUR         # T0 is Tuesday 2023-11-14 22:00 UTC: that day's start
WED_15 = TUE_14 + DAY
MON_13 = TUE_14 - DAY           # its ISO week starts on Monday the 13th
MON_11_DEC = MON_13 + 28 * DAY  # four weeks later

# in arrival order, all in one partition
ITEMS = [
    event("a1", 0, user="a"),                          # Tue 14th 22:00: a's cohort is the 14th (week of the 13th)
    event("a1b", 5 * MIN, "click", user="a"),          # a second event the same day: a counts once
    event("d1", 30 * MIN, user="d"),                   # d's cohort: the 14th
    event("f1", 40 * MIN, user="f", site="s2"),        # f on s2: per site, s2's cohort of the 14th
    event("b1", 2 * HOUR - 1, user="b"),               # 23:59:59.999: b's cohort is the 14th, b never comes back
    event("h2", 2 * HOUR + SEC, user="h"),             # Wed 00:00:01 arrives first...
    event("h1", 2 * HOUR - SEC, user="h"),             # ...then Tue 23:59:59, 2 s behind (on time): h's cohort is
                                                       # the 14th, and h is back on the 15th (k = 1)
    event("a2", 2 * HOUR, user="a"),                   # exactly midnight: the 15th, a's k = 1
    event("f2", 2 * HOUR + 10 * MIN, user="f"),        # f's first event on s1: s1's cohort of the 15th
    event("e1", 1 * HOUR + 50 * MIN, user="e"),        # LATE: 20 min behind the partition's newest (00:10): counted
                                                       # nowhere, so e is not in the 14th's cohort
    event("e2", 2 * HOUR + 20 * MIN, user="e"),        # e's first counted event: cohort of the 15th
    event("c1", 3 * HOUR, user="c"),                   # c: cohort of the 15th
    event("a3", 2 * HOUR + DAY + MIN, user="a"),       # Thu 16th: a's k = 2
    event("c2", 2 * HOUR + 5 * DAY, user="c"),         # Mon 20th 00:00: c's k = 5, and a new ISO week: weekly k = 1
    event("d2", 30 * MIN + 30 * DAY, user="d"),        # Thu 14 Dec: d's k = 30, the last day counted; week k = 4
    event("d3", 30 * MIN + 31 * DAY, user="d"),        # Fri 15 Dec: k = 31, past the daily table's end; same week
]


def row(cohort: int, k: int, users: int, site: str = "s1") -> dict:
    return dict(cohort_start=ts_utc(cohort), site_id=site, period_offset=k, users=users)


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "retention_daily", "retention_weekly")


def test_daily_cohorts(tables):
    same_rows(tables["retention_daily"], [
        row(TUE_14, 0, 4),   # a, b, d, h (e's event that day was late)
        row(TUE_14, 1, 2),   # a (at midnight), h
        row(TUE_14, 2, 1),   # a
        row(TUE_14, 30, 1),  # d; d's day 31 is not a row
        row(WED_15, 0, 3),   # c, e, f (f's first on s1)
        row(WED_15, 5, 1),   # c
        row(TUE_14, 0, 1, site="s2"),  # f
    ])


def test_weekly_cohorts(tables):
    same_rows(tables["retention_weekly"], [
        row(MON_13, 0, 7),   # a, b, c, d, e, f, h
        row(MON_13, 1, 1),   # c on Monday the 20th
        row(MON_13, 4, 1),   # d, twice in the week of 11 December: once
        row(MON_13, 0, 1, site="s2"),  # f
    ])
    assert MON_11_DEC == MON_13 + 4 * 7 * DAY


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))

