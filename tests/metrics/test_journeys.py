"""entry_exit_pages_1h and page_transitions_1h: landing and exit pages per hour of session
start, and which page users view next, per hour of the second view."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, T0, event, records

ITEMS = sorted([
    # a: / -> /pricing -> /cart, a click between the last two: one session, entry /, exit /cart
    event("a1", 0, user="a", page="/"),
    event("a2", 5 * MIN, user="a", page="/pricing"),
    event("a3", 6 * MIN, "click", user="a", page="/pricing"),
    event("a4", 9 * MIN, user="a", page="/cart"),
    # b: one view of /pricing: entry and exit of the same page, no transition
    event("b1", 2 * MIN, user="b", page="/pricing"),
    # c: two views at the same millisecond: ordered by page, so /blog (entry) -> /pricing (exit)
    event("c1", 3 * MIN, user="c", page="/pricing"),
    event("c2", 3 * MIN, user="c", page="/blog"),
    # d: / then / again 30 minutes later (exactly the gap: one session, a transition, a
    # reload counts), then /cart 30 minutes and 1 ms later: a new session at 22:40 whose
    # only view is /cart, and no transition / -> /cart
    event("d1", 10 * MIN, user="d", page="/"),
    event("d2", 40 * MIN, user="d", page="/"),
    event("d3", 70 * MIN + 1, user="d", page="/cart"),
    # e: a session of clicks only: no entry or exit page
    event("e1", 20 * MIN, "click", user="e", page="/"),
    # f: / at 22:50 and /pricing at 23:10, with clicks every 10 minutes between: the
    # session goes on, but 20 minutes between the views is within the gap: a transition
    # of hour 23:00
    event("f1", 50 * MIN, user="f", page="/"),
    event("f2", 60 * MIN, "click", user="f", page="/"),
    event("f3", 70 * MIN, user="f", page="/pricing"),
    # a on another site: per site
    event("s2a", 1 * MIN, user="a", site="s2", page="/"),
], key=lambda e: e["ts"])


def pages(h: int, site: str, page: str, entries: int, exits: int) -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, page=page, entries=entries, exits=exits)


def step(h: int, from_page: str, to_page: str, transitions: int, users: int, site: str = "s1") -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, from_page=from_page, to_page=to_page,
                transitions=transitions, users=users)


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "entry_exit_pages_1h", "page_transitions_1h")


def test_entry_and_exit_pages_by_hour_of_session_start(tables):
    same_rows(tables["entry_exit_pages_1h"], [
        # sessions starting 22:xx: a (/ -> /cart), b (/pricing), c (/blog -> /pricing),
        # d's first (/ -> /), f (/ -> /pricing)
        pages(0, "s1", "/", entries=3, exits=1),
        pages(0, "s1", "/pricing", entries=1, exits=3),
        pages(0, "s1", "/blog", entries=1, exits=0),
        pages(0, "s1", "/cart", entries=0, exits=1),
        pages(1, "s1", "/cart", entries=1, exits=1),          # d's second session
        pages(0, "s2", "/", entries=1, exits=1),
    ])


def test_transitions_by_hour_of_the_second_view(tables):
    same_rows(tables["page_transitions_1h"], [
        step(0, "/", "/pricing", transitions=1, users=1),     # a
        step(0, "/pricing", "/cart", transitions=1, users=1),  # a
        step(0, "/blog", "/pricing", transitions=1, users=1),  # c, same millisecond
        step(0, "/", "/", transitions=1, users=1),             # d's reload, exactly 30 min apart
        step(1, "/", "/pricing", transitions=1, users=1),      # f, across the hour
    ])


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
