"""The Live page in a real Chromium: signing in through the form, a number on the page, and
that number changing without a reload when the live table changes."""

from __future__ import annotations

import uuid

import pytest

from .conftest import LiveSite, remove_rows, set_users, write_live_rows

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
def page_site(synced):
    site = LiveSite(f"test-{uuid.uuid4().hex[:10]}", 17, "/pricing")
    write_live_rows(synced, site)
    yield site
    remove_rows(synced, site.site_id)


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
