"""`clickpulse alerts validate` and `alerts new`: rule files are checked like metric files,
with errors as file:line naming what to fix."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from clickpulse.alerts import rules as alert_rules
from clickpulse.cli import app
from clickpulse.runner.funnels import load_funnels

BAD = {
    # line 3: the channel is not declared in channels.yaml
    "a_unknown_channel.yaml": "kind: threshold\nmetric: events\nchannels: [pager]\ncondition: '< 1'\n"
                              "severity: warning\n",
    # line 4: not a condition
    "b_bad_condition.yaml": "kind: threshold\nmetric: events\nchannels: [ops-webhook]\ncondition: below one\n"
                            "severity: warning\n",
    # line 2: no such series
    "c_bad_metric.yaml": "kind: anomaly\nmetric: pageviews\nchannels: [ops-webhook]\nseverity: critical\n",
    # line 5: a key no anomaly rule has
    "d_unknown_key.yaml": "kind: anomaly\nmetric: events\nchannels: [ops-webhook]\nseverity: critical\n"
                          "threshold: 3\n",
    # line 6: durations are minutes or hours
    "e_bad_for.yaml": "kind: bot_flood\nmetric: bot_events\nchannels: [ops-webhook]\nseverity: warning\n"
                      "baseline: 30m\nfor: 30s\n",
    # line 2: not YAML
    "f_not_yaml.yaml": "kind: anomaly\nmetric: [events\n",
}


def test_validate_reports_every_bad_file_with_its_line(tmp_path):
    shutil.copy(alert_rules.ALERTS_DIR / "channels.yaml", tmp_path / "channels.yaml")
    for name, text in BAD.items():
        (tmp_path / name).write_text(text)
    result = CliRunner().invoke(app, ["alerts", "validate", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line.split(": ", 1)[0].rsplit("/", 1)[-1] for line in result.stdout.splitlines()]
    assert lines == ["a_unknown_channel.yaml:3", "b_bad_condition.yaml:4", "c_bad_metric.yaml:2",
                     "d_unknown_key.yaml:5", "e_bad_for.yaml:6", "f_not_yaml.yaml:3"]
    assert "channel 'pager' is not declared in sql/alerts/channels.yaml" in result.stdout
    assert "unknown key 'threshold' for a anomaly rule" in result.stdout


def test_new_scaffolds_a_rule_that_loads(tmp_path):
    shutil.copy(alert_rules.ALERTS_DIR / "channels.yaml", tmp_path / "channels.yaml")
    for kind in ("threshold", "anomaly", "bot_flood", "funnel_drop"):
        result = CliRunner().invoke(app, ["alerts", "new", f"my_{kind}", "--kind", kind, "--dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
    rules = alert_rules.discover(tmp_path, funnels=load_funnels())
    assert sorted(r.kind for r in rules) == ["anomaly", "bot_flood", "funnel_drop", "threshold"]
    again = CliRunner().invoke(app, ["alerts", "new", "my_anomaly", "--dir", str(tmp_path)])
    assert again.exit_code == 1 and "already exists" in str(again.exception)


def test_shipped_rules_load():
    rules = alert_rules.discover(funnels=load_funnels())
    assert {r.name for r in rules} >= {"traffic_drop", "bot_flood", "purchases_stalled", "signup_conversion_drop"}
    channels = alert_rules.load_channels()
    assert (channels["ops-webhook"].kind, channels["ops-webhook"].env) == ("webhook", "ALERT_WEBHOOK_URL")
    assert (channels["ops-email"].kind, channels["ops-email"].env) == ("email", "ALERT_EMAIL_TO")
