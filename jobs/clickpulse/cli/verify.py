"""`clickpulse verify`: the tables checked against a batch computation of the events topic."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .. import verify as verification
from ..ingest.feed import parse_start
from ..progress import Progress
from ..settings import get_settings
from ..verify import report

console = Console(stderr=True)


def _names(value: str | None) -> list[str] | None:
    names = [n.strip() for n in (value or "").split(",") if n.strip()]
    return names or None


def verify(
    from_: str = typer.Option("-1h", "--from", help="Start of the range: ISO time (UTC unless it says otherwise), "
                                                   "epoch ms, or relative like -2h."),
    to: str = typer.Option("now", "--to", help="End of the range (exclusive), same forms as --from."),
    tables: str = typer.Option(None, "--tables", help="Comma-separated tables (default: every table "
                                                      "clickpulse.truth computes)."),
    sites: str = typer.Option(None, "--sites", help="Comma-separated site ids (default: all)."),
    wait: float = typer.Option(30.0, "--wait", min=0.0,
                               help="Seconds to keep re-checking tables that differ, while the job writes "
                                    "what the topic already holds."),
    examples: int = typer.Option(3, "--examples", min=0, help="Example rows shown per kind of difference."),
    report_dir: Path = typer.Option(None, "--report-dir", file_okay=False,
                                    help="Where to write verify-TIME.md and .json (default reports/)."),
) -> None:
    """Check the metric tables against the events topic (stream against batch): read the
    records of the range from KAFKA_BOOTSTRAP_SERVERS, compute every table from them with
    clickpulse.truth, and compare with the tables in PostgreSQL (DATABASE_URL, or
    POSTGRES_* with the read-only role). Prints, per table, rows equal / missing /
    different / extra with examples, writes reports/verify-TIME.md and .json, and exits 1
    on any difference in a closed window.

    Only windows wholly inside [--from, --to) are compared: a window that straddles an
    edge also holds events outside the range. So minute tables need whole minutes, the
    hourly ones (top_pages_1h, sessions_1h, funnel_conversions, by hour of start) whole
    hours, active_users_daily whole UTC days, and late_events / invalid_events whole
    minutes of arrival (Kafka record time). Before the range it also reads the
    deduplication interval (CLICKPULSE_DEDUP_TTL_MS) and each partition's newest event
    time; after it, until the range's sessions and funnel attempts can have ended.

    Rows whose window is not closed yet are counted as open and do not fail: windows
    ending after the watermark (the slowest partition's newest event time minus
    CLICKPULSE_WATERMARK_DELAY_MS), sessions still running, funnel hours whose attempts
    can still complete, and minutes of arrival not yet complete.

    Example: clickpulse verify --from 2026-03-02T09:00Z --to 2026-03-02T11:00Z --sites site-1
    """
    now_ms = int(time.time() * 1000)
    from_ms, to_ms = parse_start(from_, now_ms, "--from"), parse_start(to, now_ms, "--to")
    settings = get_settings()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=True) as progress:
        task = progress.add_task(f"reading {settings.events_topic}", total=None)
        result = verification.run(settings, from_ms, to_ms, _names(tables), _names(sites), wait,
                                  progress=lambda done, total: progress.update(task, completed=done, total=total),
                                  status=lambda text: progress.update(task, description=text), now_ms=now_ms)
    report.print_result(result, examples, Console())
    command = "clickpulse " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    path = report.write(result, examples, command, report_dir)
    console.print(f"report: {path} (and .json)")
    if result.failed:
        bad = sum(r.differences for r in result.results)
        console.print(f"[red]{bad:,} rows differ in closed windows[/]")
        raise typer.Exit(1)
    console.print("[green]no difference in closed windows[/]")
