"""`clickpulse alerts`: alert rules as files (sql/alerts/<rule>.yaml), evaluated in the
events job (README *Alerts*). The notifier's command joins this group."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..alerts import rules as alert_rules
from ..runner import authoring
from ..runner.funnels import load_funnels
from ..stack.secrets import ensure_secrets

app = typer.Typer(help="Alert rules: one YAML file per rule in sql/alerts/, evaluated in the stream.",
                  no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def new(
    name: str = typer.Argument(..., help="Rule name: lower-case letters, digits and _."),
    kind: str = typer.Option("anomaly", "--kind", help="threshold, anomaly, funnel_drop or bot_flood."),
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
    with console.status("checking and planning every rule file"):
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
                  f"{r.for_minutes}m / {r.cooldown_minutes}m", r.severity, ", ".join(r.channels))
    Console().print(t)
