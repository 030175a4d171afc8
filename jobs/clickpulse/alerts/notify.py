"""`clickpulse alerts notify`: deliver the alert transitions of `clickpulse.alerts` to the
channels of sql/alerts/channels.yaml (Slack-compatible webhooks and SMTP e-mail).

Each record is one transition (`alert_id`, `state`) with the fields of docs/design.md,
"Alerts". For every channel the rule names, the notifier delivers once: it looks the
(`alert_id`, `state`, `channel`) up in `alert_deliveries`, delivers (retrying with back-off),
records the delivery, and only then commits the record's Kafka offset. So a replayed topic,
a restored evaluator re-emitting the same transition, or a restarted notifier finds the row
and sends nothing again. The one window left is a crash between a delivery and its row: the
transition is then delivered again on restart (at least once, never silently lost).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaError, Message

from ..errors import ClickpulseError
from ..paths import SQL_DIR
from ..settings import Settings, field_for_env
from ..stack import postgres
from .rules import Channel, load_channels_file

log = logging.getLogger("clickpulse.alerts.notify")

CHANNELS_FILE = SQL_DIR / "alerts" / "channels.yaml"
STATES = ("firing", "resolved")
REQUIRED = ("alert_id", "rule", "kind", "severity", "site_id", "metric", "state", "value", "window_start",
            "window_end", "fired_at", "channels", "message")
MAX_BACKOFF_S = 60.0
# Slack attachment colours by severity (resolved is always green)
COLOURS = {"critical": "#d62728", "warning": "#ff7f0e", "info": "#1f77b4", "resolved": "#2ca02c"}


class Interrupted(Exception):
    """Stopped while retrying: the record is neither recorded nor committed, so the next
    start delivers it."""


class DeliveryError(Exception):
    """A delivery that failed; `retry` says whether trying again may help."""

    def __init__(self, message: str, retry: bool = True):
        super().__init__(message)
        self.retry = retry


def load_channels(path: Path = CHANNELS_FILE) -> dict[str, Channel]:
    return load_channels_file(path)


def channel_target(settings: Settings, channel: Channel) -> str | None:
    """The channel's URL or addresses: the process environment, else the settings field read
    from that variable (so `.env` works for ALERT_WEBHOOK_URL and ALERT_EMAIL_TO)."""
    value = os.environ.get(channel.env)
    if value is None and (field := field_for_env(channel.env)):
        value = getattr(settings, field)
    return value.strip() if value and value.strip() else None


def parse_alert(value: bytes | None) -> dict:
    """One record of the alerts topic, checked against the contract."""
    try:
        alert = json.loads(value or b"")
    except ValueError as e:
        raise ValueError(f"not JSON: {e}") from None
    if not isinstance(alert, dict):
        raise ValueError("not a JSON object")
    missing = [f for f in REQUIRED if f not in alert]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    if alert["state"] not in STATES:
        raise ValueError(f"state {alert['state']!r} is not firing or resolved")
    if not isinstance(alert["channels"], list) or not all(isinstance(c, str) for c in alert["channels"]):
        raise ValueError("channels: expected a JSON list of channel names")
    return alert


def _band(alert: dict) -> str:
    low, high = alert.get("expected_low"), alert.get("expected_high")
    if low is None and high is None:
        return "—"
    return f"{_num(low) if low is not None else '-∞'} .. {_num(high) if high is not None else '+∞'}"


def _num(v) -> str:
    return f"{v:,.4g}" if isinstance(v, (int, float)) else str(v)


def headline(alert: dict) -> str:
    """One line for people: state, severity, rule, site and the evaluator's message."""
    state = "RESOLVED" if alert["state"] == "resolved" else f"FIRING ({alert['severity']})"
    return f"[clickpulse] {state} {alert['rule']} on {alert['site_id']}: {alert['message']}"


def details(alert: dict) -> list[tuple[str, str]]:
    rows = [("rule", alert["rule"]), ("kind", alert["kind"]), ("severity", alert["severity"]),
            ("site", alert["site_id"]), ("metric", alert["metric"]), ("value", _num(alert["value"])),
            ("expected", _band(alert)), ("minute", f"{alert['window_start']} .. {alert['window_end']}"),
            ("fired at", str(alert["fired_at"]))]
    if alert.get("resolved_at"):
        rows.append(("resolved at", str(alert["resolved_at"])))
    rows.append(("alert id", alert["alert_id"]))
    return rows


def webhook_body(alert: dict) -> dict:
    """Slack's incoming-webhook format: `text` for any receiver, an attachment with the
    fields for Slack (and Mattermost, Rocket.Chat, ... which read the same shape), and the
    record itself under `alert` for programs."""
    colour = COLOURS["resolved"] if alert["state"] == "resolved" else COLOURS.get(alert["severity"], COLOURS["info"])
    return {
        "text": headline(alert),
        "attachments": [{
            "color": colour,
            "fallback": headline(alert),
            "fields": [{"title": k, "value": v, "short": k not in ("minute", "alert id")} for k, v in details(alert)],
        }],
        "alert": alert,
    }


def send_webhook(url: str, alert: dict, timeout: float = 10.0) -> str:
    try:
        r = httpx.post(url, json=webhook_body(alert), timeout=timeout)
    except httpx.HTTPError as e:
        raise DeliveryError(f"webhook: {type(e).__name__}: {e}") from None
    if r.status_code >= 500 or r.status_code == 429:
        raise DeliveryError(f"webhook answered {r.status_code}")
    if r.status_code >= 300:
        # the request itself is wrong (bad URL, revoked hook): trying again cannot help
        raise DeliveryError(f"webhook answered {r.status_code}: {r.text[:200]}", retry=False)
    return f"webhook {r.status_code}"


def email_message(settings: Settings, to: list[str], alert: dict) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = headline(alert)
    msg["From"] = settings.smtp_mail_from
    msg["To"] = ", ".join(to)
    width = max(len(k) for k, _ in details(alert))
    body = [alert["message"], ""] + [f"{k.ljust(width)}  {v}" for k, v in details(alert)]
    msg.set_content("\n".join(body) + "\n")
    return msg


def send_email(settings: Settings, to: str, alert: dict, timeout: float = 20.0) -> str:
    recipients = [a.strip() for a in to.split(",") if a.strip()]
    msg = email_message(settings, recipients, alert)
    try:
        if settings.smtp_ssl:
            smtp = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(msg, to_addrs=recipients)
    except smtplib.SMTPRecipientsRefused as e:
        raise DeliveryError(f"e-mail: recipients refused: {e.recipients}", retry=False) from None
    except (OSError, smtplib.SMTPException) as e:
        raise DeliveryError(f"e-mail via {settings.smtp_host}:{settings.smtp_port}: {type(e).__name__}: {e}") from None
    return f"e-mail to {', '.join(recipients)}"


class Notifier:
    """The loop of `clickpulse alerts notify`; `step()` handles what one poll returns."""

    def __init__(self, settings: Settings, channels: dict[str, Channel]):
        self.settings = settings
        self.channels = channels
        self.db = postgres.connect(settings, "writer", autocommit=True)
        self.consumer = Consumer({
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": settings.notify_group,
            # the offset moves only after the deliveries of a record are recorded
            "enable.auto.commit": False,
            # a new group starts at the oldest retained alert: the table says what was sent
            "auto.offset.reset": "earliest",
        })
        self.consumer.subscribe([settings.alerts_topic])
        self._warned: set[str] = set()
        self.stopping = False

    def close(self) -> None:
        self.consumer.close()
        self.db.close()

    def run(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        log.info("reading %s as group %s; channels: %s", self.settings.alerts_topic, self.settings.notify_group,
                 ", ".join(f"{c.name} ({c.kind}, {c.env}{'' if channel_target(self.settings, c) else ' unset'})"
                           for c in self.channels.values()) or "none")
        try:
            while not self.stopping:
                self.step(self.consumer.poll(1.0))
        except Interrupted:
            log.info("stopped while retrying a delivery; it is tried again on the next start")
        finally:
            self.close()

    def step(self, msg: Message | None) -> None:
        if msg is None:
            return
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF:
                self._warn_once(f"kafka:{msg.error().code()}", f"Kafka: {msg.error()}")
            return
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
        try:
            alert = parse_alert(msg.value())
        except ValueError as e:
            # a record that breaks the contract can never be delivered: say so and go on
            log.error("%s: skipped, not an alert record: %s", where, e)
        else:
            for name in alert["channels"]:
                self.deliver(alert, name)
        self.consumer.commit(message=msg, asynchronous=False)

    def deliver(self, alert: dict, name: str) -> None:
        channel = self.channels.get(name)
        if channel is None:
            self._warn_once(f"unknown:{name}", f"rule {alert['rule']} names channel {name!r}, which "
                            f"{CHANNELS_FILE.relative_to(SQL_DIR.parent)} does not define: not delivered")
            return
        target = channel_target(self.settings, channel)
        if target is None:
            self._warn_once(f"unset:{name}", f"channel {name} skipped: {channel.env} is not set "
                            f"(set it in the environment or .env to deliver {channel.kind}s)")
            return
        key = (alert["alert_id"], alert["state"], name)
        if self._recorded(key):
            log.info("%s %s -> %s: already delivered", alert["alert_id"][:12], alert["state"], name)
            return
        status, attempts, detail = self._attempt(channel, target, alert)
        # a failed row is replaced when a replay of the topic delivers the transition after all
        self.db.execute("INSERT INTO alert_deliveries (alert_id, state, channel, status, attempts, detail) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (alert_id, state, channel) DO UPDATE SET "
                        "status = excluded.status, attempts = excluded.attempts, detail = excluded.detail, "
                        "delivered_at = now()", (*key, status, attempts, detail))
        log.log(logging.INFO if status == "delivered" else logging.ERROR, "%s %s -> %s: %s after %d attempt(s): %s",
                alert["alert_id"][:12], alert["state"], name, status, attempts, detail)

    def _recorded(self, key: tuple[str, str, str]) -> bool:
        return self.db.execute("SELECT 1 FROM alert_deliveries WHERE alert_id = %s AND state = %s AND channel = %s "
                               "AND status = 'delivered'", key).fetchone() is not None

    def _attempt(self, channel: Channel, target: str, alert: dict) -> tuple[str, int, str]:
        """Deliver, trying again after 1x, 2x, 4x ... the back-off while the error may pass."""
        delay = self.settings.notify_backoff_ms / 1000
        attempts = max(1, self.settings.notify_attempts)
        for attempt in range(1, attempts + 1):
            try:
                if channel.kind == "webhook":
                    return "delivered", attempt, send_webhook(target, alert)
                return "delivered", attempt, send_email(self.settings, target, alert)
            except DeliveryError as e:
                log.warning("%s %s -> %s: attempt %d of %d failed: %s", alert["alert_id"][:12], alert["state"],
                            channel.name, attempt, attempts, e)
                if self.stopping:
                    raise Interrupted() from None
                if not e.retry or attempt == attempts:
                    return "failed", attempt, str(e)
                time.sleep(min(delay, MAX_BACKOFF_S))
                delay *= 2
        raise AssertionError("unreachable")

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


def run(settings: Settings, channels_file: Path = CHANNELS_FILE) -> None:
    channels = load_channels(channels_file)
    try:
        notifier = Notifier(settings, channels)
    except psycopg.OperationalError as e:
        raise ClickpulseError(f"cannot reach PostgreSQL as {settings.postgres_writer_user} for alert_deliveries: "
                              f"{str(e).strip().splitlines()[-1]} (POSTGRES_HOST, POSTGRES_PORT; "
                              "run `clickpulse db migrate`)") from None
    notifier.run()
