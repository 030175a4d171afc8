"""The browser snippet in a real headless Chromium: a person clicks through the demo shop,
and what reaches Kafka is page views (SPA navigation included), custom events, one
anonymous id and one session — enough to walk both default funnels."""

from __future__ import annotations

import time

import httpx
import pytest

from clickpulse.ingest.snippet import snippet

from .support import KafkaTail, collector_process, funnel_length, funnel_steps_reached


@pytest.fixture(scope="module")
def collector(kafka, tmp_path_factory):
    with collector_process(tmp_path_factory.mktemp("snippet")) as c:
        yield c


@pytest.fixture
def events_tail(kafka):
    tail = KafkaTail(kafka.kafka_bootstrap_servers, kafka.events_topic)
    yield tail
    tail.close()


def test_the_served_snippet_is_small_and_cacheable(collector):
    r = httpx.get(f"{collector.url}/clickpulse.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/javascript")
    assert "max-age" in r.headers["cache-control"]
    assert len(r.content) < 2048, f"the snippet is {len(r.content)} bytes"
    assert r.content == snippet()
    assert b"//" not in r.content.replace(b"://", b"")  # comments are stripped


def _click_through(page, base: str, site: str) -> None:
    # arriving from a search result, on a tagged campaign link
    page.goto(f"{base}/demo?site={site}&utm_source=Newsletter&utm_medium=email&utm_campaign=spring",
              referer="https://www.google.com/")
    page.click("#cta-start")                      # SPA: /
    page.click("#nav-spring")                     # full page load: /landing/spring
    page.wait_for_url("**/landing/spring*")
    page.click("#cta-signup")                     # click + SPA: /signup
    page.fill("#email", "ada@example.com")
    page.select_option("#plan", "pro")
    page.click("#signup-submit")                  # form_submit + signup, SPA: /pricing
    page.click("#nav-products")                   # SPA: /products/1
    page.click("#product-2")                      # SPA: /products/2
    page.click("#add-to-cart")                    # add_to_cart, SPA: /cart
    page.click("#checkout")                       # click, SPA: /checkout
    page.click("#purchase")                       # purchase
    page.wait_for_selector("#thanks")
    page.go_back()                                # popstate: /cart
    page.wait_for_function("location.pathname == '/cart'")
    page.click("#nav-blog")                       # full page load: /blog/launch-week
    page.wait_for_url("**/blog/launch-week*")
    page.click("#video-play")                     # custom event


def test_a_visit_arrives_as_events(collector, browser, events_tail, site_id):
    context = browser.new_context()
    page = context.new_page()
    started = int(time.time() * 1000)
    _click_through(page, collector.url, site_id)
    # closing the tab fires pagehide: the last batch goes out with sendBeacon
    context.close()
    got = [r.event for r in events_tail.read(site_id, count=24, timeout=30, settle=3)]
    got.sort(key=lambda e: e["ts"])

    views = [e["page"] for e in got if e["event_type"] == "page_view"]
    assert views == ["/demo", "/", "/landing/spring", "/signup", "/pricing", "/products/1", "/products/2", "/cart",
                     "/checkout", "/cart", "/blog/launch-week"]
    custom = [(e["event_type"], e.get("properties")) for e in got if e["event_type"] != "page_view"]
    assert custom == [
        ("click", {"target": "demo_start"}),
        ("click", {"target": "landing_signup"}),
        ("form_submit", {"form": "signup"}),
        ("signup", {"plan": "pro"}),
        ("add_to_cart", {"product_id": "2", "price": 12}),
        ("click", {"target": "checkout"}),
        ("purchase", {"order_id": custom_order_id(got), "items": 1, "revenue": 12}),
        ("video_play", {"video": "launch-week"}),
    ]
    assert len({e["event_id"] for e in got}) == len(got)
    assert len({e["user_id"] for e in got}) == 1, "one anonymous id across page loads"
    assert len({e["session_id"] for e in got}) == 1, "one session"
    assert all(started - 1000 <= e["ts"] <= int(time.time() * 1000) for e in got)
    assert all(e["site_id"] == site_id and e["device"] == "desktop" and e["browser"] == "Chrome Headless"
               for e in got)
    arrival, *rest = [e for e in got if e["event_type"] == "page_view"]
    assert arrival["referrer"] == "https://www.google.com/"
    assert (arrival["utm_source"], arrival["utm_medium"], arrival["utm_campaign"]) == ("newsletter", "email", "spring")
    # navigation within the site (SPA or full page load) is no referral, and carries no tags
    assert not any("referrer" in e or "utm_source" in e for e in rest)
    _assert_funnels_complete(got)


def custom_order_id(events: list[dict]) -> str:
    return next(e["properties"]["order_id"] for e in events if e["event_type"] == "purchase")


def _assert_funnels_complete(events: list[dict]) -> None:
    for funnel, reached in funnel_steps_reached(events).items():
        assert reached == funnel_length(funnel), f"funnel {funnel} stops after step {reached}"


def test_a_new_session_starts_after_30_minutes_of_inactivity(collector, browser, events_tail, site_id):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{collector.url}/demo?site={site_id}")
    page.evaluate("clickpulse.track('ping', {n: 1})")
    # the tab sat idle for 31 minutes
    page.evaluate("localStorage.setItem('cp_seen', String(Date.now() - 31 * 60 * 1000))")
    page.evaluate("clickpulse.track('ping', {n: 2})")
    page.evaluate("clickpulse.track('ping', {n: 3})")
    page.evaluate("clickpulse.flush()")
    got = sorted((r.event for r in events_tail.read(site_id, count=4, timeout=30)), key=lambda e: e["ts"])
    context.close()
    pings = {e["properties"]["n"]: e for e in got if e["event_type"] == "ping"}
    assert pings[1]["session_id"] == next(e for e in got if e["event_type"] == "page_view")["session_id"]
    assert pings[2]["session_id"] != pings[1]["session_id"]
    assert pings[3]["session_id"] == pings[2]["session_id"]
    assert len({e["user_id"] for e in got}) == 1


def _posts(collector) -> int:
    """POST /collect requests the collector has answered so far."""
    text = httpx.get(f"{collector.url}/metrics").text
    return int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("clickpulse_collector_requests_total") and 'route="/collect"' in line))


def test_events_are_batched_and_flushed_periodically(collector, browser, events_tail, site_id):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{collector.url}/demo?site={site_id}")
    before = _posts(collector)
    for i in range(3):
        page.evaluate(f"clickpulse.track('tick', {{i: {i}}})")
    page.wait_for_timeout(1000)
    assert _posts(collector) == before  # nothing is sent per event
    assert len(events_tail.read(site_id, count=4, timeout=20)) == 4
    assert _posts(collector) == before + 1  # one batch, after the 5 s flush timer
    for i in range(12):
        page.evaluate(f"clickpulse.track('burst', {{i: {i}}})")
    page.wait_for_timeout(1000)
    assert _posts(collector) == before + 2  # a full batch (10) goes at once; 2 still wait
    context.close()  # pagehide: the rest goes with sendBeacon
    assert len(events_tail.read(site_id, count=16, timeout=20)) == 16
    assert _posts(collector) == before + 3
