"""`clickpulse demo`: the whole product on this machine, from nothing to a live dashboard."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import ClickpulseError
from ..paths import ROOT, state_dir
from ..progress import Progress
from ..settings import Settings
from ..stack import services
from ..stack.kafka import records_in
from ..stack.secrets import ensure_secrets

console = Console(stderr=True)


def _cli(*args: str) -> None:
    exe = Path(sys.executable).parent / "clickpulse"
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, cwd=ROOT)
    if res.returncode != 0:
        out = (res.stdout + res.stderr).strip().splitlines()
        raise ClickpulseError(f"`clickpulse {' '.join(args)}` failed: {' | '.join(out[-5:])}")


def demo(
    rate: float = typer.Option(None, "--rate", help="Events per second the generator sends (default "
                               "CLICKPULSE_GENERATOR_RATE)."),
    sites: int = typer.Option(3, "--sites", help="How many sites the generator simulates."),
    history_days: int = typer.Option(2, "--history-days", min=0,
                                     help="Days of generated history sent first, so the daily and hourly charts "
                                     "have data at once (only into an empty events topic; 0 = none)."),
    history_rate: float = typer.Option(3.0, "--history-rate", min=0.1,
                                       help="Events per second of event time in the history."),
    kafka_brokers: int = typer.Option(None, "--kafka-brokers", min=1, help="Kafka brokers, as for `stack up` "
                                      "(make demo KAFKA_BROKERS=3)."),
    taskmanagers: int = typer.Option(None, "--taskmanagers", min=1, help="Flink TaskManagers, as for `stack up` "
                                     "(make demo TASKMANAGERS=2)."),
) -> None:
    """Start the local stack, create the tables, submit the metric jobs, load the dashboards,
    send a few days of history (first run only), start the traffic generator, the
    collector, the live gateway, the alert notifier and the pipeline watcher, and print where
    to look. Safe to run again.

    Example: clickpulse demo --rate 500 --kafka-brokers 3 --taskmanagers 2
    """
    settings = ensure_secrets()
    rate = rate or settings.generator_rate
    steps = [
        ("start Kafka, PostgreSQL, Flink, Superset", lambda: services.up(None, kafka_brokers=kafka_brokers,
                                                                         taskmanagers=taskmanagers)),
        ("apply database migrations", lambda: _cli("db", "migrate")),
        ("submit the metric jobs", lambda: _cli("jobs", "submit")),
        ("load the dashboards", lambda: _cli("dashboards", "sync")),
        (f"send {history_days} days of history", lambda: send_history(settings, history_days, history_rate, sites)),
        ("start the traffic generator", lambda: services.start_feeder(
            # 1% bot traffic: the Pipeline health dashboard's bot chart has something to show
            "generator", ["generate", "--rate", str(rate), "--sites", str(sites), "--bots", "0.01"])),
        ("start the collector", lambda: services.start_feeder("collector", ["collect"])),
        ("start the live gateway", lambda: services.start_feeder("gateway", ["gateway"])),
        ("start the alert notifier", lambda: services.start_feeder("notifier", ["alerts", "notify"])),
        ("start the pipeline watcher", lambda: services.start_feeder("watcher", ["alerts", "watch"])),
    ]
    if not history_days:
        steps = [s for s in steps if not s[0].startswith("send ")]
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as p:
        for label, step in steps:
            task = p.add_task(label, total=1)
            step()
            p.update(task, completed=1, description=f"[green]✓[/] {label}")
    s = ensure_secrets()
    # plain print: the banner is what users copy from, so no wrapping or markup
    print(f"""
clickpulse is running
  Flink UI        {s.flink_rest_url}   (job {s.job_name})
  Dashboards      {s.superset_url}/dashboard/list/   (Live refreshes every 5 s)
    admin         {s.superset_admin_user} / {s.superset_admin_password}
    analyst       {s.superset_analyst_user} / {s.superset_analyst_password}
    viewer        {s.superset_viewer_user} / {s.superset_viewer_password}
    site viewer   {s.superset_site_viewer_user} / {s.superset_site_viewer_password}   (sees only {s.superset_site_viewer_site})
  Collector demo  http://{s.collector_host}:{s.collector_port}/demo
  Live page       http://{s.gateway_host}:{s.gateway_port}/   (pushed every second; same users as the dashboards)
  Alerts          {s.superset_url}/superset/dashboard/alerts/   (notifier: ALERT_WEBHOOK_URL, ALERT_EMAIL_TO; reports: /report/list/)
                  pipeline rules judged by `clickpulse alerts watch` (.clickpulse/logs/watcher.log)
  Kafka           {services.kafka_bootstrap(s)}   (topic {s.events_topic}, dead letters {s.dead_letter_topic})
  PostgreSQL      {s.dsn('reader')}   (read-only)
  Generator       {rate:g} events/s over {sites} sites (1% of them bots, kept out of the user metrics)

  Other tools:    eval "$(clickpulse stack env)"
  Status:         clickpulse stack status
  Stop:           make down   (state kept in .clickpulse/; `make clean` removes it)
""")


def send_history(settings: Settings, days: int, rate: float, sites: int) -> None:
    """DAYS of traffic up to now, sent as fast as Kafka takes it, so that the Trends and
    Funnels charts have closed days and hours to show from the start. Only into a topic that
    holds nothing yet (older events after newer ones would all be late), and once per stack
    (a marker next to Kafka's data, which `make clean` removes with it)."""
    marker = state_dir() / "demo-history-sent"
    if marker.exists() or records_in(settings, settings.events_topic) > 0:
        return
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=days)
    _cli("generate", "--start", start.isoformat(), "--duration", f"{days * 24}h", "--speed", "0",
         "--rate", str(rate), "--sites", str(sites), "--topic", settings.events_topic, "--quiet")
    marker.write_text(f"{start.isoformat()} +{days}d at {rate} events/s\n")
