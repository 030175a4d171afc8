"""Fixtures for the live gateway tests: the real PostgreSQL and Superset of the local stack,
`clickpulse dashboards sync` run once, a site viewer bound to a test site, live rows for two
test sites written as the job's sinks write them, and `clickpulse gateway` itself started
from the command line on a free port."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from clickpulse.dashboards.client import admin_session
from clickpulse.dashboards.sync import bind_site_viewer
from clickpulse.stack import postgres
from suites import unbind_site_viewer
from conftest import CLI, ROOT

UTC = dt.timezone.utc


@dataclass
class LiveSite:
    site_id: str
    users: int          # users right now, as written
    page: str           # its top page now


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_live_rows(settings, site: LiveSite, replace_users: bool = False) -> None:
    """The rows the job's provisional sinks write for an open window, as the writer role, in
    one transaction; `replace_users`: the site's users move to the newest bucket, as the job
    moves them (it deletes the buckets they left)."""
    now = dt.datetime.now(UTC)
    bucket = now.replace(microsecond=0, second=now.second - now.second % 10)
    minute = now.replace(second=0, microsecond=0)
    hour = now.replace(minute=0, second=0, microsecond=0)
    with postgres.connect(settings, "writer") as c:
        if replace_users:
            c.execute("delete from active_users_provisional where site_id = %s", (site.site_id,))
        c.execute("insert into active_users_provisional values (%s, %s, 'DE', 'desktop', 'free', %s) "
                  "on conflict (bucket, site_id, country, device, plan) do update set users = excluded.users",
                  (bucket, site.site_id, site.users))
        c.execute("insert into events_per_minute_provisional values (%s, %s, 'page_view', 'DE', 'desktop', 'free', "
                  "%s) on conflict (window_start, site_id, event_type, country, device, plan, button, experiment) "
                  "do update set events = excluded.events", (minute, site.site_id, site.users * 3))
        c.execute("insert into top_pages_provisional values (%s, %s, %s, %s, %s) on conflict (window_start, "
                  "site_id, page) do update set views = excluded.views", (minute, site.site_id, site.page, 50, 9))
        c.execute("insert into funnel_conversions values (%s, %s, 'signup', 1, 'landing', %s) on conflict "
                  "(hour_start, site_id, funnel, step) do update set users = excluded.users",
                  (hour, site.site_id, site.users))


def write_event_minutes(settings, site_id: str, event_types: tuple[str, ...], events: int) -> None:
    """The open minute and the two before it, each with `events` of every type: the Live
    page's widest table (three minute columns and their badges)."""
    minute = dt.datetime.now(UTC).replace(second=0, microsecond=0)
    with postgres.connect(settings, "writer") as c:
        for back in range(3):
            for event_type in event_types:
                c.execute("insert into events_per_minute_provisional values (%s, %s, %s, 'DE', 'desktop', 'free', "
                          "%s) on conflict do nothing",
                          (minute - dt.timedelta(minutes=back), site_id, event_type, events))


def set_users(settings, site: LiveSite, users: int) -> None:
    """Users right now changes: every row of the site's newest bucket moves to `users`."""
    site.users = users
    write_live_rows(settings, site, replace_users=True)


def remove_rows(settings, site_id: str) -> None:
    with postgres.connect(settings, "admin", autocommit=True) as c:
        for table in ("active_users_provisional", "events_per_minute_provisional", "top_pages_provisional",
                      "funnel_conversions"):
            c.execute(f"delete from {table} where site_id = %s", (site_id,))


@pytest.fixture(scope="session")
def live_sites(synced):
    """Two test sites with live rows; the first is the site viewer's."""
    sites = [LiveSite(f"test-{uuid.uuid4().hex[:10]}", users, f"/page-{i}") for i, users in enumerate((41, 73))]
    for s in sites:
        write_live_rows(synced, s)
    yield sites
    for s in sites:
        remove_rows(synced, s.site_id)


@pytest.fixture(scope="session")
def site_viewer(synced, live_sites):
    """A Superset user bound to the first test site by row-level security, through the same
    code path as the demo's site viewer."""
    site = live_sites[0].site_id
    username, password = "test_gateway_site_viewer", uuid.uuid4().hex
    with admin_session(synced) as sp:
        bind_site_viewer(sp, username, password, site)
    yield username, password, site
    unbind_site_viewer(synced, username, site)


@pytest.fixture(scope="session")
def gateway(synced):
    """`clickpulse gateway` on a free port, ticking every 250 ms; its base URL."""
    port = _free_port()
    env = {**os.environ, "GATEWAY_TICK_MS": "250"}
    log = open(ROOT / ".clickpulse" / "logs" / f"test-gateway-{port}.log", "w")
    proc = subprocess.Popen([*CLI, "gateway", "--port", str(port)], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"clickpulse gateway exited {proc.returncode}: see {log.name}"
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the gateway did not become healthy: see {log.name}"
        time.sleep(0.3)
    yield url
    proc.terminate()
    assert proc.wait(timeout=20) == 0
    log.close()


@pytest.fixture(scope="session")
def screenshots_dir():
    path = ROOT / "reports" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
