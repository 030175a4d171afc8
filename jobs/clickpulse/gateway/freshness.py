"""`clickpulse bench freshness`: how long an event takes to show.

Marker events (one new user each, on a site of their own) are produced to the events
topic at random moments during the demo's normal traffic. Each is timed from the moment
Kafka acknowledged it to (a) the row in PostgreSQL that counts it (`live_users_now`, read
by the read-only role every 50 ms) and (b) the changed number in the DOM of the gateway's
Live page in a real Chromium (a MutationObserver stamps every change of "users right now"
with the browser's clock, the same machine's clock as the producer's).
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Producer

from .. import reports
from ..dashboards.authoring import launch_chromium
from ..dashboards.bench import percentile
from ..errors import ClickpulseError
from ..ingest.producer import producer_config
from ..settings import Settings
from ..stack import postgres

OBSERVER = """() => {
  window.__changes = [];
  const el = document.querySelector('[data-testid=users-now]');
  new MutationObserver(() => window.__changes.push([el.textContent, Date.now()]))
    .observe(el, {childList: true, characterData: true, subtree: true});
}"""


# The Superset Live dashboard's "Users right now" big number: its chart is re-rendered on
# every refresh, so the observer watches the chart's grid cell and reads the number anew.
SUPERSET_CHART = "Users right now"
SUPERSET_OBSERVER = """(name) => {
  window.__changes = [];
  const cell = document.querySelector(`[data-test="chart-grid-component"][data-test-chart-name="${name}"]`);
  let last = null;
  const record = () => {
    const el = cell.querySelector('.header-line');
    const text = el ? el.textContent.trim() : null;
    if (text !== last) { last = text; window.__changes.push([text, Date.now()]); }
  };
  new MutationObserver(record).observe(cell, {childList: true, characterData: true, subtree: true});
  record();
}"""


@dataclass
class Marker:
    n: int                 # the site's users right now once this marker counts
    produced_ms: float     # Kafka acknowledged it
    db_ms: float | None = None
    page_ms: float | None = None
    superset_ms: float | None = None

    @property
    def to_superset(self) -> float | None:
        return None if self.superset_ms is None else self.superset_ms - self.produced_ms

    @property
    def to_db(self) -> float | None:
        return None if self.db_ms is None else self.db_ms - self.produced_ms

    @property
    def to_page(self) -> float | None:
        return None if self.page_ms is None else self.page_ms - self.produced_ms


@dataclass
class Result:
    site: str
    markers: list[Marker] = field(default_factory=list)

    def stats(self, attr: str) -> dict:
        values = [getattr(m, attr) for m in self.markers if getattr(m, attr) is not None]
        return {"seen": len(values), "of": len(self.markers), "p50_ms": percentile(values, 50),
                "p95_ms": percentile(values, 95), "p99_ms": percentile(values, 99),
                "max_ms": max(values, default=0.0)}


def produce(producer: Producer, settings: Settings, site: str) -> float:
    """One marker event now; returns the time Kafka acknowledged it (epoch ms)."""
    user = f"fresh-{uuid.uuid4().hex[:12]}"
    event = {"event_id": uuid.uuid4().hex, "event_type": "page_view", "site_id": site, "user_id": user,
             "ts": int(time.time() * 1000), "page": "/freshness-marker", "device": "desktop", "country": "DE",
             "plan": "free"}
    acked: list = []
    producer.produce(settings.events_topic, orjson.dumps(event), user.encode(),
                     on_delivery=lambda err, _msg: acked.append((err, time.time() * 1000)))
    while not acked:
        producer.poll(0.005)
    err, at = acked[0]
    if err is not None:
        raise ClickpulseError(f"Kafka refused the marker event: {err} (KAFKA_BOOTSTRAP_SERVERS)")
    return at


def db_users(conn, site: str) -> int:
    row = conn.execute("SELECT coalesce(sum(users), 0) FROM live_users_now WHERE site_id = %s", (site,)).fetchone()
    return int(row[0])


def open_live_page(playwright, settings: Settings, gateway_url: str, site: str):
    browser = launch_chromium(playwright, settings)
    page = browser.new_page()
    page.goto(gateway_url + "/login")
    page.fill("#username", settings.superset_admin_user)
    page.fill("#password", settings.superset_admin_password)
    page.click("button[type=submit]")
    page.wait_for_url(gateway_url + "/")
    page.goto(f"{gateway_url}/?site={site}")
    page.wait_for_selector("#status:text-matches('live')", timeout=30_000)
    page.evaluate(OBSERVER)
    return browser, page


def open_superset_live(playwright, settings: Settings, username: str, password: str):
    """The Superset Live dashboard, signed in as a viewer bound to the marker site (so its
    "Users right now" counts only the markers)."""
    browser = launch_chromium(playwright, settings)
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    base = settings.superset_url.rstrip("/")
    page.goto(base + "/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/superset/welcome/**", timeout=60_000)
    page.goto(base + "/superset/dashboard/live/")
    page.wait_for_selector(f'[data-test="chart-grid-component"][data-test-chart-name="{SUPERSET_CHART}"] .header-line',
                           timeout=120_000)
    page.evaluate(SUPERSET_OBSERVER, SUPERSET_CHART)
    return browser, page


def page_seen(page, n: int) -> float | None:
    """When the page first showed `n` users (browser epoch ms), if it has."""
    for text, at in page.evaluate("window.__changes"):
        if text.replace(",", "") == str(n):
            return float(at)
    return None


def run(settings: Settings, gateway_url: str, markers: int, gap_s: tuple[float, float], timeout_s: float,
        progress=None, superset_login: tuple[str, str] | None = None, site: str | None = None) -> Result:
    """Send `markers` markers, each after a random gap, and time each to the database and the page."""
    # lazy: Playwright is an optional dependency (the test extra); only this bench drives a browser
    from playwright.sync_api import sync_playwright

    site = site or new_site()
    result = Result(site)
    producer = Producer(producer_config(settings, "clickpulse-bench-freshness", **{"linger.ms": 0}))
    task = progress.add_task("marker events", total=markers) if progress else None
    with sync_playwright() as p, postgres.connect(settings, "reader", autocommit=True) as conn:
        # the site must exist on the page before the first marker: a first one it was not timed for
        first = produce(producer, settings, site)
        _wait(lambda: db_users(conn, site) >= 1, timeout_s)
        browser, page = open_live_page(p, settings, gateway_url, site)
        page.wait_for_function("document.querySelector('[data-testid=users-now]').textContent === '1'",
                               timeout=timeout_s * 1000)
        del first
        superset = open_superset_live(p, settings, *superset_login) if superset_login else None
        try:
            for i in range(markers):
                time.sleep(random.uniform(*gap_s))   # a random phase against the job's bundles and the ticks
                marker = Marker(i + 2, produce(producer, settings, site))
                result.markers.append(marker)
                deadline = time.time() + timeout_s
                while time.time() < deadline and (marker.db_ms is None or marker.page_ms is None or
                                                  (superset and marker.superset_ms is None)):
                    if marker.db_ms is None and db_users(conn, site) >= marker.n:
                        marker.db_ms = time.time() * 1000
                    if marker.page_ms is None:
                        marker.page_ms = page_seen(page, marker.n)
                    if superset and marker.superset_ms is None:
                        marker.superset_ms = page_seen(superset[1], marker.n)
                    time.sleep(0.05)
                if task is not None:
                    progress.advance(task)
        finally:
            browser.close()
            if superset:
                superset[0].close()
    return result


def new_site() -> str:
    return f"fresh-{uuid.uuid4().hex[:8]}"


def _wait(predicate, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while not predicate():
        if time.time() > deadline:
            raise ClickpulseError(f"the marker site did not appear in live_users_now within {timeout_s:.0f} s: "
                                  "is the metric job running? (`clickpulse jobs list`)")
        time.sleep(0.1)


def plot(result: Result):
    fig = reports.new_figure(7, 3.5)
    ax = fig.subplots()
    xs = range(1, len(result.markers) + 1)
    ax.plot(xs, [(m.to_db or 0) / 1000 for m in result.markers], marker="o", label="event → PostgreSQL")
    ax.plot(xs, [(m.to_page or 0) / 1000 for m in result.markers], marker="o", label="event → Live page DOM")
    if any(m.superset_ms for m in result.markers):
        ax.plot(xs, [(m.to_superset or 0) / 1000 for m in result.markers], marker="o",
                label="event → Superset Live dashboard DOM")
    ax.axhline(5, color="grey", linestyle="--", label="5 s budget")
    ax.set(xlabel="marker", ylabel="seconds after Kafka's ack", title="freshness of users right now")
    ax.legend(fontsize=7)
    return fig
