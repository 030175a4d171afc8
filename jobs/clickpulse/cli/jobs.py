"""`clickpulse jobs`: the metric suite on a Flink session cluster."""

from __future__ import annotations

import datetime as dt

import typer
from rich.console import Console
from rich.table import Table

from ..errors import ClickpulseError
from ..progress import status
from ..runner import deploy, ticker as runner_ticker
from ..stack.secrets import ensure_secrets

app = typer.Typer(
    help="Deploy the metric suite (every sql/metrics/*.sql as one statement set, job name "
    "`clickpulse-events`) to the Flink session cluster at FLINK_REST_URL, list, stop and upgrade it.",
    no_args_is_help=True,
)
console = Console(stderr=True)

REST = typer.Option(None, "--rest-url", help="Flink REST address, e.g. http://flink:8081 (default FLINK_REST_URL).")


def _settings():
    return ensure_secrets()


def _start_at(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise ClickpulseError(f"--start-at {value!r}: give epoch milliseconds or an ISO time like "
                              "2026-11-24T10:00:00Z") from None


@app.command()
def submit(
    rest_url: str = REST,
    from_savepoint: str = typer.Option(None, "--from-savepoint",
                                       help="Restore state from this savepoint path, or `latest` for the one "
                                            "`jobs stop --savepoint` took last."),
    allow_non_restored_state: bool = typer.Option(False, "--allow-non-restored-state",
                                                  help="Restore even if the savepoint holds state of operators "
                                                       "the job no longer has (a removed metric)."),
    fresh: bool = typer.Option(False, "--fresh", help="Start with empty state and read the topics from the "
                               "beginning, rewriting every row they cover (default: continue from the last "
                               "run's savepoint or checkpoint)."),
    start_at: str = typer.Option(None, "--start-at",
                                 help="Read the topics from this Kafka record time (epoch ms or ISO) instead of "
                                      "where the job left off: for replaying a recorded log (see README)."),
    metric: list[str] = typer.Option(None, "--metric", help="Deploy only these metrics (default: all files)."),
) -> None:
    """Plan every metric file, check its table, and submit the suite to the cluster, with the
    connector jars and the event format shipped along. A no-op when the job already runs;
    otherwise it continues from the state the previous run left (savepoint or last
    checkpoint). Checkpoints every CLICKPULSE_CHECKPOINT_INTERVAL_MS (10 s); a failed job
    restarts from its last checkpoint.

    Example: clickpulse jobs submit --rest-url http://flink.example.internal:8081
    """
    with status(console, "planning and submitting the metric suite"):
        deploy.submit(_settings(), rest_url=rest_url, from_savepoint=from_savepoint,
                      allow_non_restored_state=allow_non_restored_state, names=metric or None,
                      start_at_ms=_start_at(start_at), fresh=fresh, log=console.print)


@app.command("list")
def list_jobs(rest_url: str = REST) -> None:
    """List the cluster's jobs with their state and start time.

    Example: clickpulse jobs list
    """
    s = _settings()
    t = Table(title=f"Flink jobs at {rest_url or s.flink_rest_url}")
    for col in ("name", "state", "id", "started (UTC)"):
        t.add_column(col)
    for j in deploy.Flink(rest_url or s.flink_rest_url).jobs():
        started = dt.datetime.fromtimestamp(j.start_time / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        t.add_row(j.name, j.state, j.jid, started)
    Console().print(t)


@app.command()
def stop(
    rest_url: str = REST,
    savepoint: bool = typer.Option(False, "--savepoint", help="Take a savepoint first (its path is printed and "
                                                             "remembered for `submit --from-savepoint latest`)."),
    savepoint_dir: str = typer.Option(None, "--savepoint-dir",
                                      help="Where to write it (default: the cluster's execution.checkpointing."
                                           "savepoint-dir)."),
) -> None:
    """Stop the metric suite, optionally with a savepoint so that a later submit continues
    with all window, deduplication and session state.

    Example: clickpulse jobs stop --savepoint
    """
    with status(console, "stopping"):
        deploy.stop(_settings(), rest_url=rest_url, savepoint=savepoint, savepoint_dir=savepoint_dir,
                    log=console.print)


@app.command()
def upgrade(
    rest_url: str = REST,
    savepoint_dir: str = typer.Option(None, "--savepoint-dir", help="Where to write the savepoint."),
) -> None:
    """Deploy changed metric files without losing state: stop with a savepoint, then submit
    the current files from it (state of removed metrics is dropped).

    Example: clickpulse jobs upgrade
    """
    with status(console, "upgrading"):
        deploy.upgrade(_settings(), rest_url=rest_url, savepoint_dir=savepoint_dir, log=console.print)


@app.command()
def ticker(interval: float = typer.Option(1.0, "--interval", help="Seconds between checks of the events topic.")
           ) -> None:
    """Keep event time moving while no events arrive, so the last windows close: after
    CLICKPULSE_TICK_AFTER_MS without events, write clock ticks (newest event time plus the
    quiet time) to CLICKPULSE_TICKS_TOPIC. `clickpulse stack up` runs it; run it next to
    the job on other clusters.

    Example: clickpulse jobs ticker
    """
    runner_ticker.run(_settings(), interval, log=console.print)


@app.command()
def flush() -> None:
    """Close every open window now, e.g. at the end of a replayed log or a benchmark: one
    tick a day past the newest event. Events older than that are late afterwards.

    Example: clickpulse jobs flush
    """
    ts = runner_ticker.flush(_settings())
    console.print(f"event time moved to {dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc):%Y-%m-%d %H:%M:%S}Z")
