"""`clickpulse alerts`: alert rules (sql/alerts/) and their notifications."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from ..alerts import notify as notifier
from ..stack.secrets import ensure_secrets

app = typer.Typer(
    help="Alerts: rules in sql/alerts/*.yaml evaluated in the stream, delivered by the notifier "
    "to the channels of sql/alerts/channels.yaml (webhooks, e-mail).",
    no_args_is_help=True,
)


@app.command()
def notify(
    channels: Path = typer.Option(notifier.CHANNELS_FILE, "--channels", help="The channels file."),
) -> None:
    """Deliver the alerts of CLICKPULSE_ALERTS_TOPIC to their channels: Slack-compatible
    webhooks (POST {"text": ..., "attachments": [...]}) and e-mail through SMTP_HOST. Each
    (alert, state, channel) is delivered once, recorded in the table alert_deliveries before
    the Kafka offset moves, so a replayed topic or a restart sends nothing twice; failures are
    retried CLICKPULSE_NOTIFY_ATTEMPTS times with back-off. A channel whose variable
    (ALERT_WEBHOOK_URL, ALERT_EMAIL_TO, ...) is unset is skipped with one log line. The
    local stack runs it as the supervised feeder `notifier`.

    Example: ALERT_WEBHOOK_URL=https://hooks.slack.com/services/T/B/X clickpulse alerts notify
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    notifier.run(ensure_secrets(), channels)
