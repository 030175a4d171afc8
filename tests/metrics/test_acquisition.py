"""acquisition_1h: sessions, users and conversions per hour of session start, by the
channel, source and campaign of each session's first event."""

from __future__ import annotations

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, T0, event, records

GOOGLE = "https://www.google.com/search?q=clickpulse"
ITEMS = sorted([
    # a: lands from the newsletter (tags in mixed case: source and medium are lower-cased),
    # follows a t.co link 3 minutes later (same session: the first touch stays), buys
    event("a1", 0, user="a", page="/landing/spring", utm_source="Newsletter", utm_medium="EMAIL",
          utm_campaign="Spring"),
    event("a2", 3 * MIN, user="a", page="/pricing", referrer="https://t.co/x"),
    event("a3", 4 * MIN, "purchase", user="a", page="/checkout"),
    # b: from a Google search, then back 40 minutes later with no referrer: a second session
    # (more than 30 minutes apart), direct
    event("b1", 2 * MIN, user="b", page="/", referrer=GOOGLE),
    event("b2", 42 * MIN, user="b", page="/pricing"),
    # c: Hacker News (a social site), with user info and a port in the URL
    event("c1", 5 * MIN, user="c", page="/", referrer="https://someone@News.YCombinator.com:443/item?id=1"),
    # d: two events at the same millisecond, a referral and a paid click: the touch string
    # decides ("Paid search|..." sorts before "Referral|..."), not arrival order
    event("d1", 6 * MIN, user="d", page="/", referrer="https://blog.example.org/post"),
    event("d2", 6 * MIN, user="d", page="/products/1", utm_source="google", utm_medium="cpc"),
    # e: a campaign tag without a known medium, and a referrer that is not a URL (no host)
    event("e1", 7 * MIN, user="e", page="/", utm_campaign="launch", referrer="android-app:/x"),
    # b again, Google again: same hour, source and campaign as b1: 2 sessions, 1 user
    event("b3", 10 * MIN, user="b", page="/", site="s2", referrer=GOOGLE),
    event("b4", 50 * MIN, user="b", page="/", site="s2", referrer=GOOGLE),
    # f: a session from 22:55 into 23:xx counts in the hour it started
    event("f1", 55 * MIN, user="f", page="/", referrer="https://partner.io/"),
    event("f2", 70 * MIN, "purchase", user="f", page="/checkout"),
], key=lambda e: e["ts"])


def row(h: int, channel: str, source: str, campaign: str = "(none)", sessions: int = 1, users: int = 1,
        conversions: int = 0, site: str = "s1") -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, channel=channel, source=source,
                campaign=campaign, sessions=sessions, users=users, conversions=conversions)


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "acquisition_1h", "events")


def test_sessions_by_channel_source_and_campaign(tables):
    same_rows(tables["acquisition_1h"], [
        row(0, "Email", "newsletter", "Spring", conversions=1),        # a
        row(0, "Organic search", "google.com"),                        # b's first session
        row(0, "Direct", "(direct)"),                                  # b's second session
        row(0, "Social", "news.ycombinator.com"),                      # c
        row(0, "Paid search", "google"),                               # d
        row(0, "Other campaign", "(direct)", "launch"),                # e
        row(0, "Referral", "partner.io", conversions=1),               # f, started 22:55
        row(0, "Organic search", "google.com", sessions=2, site="s2"),  # b on s2, twice
    ])


def test_raw_events_keep_the_tags_and_the_referrer_host(tables):
    by_id = {r["event_id"]: r for r in tables["events"]}
    assert (by_id["a1"]["utm_source"], by_id["a1"]["utm_medium"], by_id["a1"]["utm_campaign"]) == \
        ("newsletter", "email", "Spring")
    assert by_id["c1"]["referrer_domain"] == "news.ycombinator.com"
    assert by_id["b1"]["referrer_domain"] == "google.com"
    assert by_id["e1"]["referrer_domain"] is None


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))
