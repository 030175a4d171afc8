"""`clickpulse alerts`: alert rules as files (sql/alerts/<rule>.yaml), evaluated in the
events job (README *Alerts*), and the notifier that delivers them."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..alerts import notify as notifier
from ..alerts import rules as alert_rules
from ..alerts import watch as watcher
from ..progress import status
from ..runner import authoring
from ..runner.funnels import load_funnels
from ..stack.secrets import ensure_secrets

app = typer.Typer(
    help="Alerts: rules in sql/alerts/*.yaml evaluated in the stream, delivered by the notifier "
    "to the channels of sql/alerts/channels.yaml (webhooks, e-mail).",
    no_args_is_help=True,
)
console = Console(stderr=True)


@app.command()
def new(
    name: str = typer.Argument(..., help="Rule name: lower-case letters, digits and _."),
    kind: str = typer.Option("anomaly", "--kind", help="threshold, anomaly, funnel_drop, bot_flood or pipeline."),
    directory: Path = typer.Option(None, "--dir", help="Folder of rule files (default sql/alerts)."),
) -> None:
    """Scaffold sql/alerts/NAME.yaml for a kind of rule, with every key commented. Then edit
    it, `clickpulse alerts validate` and `clickpulse jobs upgrade`.

    Example: clickpulse alerts new signups_collapse --kind anomaly
    """
    console.print(f"created {alert_rules.scaffold(name, kind, directory)}")


@app.command()
def validate(
    directory: Path = typer.Option(None, "--dir", help="Folder of rule files (default sql/alerts)."),
) -> None:
    """Check every rule file (keys, metric, channels against channels.yaml) and plan its SQL
    with the real Flink planner, without a cluster; report problems as `file:line: message`
    and exit 1 if there are any.

    Example: clickpulse alerts validate
    """
    with status(console, "checking and planning every rule file"):
        report = authoring.validate_alerts(ensure_secrets(), directory)
    for err in report.errors:
        print(err)
    if report.errors:
        raise typer.Exit(1)
    console.print(f"[green]{len(report.checked)} rule files OK[/]")


@app.command("list")
def list_rules(
    directory: Path = typer.Option(None, "--dir", help="Folder of rule files (default sql/alerts)."),
) -> None:
    """List the rules: kind, condition, sites, for/cooldown, severity and channels.

    Example: clickpulse alerts list
    """
    t = Table(title="alert rules (sql/alerts/)")
    for col in ("rule", "kind", "condition", "sites", "for / cooldown", "severity", "channels"):
        t.add_column(col)
    for r in alert_rules.discover(directory, funnels=load_funnels()):
        t.add_row(r.name, r.kind, alert_rules.describe(r), ", ".join(r.sites) if r.sites else "all",
                  alert_rules.for_cooldown(r), r.severity, ", ".join(r.channels))
    Console().print(t)


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


@app.command()
def watch(
    directory: Path = typer.Option(None, "--dir", help="Folder of rule files (default sql/alerts)."),
    once: bool = typer.Option(False, "--once", help="Observe and judge once, then exit."),
) -> None:
    """Judge the pipeline-health rules (`kind: pipeline`: job_not_running, freshness_s,
    consumer_lag, dead_letter_share) from outside Flink, every CLICKPULSE_WATCH_POLL_MS:
    the job's state from the Flink REST API, the age of the newest minute in the tables,
    the events topic's end offsets against the job's committed offsets, and the dead-letter
    topic against the events topic. Transitions go to the `alerts` table and
    CLICKPULSE_ALERTS_TOPIC like the stream rules' (site `all`), so the notifier delivers
    them; a restart reads the open alerts back and fires nothing twice. The local stack runs
    it as the supervised feeder `watcher`.

    Example: clickpulse alerts watch
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)   # one Flink REST call per poll: not news
    settings = ensure_secrets()
    watcher.run(settings, alert_rules.discover(directory, funnels=load_funnels()), once=once)
