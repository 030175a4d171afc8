"""events_per_minute: one row per site, event type and segment per minute of event time."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records


def row(minute: int, type_: str, n: int, site="s1", country="unknown", device="unknown", plan="unknown"):
    return dict(window_start=ts_utc(T0 + minute * MIN), window_end=ts_utc(T0 + (minute + 1) * MIN), site_id=site,
                event_type=type_, country=country, device=device, plan=plan, events=n)


ITEMS = [
    event("e1", 1 * SEC),
    event("e2", 2 * SEC, "click", country="de", device="Mobile", plan="pro"),
    event("e3", 59 * SEC + 999),                      # last millisecond of minute 0
    event("e4", 58 * SEC),                            # 1.999 s out of order: within the 5 s delay, counted
    event("e2", 2 * SEC, "click", country="de", device="Mobile", plan="pro"),  # resent 58 s on: LATE (the
                                                      # original counts once; this copy is a late record)
    event("e5", 60 * SEC),                            # first millisecond of minute 1
    event("e6", 70 * SEC, site="s2"),                 # another site, same user id
    event("e7", 64 * SEC),                            # LATE: 6 s behind the newest event (e6 at 70 s), delay 5 s
    event("e8", 66 * SEC),                            # 4 s behind e6, within the delay: counted
    "{not json",                                      # malformed: dead letter, not counted here
    event("e9", 10 * MIN),                            # closes every window before minute 10
]


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "events_per_minute", "late_events")


def test_counts_per_minute_type_and_segment(tables):
    same_rows(tables["events_per_minute"], [
        row(0, "page_view", 3),                                            # e1, e3, e4
        row(0, "click", 1, country="DE", device="mobile", plan="pro"),     # e2 once; segments normalised
        row(1, "page_view", 2),                                            # e5, e8 (e7 was late)
        row(1, "page_view", 1, site="s2"),                                 # e6
        row(10, "page_view", 1),                                           # e9
    ])


def test_late_event_is_counted_only_as_late(tables):
    assert [r["events"] for r in tables["late_events"]] == [2]   # the late copy of e2, e7


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
