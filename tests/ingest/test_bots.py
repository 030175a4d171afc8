"""The bot rules (clickpulse.bots) on their own: the pinned crawler list, the exceptions,
and the per-second rate rule."""

from __future__ import annotations

from clickpulse import bots

CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
          "Safari/537.36")


def test_known_crawlers_and_headless_browsers_are_bots():
    for ua in ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
               "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
               CHROME.replace("Chrome/", "HeadlessChrome/")):
        assert bots.user_agent_reason(ua) == bots.USER_AGENT, ua


def test_browsers_and_servers_http_libraries_are_not():
    for ua in (CHROME, "python-httpx/0.28.1", "curl/8.5.0", "okhttp/4.12.0", None, ""):
        assert bots.user_agent_reason(ua) is None, ua


def test_rate_rule_marks_what_exceeds_the_limit_within_one_second():
    rule = bots.RateRule(limit=3)
    marks = [rule.over(1_000 + i, "u1") for i in range(5)]
    assert marks == [False, False, False, True, True]
    assert rule.over(1_999, "u2") is False, "another user has a count of its own"
    assert rule.over(2_000, "u1") is False, "a new second starts from zero"


def test_rate_rule_counts_every_key_of_an_event():
    rule = bots.RateRule(limit=2)
    assert [rule.over(0, f"u{i}", "same-address") for i in range(3)] == [False, False, True]
    assert rule.over(0, "u9", None) is False


def test_the_address_is_hashed():
    h = bots.ip_hash("203.0.113.9")
    assert h and "203.0.113.9" not in h and h == bots.ip_hash("203.0.113.9")
    assert bots.ip_hash(None) is None
