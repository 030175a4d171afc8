"""The Live page's alert banner: an alert open (state firing) in the `alerts` table reaches,
through the same tick, the viewers who may see its site, and only them; it goes away when
the alert resolves. Alert rows are written as the evaluator's sink writes them."""

from __future__ import annotations

import datetime as dt

import pytest

from alert_records import alert, remove_alerts, write_alert

from .test_gateway import login, read_events

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)


@pytest.fixture
def open_alerts(synced, live_sites):
    """Firing: a traffic drop on the site viewer's site, a bot flood on the other test site,
    and a pipeline alert (site 'all')."""
    mine, other = (s.site_id for s in live_sites)
    records = [alert("traffic_drop", mine, NOW, kind="anomaly", severity="warning",
                     message=f"events per minute 3 below the expected 80 .. 140 on {mine}"),
               alert("bot_flood", other, NOW, kind="bot_flood", message=f"bot events 900 > 50 on {other}"),
               alert("job_not_running", "all", NOW, kind="pipeline", message="clickpulse-events is RESTARTING")]
    for r in records:
        write_alert(synced, r)
    yield records
    remove_alerts(synced, *(r["alert_id"] for r in records))


def test_a_site_viewer_sees_the_open_alert_of_its_site_only(gateway, synced, site_viewer, open_alerts):
    username, password, site = site_viewer
    drop, flood, pipeline = open_alerts
    viewer = login(gateway, username, password)
    events, raw = read_events(viewer, "/stream", lambda p: p["alerts"])
    assert [(a["rule"], a["site_id"], a["severity"]) for a in events[-1]["alerts"]] == [
        ("traffic_drop", site, "warning")]
    assert events[-1]["alerts"][0]["message"] == drop["message"]
    assert flood["alert_id"].encode() not in raw and pipeline["alert_id"].encode() not in raw

    # resolved: the banner's alert leaves the viewer's payload at the next tick
    write_alert(synced, {**drop, "state": "resolved", "resolved_at": (NOW + dt.timedelta(minutes=2)).isoformat()})
    read_events(viewer, "/stream", lambda p: p["alerts"] == [])


def test_the_admin_sees_every_open_alert_and_a_site_filter_narrows_them(gateway, synced, live_sites, open_alerts):
    drop, flood, pipeline = open_alerts
    admin = login(gateway, synced.superset_admin_user, synced.superset_admin_password)
    mine = {drop["alert_id"], flood["alert_id"], pipeline["alert_id"]}
    events, _ = read_events(admin, "/stream", lambda p: mine <= {a["alert_id"] for a in p["alerts"]})
    shown = [a for a in events[-1]["alerts"] if a["alert_id"] in mine]
    # most severe first: the two critical ones (by firing time, then id), then the warning
    assert [a["rule"] for a in shown][-1] == "traffic_drop"
    assert {a["rule"] for a in shown[:2]} == {"bot_flood", "job_not_running"}

    one = admin.get("/api/live", params={"site": live_sites[1].site_id}).json()
    # the other site, and the pipeline's alerts (they concern every site an admin looks at)
    assert {a["alert_id"] for a in one["alerts"]} & mine == {flood["alert_id"], pipeline["alert_id"]}
