"""events_per_minute: one row per site, event type, segment and promoted property
(sql/properties.yaml: button, experiment) per minute of event time."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records


def row(minute: int, type_: str, n: int, site="s1", country="unknown", device="unknown", plan="unknown",
        button="none", experiment="none"):
    return dict(window_start=ts_utc(T0 + minute * MIN), window_end=ts_utc(T0 + (minute + 1) * MIN), site_id=site,
                event_type=type_, country=country, device=device, plan=plan, button=button, experiment=experiment,
                events=n)


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


def click(eid: str, at: int, **properties) -> dict:
    return event(eid, at, "click", site="p", properties=properties)


# Promoted properties: the JSON string value of the key, else 'none' (the column is part of
# the key, so never NULL). JSON_VALUE gives numbers and booleans as text, so text that reads
# as one is 'none' too, whatever its JSON type.
PROPERTY_ITEMS = [
    click("p1", 1 * SEC, button="signup_cta", experiment="new_pricing"),
    click("p2", 2 * SEC, button="signup_cta", experiment="new_pricing", other="ignored"),
    click("p3", 3 * SEC, button="buy_plan"),                    # no experiment: 'none'
    event("p4", 4 * SEC, "click", site="p"),                    # no properties at all
    click("p5", 5 * SEC, button=5, experiment=True),            # a number, a boolean: 'none'
    click("p6", 6 * SEC, button="5", experiment="null"),        # text reading as a number / null: 'none'
    click("p7", 7 * SEC, button=["a"], experiment={"arm": "b"}),  # not scalars: 'none'
    click("p8", 8 * SEC, button="", experiment=None),           # empty text, JSON null: 'none'
    click("p9", 9 * SEC, button="x" * 65),                      # longer than 64: 'none'
    click("p10", 10 * SEC, button="x" * 64, experiment="Ünï 😀"),  # 64 is fine; any text
    click("p11", 11 * SEC, button="1e3x", experiment="True!"),  # only whole-value number words are 'none'
    click("p12", 12 * SEC, button="5\n", experiment="-.5"),
    event("p13", 10 * MIN, site="p"),                           # closes the windows
]


@pytest.fixture(scope="module")
def property_tables():
    return run(records(PROPERTY_ITEMS), "events_per_minute", "events_per_minute_provisional")


def test_promoted_properties_are_dimensions(property_tables):
    def prow(n, button="none", experiment="none", minute=0, type_="click"):
        return row(minute, type_, n, site="p", button=button, experiment=experiment)

    same_rows(property_tables["events_per_minute"], [
        prow(2, "signup_cta", "new_pricing"),       # p1, p2: other keys do not split rows
        prow(1, "buy_plan"),                        # p3
        prow(6),                                    # p4, p5, p6, p7, p8, p9
        prow(1, "x" * 64, "Ünï 😀"),                # p10
        prow(1, "1e3x", "True!"),                   # p11
        prow(1, "5\n", "none"),                    # p12
        prow(1, minute=10, type_="page_view"),      # p13
    ])


def test_promoted_properties_match_reference(property_tables):
    same_as_truth(property_tables, records(PROPERTY_ITEMS))
