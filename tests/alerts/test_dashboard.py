"""The Alerts dashboard (superset/assets/dashboards/alerts.yaml): its charts, with the query
each one saves, list the open alerts and the last 7 days of alerts from the `alerts` table
(view alert_board), and a site with none reads so (state ok / quiet, 0 open), never as an
empty "No results" table."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from alert_records import UTC, alert, remove_alerts, write_alert
from clickpulse.dashboards.client import admin_session
from clickpulse.stack import postgres

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(UTC).replace(second=0, microsecond=0)


@pytest.fixture(scope="module")
def admin(synced):
    with admin_session(synced) as sp:
        yield sp


@pytest.fixture
def three_alerts(superset, site_id):
    """Firing now; fired an hour ago and resolved; fired 8 days ago (older than the week)."""
    records = [alert("traffic_drop", site_id, NOW - dt.timedelta(minutes=3)),
               {**alert("bot_flood", site_id, NOW - dt.timedelta(hours=1)), "state": "resolved",
                "resolved_at": (NOW - dt.timedelta(minutes=40)).isoformat()},
               alert("purchases_stalled", site_id, NOW - dt.timedelta(days=8), state="resolved")]
    for r in records:
        write_alert(superset, r)
    yield records
    remove_alerts(superset, *(r["alert_id"] for r in records))


def rows_of(sp, slice_name: str, site_id: str) -> list[dict]:
    """The chart's saved query (as the dashboard runs it), narrowed to the test's site."""
    chart = sp.list("chart", filters=[{"col": "slice_name", "opr": "eq", "value": slice_name}],
                    columns=["id", "slice_name"])[0]
    qc = json.loads(sp.get(f"/api/v1/chart/{chart['id']}")["result"]["query_context"])
    body = copy.deepcopy(qc)
    for q in body["queries"]:
        q["filters"].append({"col": "site_id", "op": "IN", "val": [site_id]})
    body.update(force=True, result_format="json", result_type="full")
    return sp.post("/api/v1/chart/data", body)["result"][0]["data"]


@pytest.fixture
def site_with_traffic(superset, site_id):
    """A site that sent events today (one minute of events_per_minute) and has no alert."""
    minute = NOW - dt.timedelta(minutes=5)
    with postgres.connect(superset, "admin", autocommit=True) as c:
        c.execute("INSERT INTO events_per_minute VALUES (%s, %s, %s, 'page_view', 'DE', 'desktop', 'free', 12)",
                  (minute, minute + dt.timedelta(minutes=1), site_id))
    yield site_id
    with postgres.connect(superset, "admin", autocommit=True) as c:
        c.execute("DELETE FROM events_per_minute WHERE site_id = %s", (site_id,))


def test_the_alerts_dashboard_lists_open_and_recent_alerts(admin, three_alerts, site_id):
    firing, resolved, old = three_alerts
    dashboard = admin.list("dashboard", filters=[{"col": "slug", "opr": "eq", "value": "alerts"}],
                           columns=["id", "dashboard_title"])
    assert [d["dashboard_title"] for d in dashboard] == ["Alerts"]

    open_rows = rows_of(admin, "Open alerts", site_id)
    assert [(r["rule"], r["severity"], r["value"], r["expected_low"], r["message"]) for r in open_rows] == [
        ("traffic_drop", "critical", 0.0, 1.0, firing["message"])]

    recent = rows_of(admin, "Alerts of the last 7 days", site_id)
    # newest first; the alert of 8 days ago is outside the week
    assert [(r["rule"], r["state"]) for r in recent] == [("traffic_drop", "firing"), ("bot_flood", "resolved")]
    assert recent[1]["resolved_at"] is not None and recent[0]["resolved_at"] is None


def test_a_site_without_alerts_reads_as_such_not_as_no_results(admin, site_with_traffic):
    site = site_with_traffic
    assert [(r["rule"], r["state"], r["message"]) for r in rows_of(admin, "Open alerts", site)] == [
        ("—", "ok", "no alert open")]
    assert [(r["rule"], r["state"], r["message"]) for r in rows_of(admin, "Alerts of the last 7 days", site)] == [
        ("—", "quiet", "no alert in the last 7 days")]
    assert rows_of(admin, "Alerts open now", site) == [{"open_alerts": 0}]


def test_the_big_number_counts_the_open_alerts(admin, three_alerts, site_id):
    assert rows_of(admin, "Alerts open now", site_id) == [{"open_alerts": 1}]
