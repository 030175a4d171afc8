"""End to end on the real stack: the rules of sql/alerts run in the deployed events job
(an isolated copy: its own topics and database), traffic of two sites flows for 36 minutes
(so the 30-minute baselines are warm), and then, in one minute, site 1 sends nothing and
site 2 gets a burst of 300 bot events. Each incident
must reach the alerts topic and the `alerts` table as `firing`, and as `resolved` with the
same alert id once the next minute is normal again."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import time

import pytest

from clickpulse.alerts.incidents import MINUTE, AlertReader, Traffic, next_minute
from clickpulse.settings import Settings
from clickpulse.stack.postgres import connect
from conftest import ROOT, run_cli
from suites import isolated_suite

from .conftest import NotifierProcess


@pytest.fixture(scope="module")
def suite(flink, request):
    env, tag = isolated_suite(flink, request, "alerts")
    settings = Settings(_env_file=None, **{**flink.model_dump(), "events_topic": env["CLICKPULSE_EVENTS_TOPIC"],
                                           "dead_letter_topic": env["CLICKPULSE_DEAD_LETTER_TOPIC"],
                                           "alerts_topic": env["CLICKPULSE_ALERTS_TOPIC"],
                                           "postgres_db": env["POSTGRES_DB"]})
    return settings, tag


def utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


@pytest.fixture(scope="module")
def incident(suite):
    settings, tag = suite
    traffic = Traffic(settings, prefix=f"al-{tag}", sites=2, per_minute=120)
    reader = AlertReader(settings)
    quiet, flooded = traffic.site_ids
    # The incident minute lies 3 minutes back, so that the whole script, up to the close of
    # the normal minute after it (+ the 5 s watermark delay), is in the past: it goes into
    # Kafka as fast as Kafka takes it. Every rule runs on event time (the ticks of every
    # partition move it where no event goes), so the job judges it as it would in real
    # time; how soon after a minute closes an alert arrives in real time is `clickpulse
    # bench alerts`' figure, not this test's.
    start = next_minute(int(time.time() * 1000)) - 3 * MINUTE
    for ts in range(start - 36 * MINUTE, start + 2 * MINUTE + 20_000, 1000):  # 36 minutes: warm baselines
        traffic.silent = {quiet} if start <= ts < start + MINUTE else set()   # site 1: nothing for one minute
        traffic.second(ts)
        if ts == start + 10_000:
            traffic.bots(flooded, ts, 300)                                     # site 2: 300 bot events at 10 s into it
    traffic.flush()

    def arrived() -> bool:
        return all(reader.find(rule, site, state) for rule, site in (("traffic_drop", quiet), ("bot_flood", flooded))
                   for state in ("firing", "resolved"))

    deadline = time.monotonic() + 240
    while not arrived() and time.monotonic() < deadline:
        reader.poll(1)
    reader.poll(10)   # anything else the script set off has arrived too by now (test_nothing_else_fired)
    reader.close()
    return {"reader": reader, "start": start, "quiet": quiet, "flooded": flooded, "settings": settings}


def test_traffic_to_zero_fires_and_resolves_on_the_topic(incident):
    r, start, site = incident["reader"], incident["start"], incident["quiet"]
    fired, resolved = r.find("traffic_drop", site, "firing"), r.find("traffic_drop", site, "resolved")
    assert fired, f"no traffic_drop firing for {site}; topic held {[x for _, x in r.records]}"
    assert resolved, "the traffic came back, but traffic_drop did not resolve"
    assert fired[1]["alert_id"] == resolved[1]["alert_id"]
    assert fired[1]["value"] == 0.0 and fired[1]["window_start"] == utc(start).isoformat().replace("+00:00", "Z")
    assert resolved[1]["value"] == 120.0 and resolved[1]["resolved_at"].startswith(
        utc(start + 2 * MINUTE).isoformat()[:19])


def test_bot_burst_fires_bot_flood_and_resolves(incident):
    r, site = incident["reader"], incident["flooded"]
    fired, resolved = r.find("bot_flood", site, "firing"), r.find("bot_flood", site, "resolved")
    assert fired and resolved, f"topic held {[x for _, x in r.records]}"
    assert fired[1]["value"] == 300.0 and fired[1]["expected_high"] == 100.0
    assert fired[1]["channels"] == ["ops-webhook"]


def test_the_alerts_table_holds_each_alert_once_resolved(incident):
    s = incident["settings"]
    with connect(s, "admin", s.postgres_db) as c:
        rows = c.execute("select rule, site_id, state, fired_at, resolved_at, alert_id from alerts "
                         "order by rule").fetchall()
    start = incident["start"]
    topic_ids = {x["alert_id"] for _, x in incident["reader"].records}
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("bot_flood", incident["flooded"], "resolved", utc(start + MINUTE), utc(start + 2 * MINUTE)),
        ("traffic_drop", incident["quiet"], "resolved", utc(start + MINUTE), utc(start + 2 * MINUTE)),
    ]
    assert {r[5] for r in rows} == topic_ids


def test_nothing_else_fired(incident):
    got = sorted({(x["rule"], x["site_id"], x["state"]) for _, x in incident["reader"].records})
    assert got == sorted([("bot_flood", incident["flooded"], "firing"), ("bot_flood", incident["flooded"], "resolved"),
                          ("traffic_drop", incident["quiet"], "firing"),
                          ("traffic_drop", incident["quiet"], "resolved")])


# --- the pipeline rules (`clickpulse alerts watch`): judged outside the job ---------------------

JOB_DOWN_RULE = """kind: pipeline
description: the events job is not RUNNING
metric: job_not_running
sites: all
condition: "> 0"
for: 3s                    # shipped: 1m; seconds here to keep the test short
cooldown: 3s
severity: critical
channels: [ops-webhook]
"""


def test_a_stopped_job_fires_job_not_running_once_and_resolves_when_it_runs_again(suite, webhook, tmp_path):
    """The suite's job is stopped (`clickpulse jobs stop`): the watcher fires job_not_running,
    the notifier posts it to the webhook once, a restarted watcher does not fire it again;
    `clickpulse jobs submit` brings the job back and the alert resolves, same alert id."""
    settings, tag = suite
    url, hook = webhook
    (tmp_path / "job_not_running.yaml").write_text(JOB_DOWN_RULE)
    shutil.copy(ROOT / "sql/alerts/channels.yaml", tmp_path / "channels.yaml")
    env = {**os.environ, "CLICKPULSE_EVENTS_TOPIC": settings.events_topic,
           "CLICKPULSE_DEAD_LETTER_TOPIC": settings.dead_letter_topic, "CLICKPULSE_ALERTS_TOPIC": settings.alerts_topic,
           "CLICKPULSE_JOB_NAME": f"clickpulse-alerts-{tag}", "POSTGRES_DB": settings.postgres_db,
           "CLICKPULSE_NOTIFY_GROUP": f"notify-{tag}", "ALERT_WEBHOOK_URL": url, "ALERT_EMAIL_TO": "",
           "CLICKPULSE_WATCH_POLL_MS": "1000"}
    notifier = NotifierProcess(env, f"test-notifier-{tag}")
    watcher = NotifierProcess(env, f"test-watcher-{tag}", ["alerts", "watch", "--dir", str(tmp_path)])
    notifier.start()
    watcher.start()
    try:
        def posts(state):
            return [p["alert"] for p in hook.posts if p["alert"]["rule"] == "job_not_running"
                    and p["alert"]["state"] == state]

        time.sleep(3)   # a few polls of a running job: nothing to say
        assert posts("firing") == []
        run_cli("jobs", "stop", env=env)
        notifier.wait_until(lambda: posts("firing"), "job_not_running reaching the webhook", timeout=60)
        watcher.stop()   # a restart while the alert is open: read back from the table, not fired again
        watcher.start()
        run_cli("jobs", "submit", env=env, timeout=300)
        notifier.wait_until(lambda: posts("resolved"), "job_not_running resolving", timeout=60)
        time.sleep(2)
    finally:
        watcher.stop()
        notifier.stop()
    fired, resolved = posts("firing"), posts("resolved")
    assert len(fired) == 1 and len(resolved) == 1, f"webhook got {fired + resolved}; {watcher.output()}"
    assert fired[0]["alert_id"] == resolved[0]["alert_id"] and fired[0]["site_id"] == "all"
    assert fired[0]["kind"] == "pipeline" and fired[0]["value"] == 1.0 and resolved[0]["value"] == 0.0
    with connect(settings, "admin", settings.postgres_db) as c:
        rows = c.execute("select alert_id, state from alerts where rule = 'job_not_running'").fetchall()
    assert rows == [(fired[0]["alert_id"], "resolved")]
