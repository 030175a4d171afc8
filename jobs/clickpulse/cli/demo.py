"""`clickpulse demo`: the whole product on this machine, from nothing to a live dashboard."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from ..errors import ClickpulseError
from ..paths import ROOT
from ..stack import services
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
) -> None:
    """Start the local stack, create the tables, submit the metric jobs, load the dashboards,
    start the traffic generator, the collector and the live gateway, and print where to look.
    Safe to run again.

    Example: clickpulse demo --rate 500
    """
    settings = ensure_secrets()
    rate = rate or settings.generator_rate
    steps = [
        ("start Kafka, PostgreSQL, Flink, Superset", lambda: services.up(None)),
        ("apply database migrations", lambda: _cli("db", "migrate")),
        ("submit the metric jobs", lambda: _cli("jobs", "submit")),
        ("load the dashboards", lambda: _cli("dashboards", "sync")),
        ("start the traffic generator", lambda: services.start_feeder(
            "generator", ["generate", "--rate", str(rate), "--sites", str(sites)])),
        ("start the collector", lambda: services.start_feeder("collector", ["collect"])),
        ("start the live gateway", lambda: services.start_feeder("gateway", ["gateway"])),
    ]
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
  Dashboards      {s.superset_url}/dashboard/list/   (Live refreshes every 10 s)
    admin         {s.superset_admin_user} / {s.superset_admin_password}
    analyst       {s.superset_analyst_user} / {s.superset_analyst_password}
    viewer        {s.superset_viewer_user} / {s.superset_viewer_password}
    site viewer   {s.superset_site_viewer_user} / {s.superset_site_viewer_password}   (sees only {s.superset_site_viewer_site})
  Collector demo  http://{s.collector_host}:{s.collector_port}/demo
  Live page       http://{s.gateway_host}:{s.gateway_port}/   (pushed every second; same users as the dashboards)
  Kafka           {s.kafka_bootstrap_servers}   (topic {s.events_topic}, dead letters {s.dead_letter_topic})
  PostgreSQL      {s.dsn('reader')}   (read-only)
  Generator       {rate:g} events/s over {sites} sites

  Other tools:    eval "$(clickpulse stack env)"
  Status:         clickpulse stack status
  Stop:           make down   (state kept in .clickpulse/; `make clean` removes it)
""")
