"""The Live page in a real Chromium: signing in through the form, a number on the page, and
that number changing without a reload when the live table changes; the alert banner shown
while an alert is open for the site and gone when it resolves."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from alert_records import alert, remove_alerts, write_alert
from clickpulse.alerts.rules import EVENT_TYPES

from .conftest import LiveSite, remove_rows, set_users, write_event_minutes, write_live_rows

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def page_site(synced):
    site = LiveSite(f"test-{uuid.uuid4().hex[:10]}", 17, "/pricing")
    write_live_rows(synced, site)
    yield site
    remove_rows(synced, site.site_id)


def signed_in_page(browser, gateway: str, settings, path: str, width: int = 1400):
    """A new browser context signed in as admin through the login form, at `path`."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(gateway + "/login")
    page.fill("#username", settings.superset_admin_user)
    page.fill("#password", settings.superset_admin_password)
    page.click("button[type=submit]")
    page.goto(gateway + path)
    return context, page


def test_the_live_page_shows_a_number_and_updates_it(browser, gateway, synced, page_site, screenshots_dir):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(gateway + "/?site=" + page_site.site_id)
    assert page.url.endswith("/login")   # not signed in: the form
    page.fill("#username", synced.superset_admin_user)
    page.fill("#password", synced.superset_admin_password)
    page.click("button[type=submit]")
    page.goto(gateway + "/?site=" + page_site.site_id)

    users = page.locator("[data-testid=users-now]")
    users.filter(has_text="17").wait_for(timeout=15_000)
    assert page.locator("#users-tag").inner_text() == "provisional"
    assert page.locator("#superset-live").get_attribute("href").endswith("/superset/dashboard/live/")
    assert "/pricing" in page.locator("#top-pages").inner_text()

    set_users(synced, page_site, 23)
    # pushed, not reloaded: the same document shows the new number
    page.evaluate("window.__same_document = true")
    page.wait_for_function("document.querySelector('[data-testid=users-now]').textContent === '23'", timeout=15_000)
    assert page.evaluate("window.__same_document") is True
    page.screenshot(path=str(screenshots_dir / "gateway-live-page.png"), full_page=True)
    context.close()


def test_the_live_page_shows_a_banner_while_an_alert_is_open_for_the_site(
        browser, gateway, synced, page_site, screenshots_dir):
    context, page = signed_in_page(browser, gateway, synced, "/?site=" + page_site.site_id)
    page.locator("[data-testid=users-now]").filter(has_text="17").wait_for(timeout=15_000)
    banner = page.locator("[data-testid=alert-banner]")
    assert banner.is_hidden()

    minute = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
    firing = alert("purchases_stalled", page_site.site_id, minute,
                   message=f"purchases per minute 0 < 1 for 10 minutes on {page_site.site_id}")
    write_alert(synced, firing)
    try:
        banner.wait_for(state="visible", timeout=15_000)
        assert banner.inner_text().splitlines() == [
            "1 alert open",
            f"critical · purchases_stalled on {page_site.site_id}: purchases per minute 0 < 1 for 10 minutes on "
            f"{page_site.site_id} (since {minute + dt.timedelta(minutes=1):%H:%M} UTC)"]
        page.screenshot(path=str(screenshots_dir / "gateway-alert-banner.png"))
        # resolved: the banner goes, without a reload
        page.evaluate("window.__same_document = true")
        write_alert(synced, {**firing, "state": "resolved", "resolved_at": (minute + dt.timedelta(minutes=3)).isoformat()})
        banner.wait_for(state="hidden", timeout=15_000)
        assert page.evaluate("window.__same_document") is True
    finally:
        remove_alerts(synced, firing["alert_id"])
        context.close()


@pytest.mark.parametrize("width", [1400, 1600])
def test_every_card_of_the_live_page_holds_its_table(browser, gateway, synced, page_site, width):
    # three minutes of every event type with six-digit counts: the widest the events table gets
    write_event_minutes(synced, page_site.site_id, EVENT_TYPES, 123_456)
    context, page = signed_in_page(browser, gateway, synced, "/?site=" + page_site.site_id, width)
    page.wait_for_function("document.querySelectorAll('#events-by-type tr').length === %d" % (len(EVENT_TYPES) + 3),
                           timeout=15_000)
    overflowing = page.evaluate("""[...document.querySelectorAll('main section')]
        .filter((s) => s.scrollWidth > s.clientWidth).map((s) => s.querySelector('h2').textContent)""")
    assert overflowing == []
    context.close()
