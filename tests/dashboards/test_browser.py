"""The dashboards in a real browser (Debian's Chromium, headless), as the people who use
them: Live refreshes itself and says what is provisional, viewers stay out of SQL Lab, and
a viewer bound to one site sees only that site. That every chart of every dashboard renders
with data, for each kind of user, is test_day_one's."""

from __future__ import annotations

import re
import time

import pytest

from . import seed, ui

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_live_dashboard_refreshes_itself_when_new_data_arrives(browser, synced, seeded, site_viewer):
    """New provisional users show up on an open Live dashboard without a reload (its own
    5 s refresh, answered from a cache whose entries live 5 s), seen by a viewer bound to
    the test site so that no other traffic can change the number."""
    username, password, site = site_viewer
    session = ui.login(browser, synced.superset_url, username, password)
    ui.open_dashboard(session, "live")
    ui.wait_for_charts(session)
    before = ui.chart_text(session, "Users right now")
    shown = f"{seed.users_now(synced, site):,}"
    assert shown in before, f"Users right now shows {before!r}, live_users_now says {shown}"
    assert "provisional" in before, f"Users right now does not say it is provisional: {before!r}"
    session.page.evaluate("window.__not_reloaded = true")

    expected = f"{seed.add_users_now(synced, site, 4321):,}"
    started = time.monotonic()
    deadline = started + 20  # refresh period 5 s + cache entry 5 s, with room for a slow machine
    now_text = before
    while time.monotonic() < deadline and expected not in now_text:
        session.page.wait_for_timeout(500)
        now_text = ui.chart_text(session, "Users right now")
    assert expected in now_text, f"Users right now still shows {now_text!r} 20 s after it became {expected}"
    assert session.page.evaluate("window.__not_reloaded === true"), "the page was reloaded"
    session.page.context.close()


def test_live_dashboard_says_which_numbers_are_provisional(browser, synced, seeded):
    s = synced
    session = ui.login(browser, s.superset_url, s.superset_viewer_user, s.superset_viewer_password)
    ui.open_dashboard(session, "live")
    ui.wait_for_charts(session)
    body = session.page.inner_text("body")
    assert "Provisional" in body, "the Live dashboard does not explain provisional numbers"
    assert "provisional" in ui.chart_text(session, "Events in the open minute (provisional)")
    assert "provisional" in ui.table_header(session, "Top pages now"), "Top pages now has no provisional column"
    assert set(ui.table_column(session, "Top pages now", "provisional")) <= {"true", "false"}
    link = session.page.locator('a[href$="/live"]', has_text="live page")
    assert link.count() == 1, "no link to the live gateway page"
    session.page.context.close()


def test_viewer_cannot_open_sql_lab(browser, synced):
    s = synced
    session = ui.login(browser, s.superset_url, s.superset_viewer_user, s.superset_viewer_password)
    page = session.page
    assert page.locator('[data-test="navbar-top"]').get_by_text("SQL", exact=True).count() == 0, \
        "the viewer's menu offers SQL Lab"
    page.goto(s.superset_url + "/sqllab/")
    page.wait_for_load_state("networkidle")
    assert "/sqllab" not in page.url or page.get_by_text(re.compile("access|permission", re.I)).count() > 0, \
        f"the viewer reached SQL Lab at {page.url}"
    assert page.locator(".ace_editor, [data-test='sql-editor-tabs']").count() == 0, "a SQL editor is open"
    session.page.context.close()


def test_site_bound_viewer_sees_only_its_site(browser, synced, seeded, site_viewer, screenshots):
    username, password, site = site_viewer
    other = seeded[1].site_id
    session = ui.login(browser, synced.superset_url, username, password)
    ui.open_dashboard(session, "live")
    states = ui.wait_for_charts(session)
    ui.screenshot(session, screenshots / "live-site-viewer.png")
    assert all(c.rendered for c in states), [c.name for c in states if not c.rendered]

    sites = set(ui.table_column(session, "Top pages now", "site_id"))
    assert sites == {site}, f"the viewer bound to {site} sees pages of {sites}"
    page_text = session.page.inner_text("body")
    assert other not in page_text, f"{other} appears on the dashboard of a viewer bound to {site}"
    session.page.context.close()
