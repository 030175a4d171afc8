"""The pipeline rules' judgement (`clickpulse alerts watch`, alerts/watch.py) on recorded
observations, one every 5 s from a fixed start: when each rule fires, when it resolves,
and what it does not fire on (a job catching up, no traffic, a short restart). The real
stack's test (test_alerts_e2e.py) stops a deployed job and checks the webhook."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from clickpulse.alerts import rules as alert_rules
from clickpulse.alerts.watch import Observation, Watcher
from clickpulse.errors import ClickpulseError
from clickpulse.paths import ROOT
from clickpulse.settings import Settings

T0 = 1_780_000_000.0   # a fixed start (epoch s, a whole minute)
STEP = 5.0


def shipped(name: str) -> alert_rules.Rule:
    return alert_rules.load(ROOT / "sql/alerts" / f"{name}.yaml", alert_rules.load_channels(), set())


def run(rule: alert_rules.Rule, observations: list[dict]) -> list[tuple[float, dict]]:
    """Feed one observation per 5 s (fields of Observation; the rest healthy); returns
    (seconds after T0, record) for every transition."""
    w = Watcher(Settings(_env_file=None), [rule])
    out = []
    events = dead = 0
    for i, fields in enumerate(observations):
        events += fields.pop("events", 600)    # 120 records per second by default
        dead += fields.pop("dead", 1)
        obs = Observation(T0 + i * STEP, fields.pop("job_state", "RUNNING"), fields.pop("freshness_s", 30.0),
                          events, dead, fields.pop("lag", 500))
        out += [(obs.at - T0, rec) for rec in w.judge(obs)]
    return out


def test_job_not_running_fires_after_a_minute_down_once_and_resolves_after_30_s_running():
    # 2 polls running, 20 polls (100 s) cancelled, then running again for 60 s
    seq = [{}] * 2 + [{"job_state": "CANCELED"}] * 20 + [{}] * 12
    got = run(shipped("job_not_running"), [dict(o) for o in seq])
    assert [(t, r["state"]) for t, r in got] == [(70.0, "firing"), (140.0, "resolved")]
    fired, resolved = got[0][1], got[1][1]
    # the id: rule, site `all` and the first breaking poll (10 s after T0), as the stream's
    first_ms = round((T0 + 10) * 1000)
    assert fired["alert_id"] == hashlib.sha256(f"job_not_running|all|{first_ms}".encode()).hexdigest()
    assert resolved["alert_id"] == fired["alert_id"] and resolved["fired_at"] == fired["fired_at"]
    assert (fired["site_id"], fired["kind"], fired["value"], fired["expected_high"]) == ("all", "pipeline", 1.0, 0.0)
    assert "job state CANCELED" in fired["message"] and resolved["value"] == 0.0


def test_a_restart_shorter_than_for_does_not_fire():
    seq = [{}] + [{"job_state": "RESTARTING"}] * 11 + [{}] * 5   # 55 s not running, less than the 1 m of `for`
    assert run(shipped("job_not_running"), [dict(o) for o in seq]) == []


def test_consumer_lag_fires_only_while_growing():
    rule = shipped("consumer_lag_growing")   # > 50000, growing over 2 m, for 3 m
    catching_up = [{"lag": 400_000 - i * 1_000} for i in range(120)]          # a backlog shrinking: 10 minutes
    assert run(rule, catching_up) == []
    ticks_only = [{"lag": 60_000 + i * 3} for i in range(120)]                # job down, generator stopped: ticks
    assert run(rule, ticks_only) == []
    stuck = [{"lag": 60_000 + i * 600} for i in range(120)]                  # the job reads nothing: +120/s
    got = run(rule, stuck)
    # judged from 2 minutes in (the history must reach back `window`), fires 3 minutes later
    assert [(t, r["state"]) for t, r in got] == [(300.0, "firing")]


def test_freshness_is_not_judged_without_traffic():
    rule = shipped("stale_dashboards")   # > 600 s for 5 m
    no_traffic = [{"freshness_s": 900.0 + 5 * i, "events": 2} for i in range(100)]   # ticks only
    assert run(rule, no_traffic) == []
    stuck = [{"freshness_s": 900.0 + 5 * i} for i in range(100)]
    assert [(t, r["state"]) for t, r in run(rule, stuck)] == [(360.0, "firing")]   # judged from 60 s, +5 m


def test_dead_letter_share_over_the_window():
    rule = shipped("dead_letters")   # > 5% over 5 m, for 1 m
    normal = [{"events": 600, "dead": 1}] * 120    # 0.17%
    assert run(rule, [dict(o) for o in normal]) == []
    broken = [{"events": 600, "dead": 1}] * 60 + [{"events": 300, "dead": 300}] * 60
    got = run(rule, [dict(o) for o in broken])
    assert len(got) == 1 and got[0][1]["state"] == "firing" and got[0][1]["value"] > 0.05


def test_pipeline_rules_take_seconds_and_only_sites_all(tmp_path: Path):
    (tmp_path / "channels.yaml").write_text((ROOT / "sql/alerts/channels.yaml").read_text())
    path = tmp_path / "down.yaml"
    path.write_text("kind: pipeline\nmetric: job_not_running\ncondition: '> 0'\nfor: 15s\ncooldown: 1m\n"
                    "severity: critical\nchannels: [ops-webhook]\n")
    rule = alert_rules.discover(tmp_path)[0]
    assert (rule.for_s, rule.cooldown_s) == (15.0, 60.0) and alert_rules.for_cooldown(rule) == "15s / 1m"
    path.write_text(path.read_text() + "sites: [site-1]\n")
    with pytest.raises(ClickpulseError, match=r"down.yaml:8: a pipeline rule watches the whole pipeline"):
        alert_rules.discover(tmp_path)
