"""`clickpulse bench`: load and latency benchmarks."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

app = typer.Typer(help="Benchmarks: how much the pipeline takes and how fast the dashboards answer.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


@app.command("dashboards")
def dashboards(
    days: int = typer.Option(90, "--days", help="Days of metric history to load under the bench site ids."),
    runs: int = typer.Option(20, "--runs", help="Timed requests per chart (after one warm-up)."),
    budget_ms: float = typer.Option(500, "--budget-ms", help="Exit 1 when the overall p95 is not below this."),
    load: bool = typer.Option(True, "--load/--no-load", help="Load (or top up to now) the bench data first."),
    remove: bool = typer.Option(False, "--remove", help="Delete all bench rows at the end (site ids bench-*)."),
) -> None:
    """Load DAYS days of realistic metric rows (sites bench-1..3, 12 countries, 4 devices,
    4 plans, 8 event types, daily cycle) into the analytics database, then time the
    chart-data API (`/api/v1/chart/data`, cache bypassed with `force`) RUNS times for every
    chart of every dashboard and print p50/p95/max per chart and overall. Writes
    reports/bench-dashboards-TIMESTAMP.md and .json. Loading again only tops the data up to
    now; `--remove` deletes it (`--no-load --runs 0 --remove` only deletes).

    Example: clickpulse bench dashboards --days 90 --runs 20
    """
    import datetime as dt
    import shlex
    import sys

    from ..dashboards import bench, benchdata
    from ..stack import postgres
    from ..stack.secrets import ensure_secrets

    settings = ensure_secrets()
    if load:
        with _progress() as progress:
            benchdata.load(settings, days, progress)
    timings = []
    if runs > 0:
        with _progress() as progress:
            timings = bench.time_charts(settings, runs, progress=progress)
        with postgres.connect(settings, "admin", autocommit=True) as conn:
            from ..db.migrations import detect_backend

            backend = detect_backend(conn, settings)
        meta = {
            "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": "clickpulse " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "superset_url": settings.superset_url, "backend": backend, "days": days,
            "sites": [s.site_id for s in benchdata.SITES], "rows": benchdata.row_counts(settings),
            "runs": runs, "warmup": 1, "budget_ms": budget_ms,
        }
        report = bench.write_report(timings, meta)
        t = Table(title=f"chart-data API, {runs} requests per chart, force (ms)")
        for col in ("dashboard", "chart", "rows", "p50", "p95", "max"):
            t.add_column(col, justify="right" if col in ("rows", "p50", "p95", "max") else "left")
        for c in timings:
            style = "red" if c.p95 >= budget_ms else ""
            t.add_row(c.dashboard, c.chart, str(c.rows), f"{c.p50:.0f}", f"[{style}]{c.p95:.0f}[/]" if style
                      else f"{c.p95:.0f}", f"{c.max:.0f}")
        total = bench.overall(timings)
        t.add_row("[bold]all charts", f"{total['requests']} requests", "", f"[bold]{total['p50']:.0f}",
                  f"[bold]{total['p95']:.0f}", f"[bold]{total['max']:.0f}")
        Console().print(t)
        console.print(f"report: {report}")
    if remove:
        with _progress() as progress:
            benchdata.remove(settings, progress)
        console.print("bench rows removed")
    if timings and bench.overall(timings)["p95"] >= budget_ms:
        console.print(f"[red]overall p95 {bench.overall(timings)['p95']:.0f} ms is not below {budget_ms:.0f} ms[/]")
        raise typer.Exit(1)
