"""`clickpulse alerts notify` against a real Kafka topic, PostgreSQL, an SMTP server
(aiosmtpd) and a webhook receiver: each alert transition reaches every channel once, a
replayed topic and a restarted notifier deliver nothing twice, and a failing webhook is
retried until it answers."""

from __future__ import annotations

import datetime as dt

import pytest

from clickpulse.alerts.notify import load_channels
from clickpulse.errors import ClickpulseError
from clickpulse.stack import postgres

from alert_records import UTC, alert

from .conftest import produce

pytestmark = pytest.mark.integration

MINUTE = dt.datetime(2026, 3, 2, 14, 7, tzinfo=UTC)   # the breaking minute of the test alerts


def deliveries(settings, *alert_ids: str) -> list[tuple]:
    with postgres.connect(settings, "admin") as c:
        return c.execute("SELECT alert_id, state, channel, status, attempts FROM alert_deliveries "
                         "WHERE alert_id = ANY(%s) ORDER BY alert_id, state, channel", (list(alert_ids),)).fetchall()


@pytest.fixture
def forget(kafka):
    """Alert ids whose delivery rows the test removes at its end."""
    ids: list[str] = []
    yield ids
    with postgres.connect(kafka, "admin", autocommit=True) as c:
        c.execute("DELETE FROM alert_deliveries WHERE alert_id = ANY(%s)", (ids,))


def test_firing_and_resolved_reach_the_webhook_and_the_mailbox_once_each(
        kafka, alerts_topic, notifier, webhook, smtp_server, site_id, forget):
    _, hook = webhook
    _, mailbox = smtp_server
    firing, resolved = alert("no_purchases", site_id, MINUTE), alert("no_purchases", site_id, MINUTE, "resolved")
    forget.append(firing["alert_id"])
    produce(kafka, alerts_topic, firing, resolved)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 2 and len(mailbox.messages) == 2, "two webhooks and two e-mails")

    first, second = hook.posts
    assert first["text"] == (f"[clickpulse] FIRING (critical) no_purchases on {site_id}: "
                             f"purchases per minute 0 < 1 on {site_id}")
    assert second["text"].startswith(f"[clickpulse] RESOLVED no_purchases on {site_id}: ")
    fields = {f["title"]: f["value"] for f in first["attachments"][0]["fields"]}
    assert fields["value"] == "0" and fields["expected"] == "1 .. +∞" and fields["site"] == site_id
    assert first["alert"] == firing          # the record itself, for programs
    assert first["attachments"][0]["color"] == "#d62728" and second["attachments"][0]["color"] == "#2ca02c"

    assert [m["Subject"] for m in mailbox.messages] == [first["text"], second["text"]]
    assert mailbox.envelopes == [["ops@example.com", "oncall@example.com"]] * 2
    assert "expected  1 .. +∞" in mailbox.messages[0].get_content()

    notifier.wait_until(lambda: len(deliveries(kafka, firing["alert_id"])) == 4, "four delivery rows")
    assert deliveries(kafka, firing["alert_id"]) == [
        (firing["alert_id"], "firing", "ops-email", "delivered", 1),
        (firing["alert_id"], "firing", "ops-webhook", "delivered", 1),
        (firing["alert_id"], "resolved", "ops-email", "delivered", 1),
        (firing["alert_id"], "resolved", "ops-webhook", "delivered", 1),
    ]


def test_a_replayed_topic_and_a_restarted_notifier_deliver_nothing_twice(
        kafka, alerts_topic, notifier, webhook, smtp_server, site_id, forget):
    _, hook = webhook
    _, mailbox = smtp_server
    a, b, c = (alert(rule, site_id, MINUTE) for rule in ("no_purchases", "bot_flood", "traffic_drop"))
    forget.extend(x["alert_id"] for x in (a, b, c))

    produce(kafka, alerts_topic, a)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 1 and len(mailbox.messages) == 1, "alert a delivered")
    notifier.stop()

    # a restored evaluator re-emits a (same alert_id and state), then b fires; the restarted
    # notifier (same group, committed offset after a) reads both: b is new, a is not
    produce(kafka, alerts_topic, a, b)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 2, "alert b delivered")
    notifier.stop()

    # the whole topic replayed from its start (a new consumer group) with c at its end:
    # once c is delivered every earlier record has been read again (one partition)
    notifier.env["CLICKPULSE_NOTIFY_GROUP"] += "-replay"
    produce(kafka, alerts_topic, c)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 3 and len(mailbox.messages) == 3, "alert c delivered")
    notifier.stop()

    assert [p["alert"]["rule"] for p in hook.posts] == ["no_purchases", "bot_flood", "traffic_drop"]
    assert [m["Subject"].split()[3] for m in mailbox.messages] == ["no_purchases", "bot_flood", "traffic_drop"]
    assert notifier.output().count("already delivered") == 2 + 2 * 3   # a twice; a, a, b on the replay


def test_a_failing_webhook_is_retried_until_it_answers(
        kafka, alerts_topic, notifier, webhook, site_id, forget):
    _, hook = webhook
    hook.fail_first = 2     # two 500s, then 200
    firing = alert("no_purchases", site_id, MINUTE, channels=["ops-webhook"])
    forget.append(firing["alert_id"])
    produce(kafka, alerts_topic, firing)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 1, "the webhook delivered")
    notifier.wait_until(lambda: deliveries(kafka, firing["alert_id"]), "the delivery row")

    assert hook.refused == 2
    assert deliveries(kafka, firing["alert_id"]) == [(firing["alert_id"], "firing", "ops-webhook", "delivered", 3)]
    assert [f"attempt {i} of 5 failed" in notifier.output() for i in (1, 2, 3)] == [True, True, False]


def test_a_channel_without_its_variable_is_skipped_with_one_log_line(
        kafka, alerts_topic, notifier, webhook, site_id, forget):
    _, hook = webhook
    del notifier.env["ALERT_EMAIL_TO"]
    notifier.env["ALERT_EMAIL_TO"] = ""      # unset (an empty value counts as unset), whatever .env says
    first, second = alert("no_purchases", site_id, MINUTE), alert("bot_flood", site_id, MINUTE)
    forget.extend([first["alert_id"], second["alert_id"]])
    produce(kafka, alerts_topic, first, second)
    notifier.start()
    notifier.wait_until(lambda: len(hook.posts) == 2, "both webhooks")
    notifier.stop()
    assert notifier.output().count("channel ops-email skipped: ALERT_EMAIL_TO is not set") == 1
    assert [d[2] for d in deliveries(kafka, first["alert_id"], second["alert_id"])] == ["ops-webhook"] * 2


def test_a_bad_channels_file_names_file_and_line(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("channels:\n  ops-webhook:\n    kind: webhook\n    env: ALERT_WEBHOOK_URL\n"
                    "  pager:\n    kind: sms\n")
    with pytest.raises(ClickpulseError, match=rf"{path}:5: channel 'pager' needs `kind: webhook` or `kind: email`"):
        load_channels(path)
    path.write_text("channels:\n  ops-email:\n    kind: email\n    to: ALERT_EMAIL_TO\n")
    with pytest.raises(ClickpulseError, match=rf"{path}:2: channel 'ops-email' needs `env: VARIABLE_NAME`"):
        load_channels(path)
    path.write_text("ops-email:\n  kind: email\n")
    with pytest.raises(ClickpulseError, match=rf"{path}:1: expected `channels:` mapping"):
        load_channels(path)
    assert {name: (c.kind, c.env) for name, c in load_channels().items()} == {
        "ops-webhook": ("webhook", "ALERT_WEBHOOK_URL"), "ops-email": ("email", "ALERT_EMAIL_TO")}
