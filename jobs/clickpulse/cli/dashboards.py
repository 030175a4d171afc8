"""`clickpulse dashboards`: the Superset dashboards, datasets, roles and users, as code."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..dashboards.authoring import capture_query_contexts
from ..dashboards.sync import sync as sync_dashboards
from ..progress import Progress
from ..stack.secrets import ensure_secrets

app = typer.Typer(
    help="Superset dashboards as code: the assets in superset/assets/ (Superset's export format), "
    "the Analyst and Viewer roles, the demo users and row-level security by site.",
    no_args_is_help=True,
)
console = Console(stderr=True)


@app.command()
def sync() -> None:
    """Import the database, datasets, charts and dashboards of superset/assets/ into the
    Superset at SUPERSET_URL (overwriting them in place, matched by UUID), register a dataset
    for every metric table that has no YAML, and create or update the Analyst, Viewer and
    Site viewer roles, the demo users and the row-level security rule of
    SUPERSET_SITE_VIEWER_SITE. Running it again changes nothing and never duplicates an asset.

    Example: clickpulse dashboards sync
    """
    settings = ensure_secrets()
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        result = sync_dashboards(settings, progress)
    t = Table(title=f"dashboards synced into {settings.superset_url}")
    t.add_column("what")
    t.add_column("result")
    t.add_row("assets", f"{result.databases} database, {result.datasets} datasets, {result.charts} charts, "
                        f"{result.dashboards} dashboards")
    if result.generated:
        t.add_row("generated datasets", ", ".join(result.generated))
    for change in result.changes:
        t.add_row(f"{change.kind} {change.name}", change.action)
    Console().print(t)
    if result.missing_tables:
        console.print(f"[yellow]no table yet for sql/metrics/{{{','.join(result.missing_tables)}}}.sql[/]: "
                      "run `clickpulse db migrate`, then sync again")
    console.print(f"open {settings.superset_url}/dashboard/list/ (logins: `clickpulse stack env`)")


@app.command("capture-queries")
def capture_queries() -> None:
    """Record, for every chart YAML in superset/assets/charts/, the query Superset's Explore
    builds from its params (the chart's `query_context`, as "Save" in Explore stores it), by
    opening each chart in headless Chromium. The chart-data API, reports and
    `clickpulse bench dashboards` need it. Run after editing a chart's params and syncing.

    Example: clickpulse dashboards sync && clickpulse dashboards capture-queries && clickpulse dashboards sync
    """
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console,
                  transient=True) as progress:
        changed = capture_query_contexts(ensure_secrets(), progress=progress)
    console.print(f"query contexts updated in {len(changed)} chart file(s)" +
                  (": " + ", ".join(changed) if changed else "") + "; run `clickpulse dashboards sync` to load them")
