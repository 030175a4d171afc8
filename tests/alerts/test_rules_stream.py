"""Alert rules evaluated by the real Flink planner and runtime (a local mini-cluster, no
Kafka, no database) over recorded Kafka records, through exactly the views and SQL the
deployed job runs (clickpulse.alerts.stream), like the metric tests (tests/metrics).

Two sites, 20 events a minute each from T0 (22:00 UTC). Site s1 sends nothing in minutes
10 and 11; site s2 keeps sending (its events close every minute, as the ticker's ticks
would), buys nothing in minutes 4-8 and gets a burst of 30 bot events in minute 8."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from clickpulse.alerts import rules as alert_rules
from clickpulse.runner.funnels import load_funnels
from clickpulse.runner.local import run_recorded_alerts
from clickpulse.settings import get_settings
from clickpulse.truth import ts_utc

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "metrics"))
from scenarios import MIN, SEC, T0, event, records  # noqa: E402

RULES = {
    # band from the 5 minutes before: mean 20, sd max(0, sqrt(20), 1) = 4.47, low = 20 - 3 x 4.47
    "drop.yaml": "kind: anomaly\nmetric: events\ndirection: below\nbaseline: 5m\nz: 3\n"
                 "severity: critical\nchannels: [ops-webhook]\n",
    # no bots before: expected 0, sd 1, upper edge max(0 + 3 x 1, 0 x 2, 5) = 5
    "bots.yaml": "kind: bot_flood\nmetric: bot_events\nbaseline: 5m\nz: 3\nmin_change: 1\nmin_value: 5\n"
                 "severity: warning\nchannels: [ops-webhook]\n",
    "nobuy.yaml": "kind: threshold\nmetric: events.purchase\ncondition: '< 1'\nfor: 3m\nsites: [s2]\n"
                  "severity: warning\nchannels: [ops-webhook, ops-email]\n",
}


def traffic() -> list[dict]:
    items = []
    for m in range(16):
        for i in range(20):
            if not 10 <= m < 12:                       # s1 silent in minutes 10 and 11
                items.append(event(f"a{m}-{i}", m * MIN + i * 3 * SEC, site="s1"))
            buys = i == 0 and not 4 <= m < 9           # s2's one purchase a minute stops in minutes 4-8
            items.append(event(f"b{m}-{i}", m * MIN + i * 3 * SEC + 100, site="s2",
                               type_="purchase" if buys else "page_view"))
        if m == 8:                                     # a bot burst on s2
            items += [event(f"bot{i}", m * MIN + i * SEC, site="s2", user="crawler", bot="user_agent")
                      for i in range(30)]
    return sorted(items, key=lambda e: e["ts"])


def run_rules(folder: Path, rule_files: dict[str, str], events: list[dict]) -> list[dict]:
    """The rules (with the shipped channels) over the events, as the deployed job runs them."""
    (folder / "channels.yaml").write_text((alert_rules.ALERTS_DIR / "channels.yaml").read_text())
    for name, text in rule_files.items():
        (folder / name).write_text(text)
    funnels = load_funnels()
    return run_recorded_alerts(records(events), get_settings(), alert_rules.discover(folder, funnels=funnels), funnels)


@pytest.fixture(scope="module")
def alerts(tmp_path_factory):
    return run_rules(tmp_path_factory.mktemp("alerts"), RULES, traffic())


def at(minute: int):
    return ts_utc(T0 + minute * MIN)


def alert_id(rule: str, site: str, first_minute: int) -> str:
    return hashlib.sha256(f"{rule}|{site}|{T0 + first_minute * MIN}".encode()).hexdigest()


def by_rule(alerts, rule):
    return [(a["state"], a["site_id"], a["window_start"], a["value"], a["fired_at"], a["resolved_at"], a["alert_id"])
            for a in alerts if a["rule"] == rule]


def test_traffic_to_zero_fires_on_the_first_silent_minute_and_resolves_when_it_returns(alerts):
    drop_id = alert_id("drop", "s1", 10)
    assert by_rule(alerts, "drop") == [
        # minute 10 has no row of s1's own: the HOP window over its last minutes makes it 0
        ("firing", "s1", at(10), 0.0, at(11), None, drop_id),
        # minute 11 is still 0: judged against the band of minute 10, not the baseline
        # that now holds a zero; minute 12 is back inside it
        ("resolved", "s1", at(12), 20.0, at(11), at(13), drop_id),
    ]
    fired = next(a for a in alerts if a["rule"] == "drop")
    assert fired["expected_low"] == pytest.approx(20 - 3 * 20 ** 0.5)
    assert fired["expected_high"] is None
    assert fired["kind"] == "anomaly" and fired["severity"] == "critical" and fired["channels"] == ["ops-webhook"]
    assert fired["message"] == ("drop firing on s1: events = 0.0 in the minute to 2023-11-14 22:11 UTC "
                                f"(expected {round(20 - 3 * 20 ** 0.5, 3)} .. -)")


def test_bot_burst_fires_bot_flood_and_resolves_the_minute_after(alerts):
    bots_id = alert_id("bots", "s2", 8)
    assert by_rule(alerts, "bots") == [
        ("firing", "s2", at(8), 30.0, at(9), None, bots_id),
        ("resolved", "s2", at(9), 0.0, at(9), at(10), bots_id),
    ]
    assert next(a for a in alerts if a["rule"] == "bots")["expected_high"] == 5.0


def test_threshold_needs_its_minutes_in_a_row(alerts):
    nobuy_id = alert_id("nobuy", "s2", 4)
    assert by_rule(alerts, "nobuy") == [
        # minutes 4, 5, 6 have no purchase: fires when minute 6 closes
        ("firing", "s2", at(6), 0.0, at(7), None, nobuy_id),
        # the purchase of minute 9 resolves it
        ("resolved", "s2", at(9), 1.0, at(7), at(10), nobuy_id),
    ]


def test_no_other_transitions(alerts):
    # s1 has purchases in no minute, but nobuy watches s2 only; the people's traffic never
    # leaves its band; the silent s1 is not a bot flood
    assert len(alerts) == 6


# A second run: the same incident twice within one baseline. Site s1 sends nothing in
# minutes 12 and 15; site s2 gets 30 bot events in minutes 12 and 15; 20 events a minute
# otherwise, through minute 18. Baselines of 10 minutes (trimmed: stream.TRIM_FROM).
REPEAT_RULES = {
    "drop10.yaml": "kind: anomaly\nmetric: events\ndirection: below\nbaseline: 10m\nz: 3\n"
                   "severity: critical\nchannels: [ops-webhook]\n",
    "bots10.yaml": "kind: bot_flood\nmetric: bot_events\nbaseline: 10m\nz: 3\nmin_change: 1\nmin_value: 5\n"
                   "severity: warning\nchannels: [ops-webhook]\n",
}
INCIDENT_MINUTES = (12, 15)


def incident_traffic(minutes: int, incident_minutes: tuple[int, ...]) -> list[dict]:
    """20 events a minute on s1 and s2 for `minutes` minutes; in each incident minute s1
    sends nothing and s2 gets 30 bot events."""
    items = []
    for m in range(minutes):
        for i in range(20):
            if m not in incident_minutes:
                items.append(event(f"a{m}-{i}", m * MIN + i * 3 * SEC, site="s1"))
            items.append(event(f"b{m}-{i}", m * MIN + i * 3 * SEC + 100, site="s2"))
        if m in incident_minutes:
            items += [event(f"bot{m}-{i}", m * MIN + i * SEC, site="s2", user="crawler", bot="user_agent")
                      for i in range(30)]
    return sorted(items, key=lambda e: e["ts"])


@pytest.fixture(scope="module")
def repeated(tmp_path_factory):
    return run_rules(tmp_path_factory.mktemp("repeated"), REPEAT_RULES, incident_traffic(19, INCIDENT_MINUTES))


def test_a_second_drop_within_the_baseline_still_fires(repeated):
    assert [(a["state"], a["site_id"], a["window_start"], a["value"]) for a in repeated if a["rule"] == "drop10"] == [
        ("firing", "s1", at(12), 0.0),
        ("resolved", "s1", at(13), 20.0),
        # minute 15's baseline (minutes 5-14) holds minute 12's zero: left out with the
        # highest minute, the other 8 give mean 20 and sd sqrt(20); untrimmed the band's
        # lower edge would be 0 and the second drop would pass unseen
        ("firing", "s1", at(15), 0.0),
        ("resolved", "s1", at(16), 20.0),
    ]
    second = [a for a in repeated if a["rule"] == "drop10"][2]
    assert second["expected_low"] == pytest.approx(20 - 3 * 20 ** 0.5)


def test_a_second_bot_burst_within_the_baseline_still_fires(repeated):
    assert [(a["state"], a["site_id"], a["window_start"], a["value"]) for a in repeated if a["rule"] == "bots10"] == [
        ("firing", "s2", at(12), 30.0),
        ("resolved", "s2", at(13), 0.0),
        # minute 12's 30 bots are the baseline's highest minute, left out: upper edge 5 again
        # (untrimmed: mean 3, sd 9, edge 30, and 30 bots would not be above it)
        ("firing", "s2", at(15), 30.0),
        ("resolved", "s2", at(16), 0.0),
    ]
    assert [a for a in repeated if a["rule"] == "bots10"][2]["expected_high"] == 5.0


# A third run: an incident of three minutes, then the same again within the baseline. Site
# s1 sends nothing in minutes 12-14 and 18; site s2 gets 30 bot events in each of minutes
# 12-14 and 18; 20 events a minute otherwise, through minute 21. Same rules as the second
# run. Trimming leaves out one of the three incident minutes; the other two stay in the
# baseline of minute 18 and would widen its band past the incident.
LONG_INCIDENT = (12, 13, 14, 18)


@pytest.fixture(scope="module")
def long_incident(tmp_path_factory):
    return run_rules(tmp_path_factory.mktemp("long"), REPEAT_RULES, incident_traffic(22, LONG_INCIDENT))


def test_a_drop_after_a_three_minute_drop_is_judged_against_the_band_before_it(long_incident):
    drops = [a for a in long_incident if a["rule"] == "drop10"]
    assert [(a["state"], a["site_id"], a["window_start"], a["value"]) for a in drops] == [
        ("firing", "s1", at(12), 0.0),
        ("resolved", "s1", at(15), 20.0),   # minutes 15-17 at 20: inside the held band, no alarm
        # minute 18's baseline (8-17) holds two zeros after the trim: mean 15, sd 8.7, lower
        # edge 0, and 0 would not be below it; minutes 12-14 are still in the baseline, so
        # the band of minute 12 (from 2-11: 20 - 3 x sqrt(20)) judges as well
        ("firing", "s1", at(18), 0.0),
        ("resolved", "s1", at(19), 20.0),
    ]
    assert drops[2]["expected_low"] == pytest.approx(20 - 3 * 20 ** 0.5)


def test_a_bot_burst_after_a_three_minute_burst_is_judged_against_the_band_before_it(long_incident):
    bots = [a for a in long_incident if a["rule"] == "bots10"]
    assert [(a["state"], a["site_id"], a["window_start"], a["value"]) for a in bots] == [
        ("firing", "s2", at(12), 30.0),
        ("resolved", "s2", at(15), 0.0),
        # minute 18's own band: two 30s and six 0s after the trim, upper edge 46.5; the band
        # of minute 12 (upper edge 5) still judges
        ("firing", "s2", at(18), 30.0),
        ("resolved", "s2", at(19), 0.0),
    ]
    assert bots[2]["expected_high"] == 5.0
