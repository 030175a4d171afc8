"""Fixtures for the dashboard tests: the real Superset and PostgreSQL of the local stack,
`clickpulse dashboards sync` run once, metric rows seeded under test site ids, and a
headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from clickpulse.dashboards.client import admin_session
from clickpulse.dashboards.sync import bind_site_viewer
from suites import unbind_site_viewer
from conftest import ROOT

from . import seed

SCREENSHOTS = ROOT / "reports" / "screenshots"
DASHBOARDS = {"live": "Live", "trends": "Trends", "funnels": "Funnels", "pipeline-health": "Pipeline health",
              "journeys": "Journeys", "retention": "Retention", "alerts": "Alerts"}


@pytest.fixture(scope="session")
def seeded(synced):
    """Two test sites with data in every metric table; the first is the one a site-bound
    viewer is bound to, the second must stay invisible to that viewer."""
    sites = [f"test-{uuid.uuid4().hex[:10]}" for _ in range(2)]
    seeded_sites = [seed.seed_site(synced, s, seed=i) for i, s in enumerate(sites)]
    yield seeded_sites
    for s in sites:
        seed.remove_site(synced, s)


@pytest.fixture(scope="session")
def admin(synced):
    with admin_session(synced) as sp:
        yield sp


@pytest.fixture(scope="session")
def site_viewer(synced, seeded, admin):
    """A viewer bound to the first seeded site by row-level security, created through the
    same code path as the demo's SUPERSET_SITE_VIEWER_*; removed afterwards."""
    site = seeded[0].site_id
    # One fixed user, re-bound to each run's site: Superset cannot delete a user who has
    # used a dashboard (its filter state references it), so it is deactivated instead.
    username, password = "test_site_viewer", uuid.uuid4().hex
    bind_site_viewer(admin, username, password, site)
    yield username, password, site
    unbind_site_viewer(synced, username, site)


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
