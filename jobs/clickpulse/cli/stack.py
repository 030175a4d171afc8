"""`clickpulse stack`: the local services (Kafka, PostgreSQL, Flink, Superset) as processes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shlex

import typer
from rich.console import Console
from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..progress import Progress
from ..settings import get_settings
from ..stack import kafka, services, superset
from ..stack.secrets import ensure_secrets

app = typer.Typer(
    help="Run the local stack: Kafka (KRaft), PostgreSQL 15, a Flink session cluster and Superset, "
    "all on 127.0.0.1 with state under .clickpulse/.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@app.command()
def up(
    only: str = typer.Option("", "--only", help="Comma-separated subset: postgres,redis,kafka,flink,superset."),
    kafka_brokers: int = typer.Option(None, "--kafka-brokers", min=1, help="Kafka brokers (KRaft nodes) on "
                                      "consecutive ports from the Kafka port; 3 gives topics with 3 replicas and "
                                      "min.insync.replicas=2 (default CLICKPULSE_KAFKA_BROKERS, else as last run, else 1)."),
    taskmanagers: int = typer.Option(None, "--taskmanagers", min=1, help="Flink TaskManagers (default "
                                     "CLICKPULSE_TASKMANAGERS, else as last run, else 1). More than one broker or "
                                     "TaskManager also runs ZooKeeper for the JobManager's high availability."),
) -> None:
    """Install what is missing and start the services and their supervisor. Safe to run
    again: on a partly failed stack it starts only what is missing (say, a TaskManager
    that died while the JobManager still runs).

    Example: clickpulse stack up --kafka-brokers 3 --taskmanagers 2
    """
    names = [n.strip() for n in only.split(",") if n.strip()] or None
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        services.up(names, progress, kafka_brokers=kafka_brokers, taskmanagers=taskmanagers)
    console.print("[green]stack is up[/] — `clickpulse stack status` for details")


@app.command()
def supervise() -> None:
    """Watch the stack's processes and start a crashed one again, with exponential back-off
    (1 s doubling to 60 s; it gives up after 5 deaths each within a minute of a restart).
    `stack up` runs it in the background and `stack down` stops it; each death and restart
    is logged to .clickpulse/logs/restarts.jsonl, which `stack status` summarises.

    Example: clickpulse stack supervise   # in the foreground, when `stack up` did not start it
    """
    services.supervise()


@app.command()
def down() -> None:
    """Stop every process the stack started (data is kept; `make clean` removes it).

    Example: clickpulse stack down
    """
    stopped = services.down()
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command()
def clean() -> None:
    """Stop everything and delete the stack's state: CLICKPULSE_HOME (.clickpulse/) and the
    PostgreSQL cluster's files, which live in /var/lib/clickpulse/<hash> when clickpulse
    runs as root (see docs/design.md). `make clean` runs it.

    Example: clickpulse stack clean
    """
    removed = services.clean()
    console.print(f"removed: {', '.join(map(str, removed)) if removed else 'nothing to remove'}")


@app.command()
def stop(service: str = typer.Argument(..., help="postgres, redis, kafka, flink, superset, generator, collector, gateway, "
                                          "notifier, watcher, ticker, zookeeper or supervisor")) -> None:
    """Stop one service (for example to see how the pipeline copes with Kafka gone). The
    supervisor leaves a service stopped this way alone until `stack up` (a service) or
    `stack start` (a background process such as the generator) starts it again.

    Example: clickpulse stack stop kafka
    """
    console.print(f"{service}: {'stopped' if services.stop(service) else 'was not running'}")


@app.command()
def start(feeder: str = typer.Argument(..., help="generator, collector, gateway, notifier, watcher or ticker")) -> None:
    """Start a background process of the stack again, after `stack stop`, with the arguments
    it last ran with (the demo's generator: its rate, sites and bots), supervised again.

    Example: clickpulse stack start generator
    """
    console.print(f"{feeder}: started (pid {services.start_again(feeder)})")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON (for scripts).")) -> None:
    """List each process of the stack (the Flink JobManager and every TaskManager on their
    own rows) with its port, health, pid and how often the supervisor restarted it, and the
    Flink jobs with their state. Exits 1 when a service is down.

    Example: clickpulse stack status
    """
    rows, jobs = services.status()
    if as_json:
        print(json.dumps({"services": [dataclasses.asdict(r) for r in rows], "jobs": jobs}, indent=1))
        if not all(r.healthy for r in rows):
            raise typer.Exit(1)
        return
    out = Console()
    t = Table(title="clickpulse stack")
    for col in ("service", "port", "health", "pid", "restarts", "last restart", "detail"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.name, str(r.port or "-"), "[green]healthy[/]" if r.healthy else "[red]down[/]",
                  str(r.pid or "-"), str(r.restarts), r.last_restart or "-", r.detail)
    out.print(t)
    j = Table(title="Flink jobs")
    for col in ("name", "state", "id", "started"):
        j.add_column(col)
    for job in jobs:
        started = dt.datetime.fromtimestamp(job["start-time"] / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        j.add_row(job["name"], job["state"], job["jid"], started)
    if not jobs:
        j.add_row("(none)", "", "", "")
    out.print(j)
    if not all(r.healthy for r in rows):
        raise typer.Exit(1)


@app.command()
def env(
    all_logins: bool = typer.Option(True, "--logins/--no-logins", help="Include the demo logins."),
) -> None:
    """Print the connection settings as shell `export` lines.

    Example: eval "$(clickpulse stack env)" && psql "$DATABASE_URL" -c 'select 1'
    """
    s = ensure_secrets()
    pairs = [
        ("KAFKA_BOOTSTRAP_SERVERS", services.kafka_bootstrap(s)),
        ("CLICKPULSE_EVENTS_TOPIC", s.events_topic),
        ("CLICKPULSE_DEAD_LETTER_TOPIC", s.dead_letter_topic),
        ("FLINK_REST_URL", s.flink_rest_url),
        ("DATABASE_URL", s.dsn("reader")),
        ("SUPERSET_URL", s.superset_url),
        ("REDIS_URL", s.redis_url),
        ("COLLECTOR_URL", f"http://{s.collector_host}:{s.collector_port}"),
    ]
    if all_logins:
        pairs += [
            ("SUPERSET_ADMIN_USER", s.superset_admin_user),
            ("SUPERSET_ADMIN_PASSWORD", s.superset_admin_password),
            ("SUPERSET_ANALYST_USER", s.superset_analyst_user),
            ("SUPERSET_ANALYST_PASSWORD", s.superset_analyst_password),
            ("SUPERSET_VIEWER_USER", s.superset_viewer_user),
            ("SUPERSET_VIEWER_PASSWORD", s.superset_viewer_password),
            ("SUPERSET_SITE_VIEWER_USER", s.superset_site_viewer_user),
            ("SUPERSET_SITE_VIEWER_PASSWORD", s.superset_site_viewer_password),
        ]
    for k, v in pairs:
        print(f"export {k}={shlex.quote(str(v or ''))}")


@app.command()
def topics() -> None:
    """Create the events and dead-letter topics on the Kafka at KAFKA_BOOTSTRAP_SERVERS
    (done by `stack up`; for clusters the stack does not run, such as docker compose).

    Example: KAFKA_BOOTSTRAP_SERVERS=kafka:29092 clickpulse stack topics
    """
    kafka.create_topics(get_settings())
    console.print("topics ready")


@app.command("superset-init")
def superset_init() -> None:
    """Prepare Superset's metadata database and admin user (done by `stack up`; for a
    Superset the stack does not run, such as docker compose).

    Example: clickpulse stack superset-init
    """
    superset.init(get_settings())
    console.print("superset initialized")
