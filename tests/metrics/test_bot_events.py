"""bot_events: events the collector marked as a bot's are kept out of every user metric
and counted per site, minute of event time and reason."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records


def row(minute: int, reason: str, n: int, site="s1"):
    return dict(window_start=ts_utc(T0 + minute * MIN), window_end=ts_utc(T0 + (minute + 1) * MIN), site_id=site,
                reason=reason, events=n)


ITEMS = [
    event("p1", 1 * SEC, user="person"),
    event("b1", 2 * SEC, user="crawler", bot="user_agent"),
    event("b2", 3 * SEC, user="crawler", bot="user_agent"),
    event("b2", 3 * SEC, user="crawler", bot="user_agent"),   # a copy: counted once
    event("b3", 4 * SEC, user="fast", bot="rate"),
    event("b4", 61 * SEC, user="fast", bot="rate", site="s2"),
    event("b5", 50 * SEC, user="fast", bot="rate"),           # LATE (11 s behind b4): a late event, not a bot's
    event("p2", 62 * SEC, user="person", bot=""),             # empty means absent: a person
    event("z", 10 * MIN, user="person"),                      # closes every window before minute 10
]


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "bot_events", "events_per_minute", "active_users_1m", "late_events")


def test_bot_events_counted_per_minute_site_and_reason(tables):
    same_rows(tables["bot_events"], [
        row(0, "user_agent", 2),            # b1, b2 once
        row(0, "rate", 1),                  # b3
        row(1, "rate", 1, site="s2"),       # b4
    ])


def test_bots_are_in_no_user_metric(tables):
    assert sum(r["events"] for r in tables["events_per_minute"]) == 3   # p1, p2, z
    users = {r["users"] for r in tables["active_users_1m"] if r["country"] == r["device"] == r["plan"] == "all"}
    assert users == {1}, "only the person is a user, in every minute"


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
