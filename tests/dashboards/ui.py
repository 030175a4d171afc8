"""Driving Superset's web UI in headless Chromium, the way a person uses it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

# A chart counts as rendered when its container holds what its plugin draws with data:
# ECharts (time series, bars, pies, the big number's trend line) draws on a canvas,
# tables have body rows, big numbers a header line. Empty states and spinners are svgs.
RENDERED = "canvas, table tbody tr, .header-line"
LOGIN_ATTEMPTS = 3
ERROR_TEXTS = ("Unexpected error", "An error occurred", "Data error", "Error:", "No results",
               "You don't have access", "Access is denied", "Missing dataset")


@dataclass
class ChartState:
    name: str
    viz_type: str
    rendered: bool
    text: str

    @property
    def error(self) -> str | None:
        for t in ERROR_TEXTS:
            if t.lower() in self.text.lower():
                return t
        return None


@dataclass
class Session:
    page: object
    base_url: str
    failed_requests: list[tuple[int, str]] = field(default_factory=list)


def login(browser, base_url: str, username: str, password: str) -> Session:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    session = Session(page, base_url.rstrip("/"))

    def on_response(r):
        if "/api/v1/chart/data" in r.url and r.status >= 400:
            session.failed_requests.append((r.status, r.url))

    page.on("response", on_response)
    # Superset now and then fails to record a login ("Failed to add user to db session:
    # Class 'werkzeug.local.LocalProxy' is not mapped" in its log) and sends the browser
    # back to the form; a person signs in again, and so does the test, at most twice more.
    for attempt in range(LOGIN_ATTEMPTS):
        page.goto(session.base_url + "/login/")
        page.fill("#username", username)
        page.fill("#password", password)
        page.keyboard.press("Enter")
        try:
            page.wait_for_url("**/superset/welcome/**", timeout=30_000)
            return session
        except PlaywrightTimeoutError:
            if attempt == LOGIN_ATTEMPTS - 1:
                raise
    return session


def open_dashboard(session: Session, slug: str) -> None:
    session.page.goto(f"{session.base_url}/superset/dashboard/{slug}/")
    session.page.wait_for_selector('[data-test="chart-grid-component"]', timeout=60_000)


def chart_states(session: Session) -> list[ChartState]:
    return [ChartState(**s) for s in session.page.evaluate(
        """(rendered) => Array.from(document.querySelectorAll('[data-test="chart-grid-component"]')).map(el => {
            const box = el.querySelector('[data-test="chart-container"]');
            const loading = el.querySelector('.loading, [data-test="loading-indicator"]');
            return {
              name: el.getAttribute('data-test-chart-name'),
              viz_type: el.getAttribute('data-test-viz-type'),
              rendered: !!(box && !loading && box.querySelector(rendered)),
              text: (box ? box.innerText : el.innerText) || '',
            };
        })""", RENDERED)]


def wait_for_charts(session: Session, timeout: float = 90) -> list[ChartState]:
    """Every chart of the open dashboard either rendered or failed; returns their states."""
    deadline = time.monotonic() + timeout
    states = chart_states(session)
    while time.monotonic() < deadline:
        states = chart_states(session)
        if states and all(s.rendered or s.error for s in states):
            # charts draw in animation frames: give the last one a moment to finish
            session.page.wait_for_timeout(1500)
            return chart_states(session)
        session.page.wait_for_timeout(500)
    return states


def screenshot(session: Session, path) -> None:
    """The whole dashboard. Playwright's full_page capture resizes the viewport and can
    catch Superset mid-relayout (a blank grid), so grow the viewport first, let the charts
    redraw, then capture."""
    page = session.page
    height = page.evaluate("() => Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": max(height, 1000)})
    page.wait_for_timeout(2500)
    wait_for_charts(session, timeout=30)
    page.screenshot(path=str(path))


def chart_text(session: Session, name: str) -> str:
    return session.page.evaluate(
        """(name) => {
            const el = document.querySelector(`[data-test="chart-grid-component"][data-test-chart-name="${name}"]`);
            const box = el && el.querySelector('[data-test="chart-container"]');
            return box ? box.innerText : null;
        }""", name) or ""


def table_column(session: Session, chart_name: str, column: str) -> list[str]:
    """The cells of one column of a table chart (its header text names the column). The
    table plugin draws a sticky header table and a separate body table."""
    return session.page.evaluate(
        """([name, column]) => {
            const el = document.querySelector(`[data-test="chart-grid-component"][data-test-chart-name="${name}"]`);
            if (!el) return [];
            const headers = Array.from(el.querySelectorAll('th')).map(th => th.innerText.trim());
            const i = headers.indexOf(column);
            if (i < 0) return [];
            return Array.from(el.querySelectorAll('tbody tr'))
              .map(tr => tr.querySelectorAll('td')[i])
              .filter(td => td).map(td => td.innerText.trim());
        }""", [chart_name, column])


def table_header(session: Session, chart_name: str) -> list[str]:
    """The column headers of a table chart."""
    return session.page.evaluate(
        """(name) => {
            const el = document.querySelector(`[data-test="chart-grid-component"][data-test-chart-name="${name}"]`);
            return el ? Array.from(el.querySelectorAll('th')).map(th => th.innerText.trim()) : [];
        }""", chart_name)
