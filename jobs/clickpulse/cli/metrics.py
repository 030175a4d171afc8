"""`clickpulse metrics`: author metrics as SQL files (sql/metrics/<table>.sql)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..dashboards.assets import scaffold_dataset
from ..errors import ClickpulseError
from ..progress import status
from ..runner import authoring, pipeline
from ..runner.metric import discover
from ..stack.secrets import ensure_secrets

app = typer.Typer(help="Author metrics: one SQL file per table in sql/metrics/, checked with the real Flink planner.",
                  no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def new(
    name: str = typer.Argument(..., help="Table name: lower-case letters, digits and _."),
    root: Path = typer.Option(None, "--root", help="Repository to write into (default: this checkout; "
                              "a copy in tests)."),
) -> None:
    """Scaffold everything a metric needs, as a per-minute count of events to edit:
    sql/metrics/NAME.sql (header: purpose, grain, window, watermark, key), the migration
    that creates its table, its reference function in clickpulse/truth.py, its entry in
    the database tests' tables (tests/db/tables.py) and its Superset dataset. Then edit
    the SQL and the reference together, `clickpulse metrics validate`, `clickpulse db
    migrate`, `clickpulse jobs upgrade` and `clickpulse dashboards sync`.

    Example: clickpulse metrics new signups_per_minute
    """
    places = authoring.Places.under(root)
    assets = places.root / "superset" / "assets"
    if (assets / "datasets" / "clickpulse" / f"{name}.yaml").exists():
        raise ClickpulseError(f"{assets / 'datasets' / 'clickpulse' / f'{name}.yaml'} already exists")
    written = authoring.scaffold(name, places)
    written.append(scaffold_dataset(name, authoring.SCAFFOLD_COLUMNS, authoring.SCAFFOLD_KEY, assets))
    for path in written:
        console.print(f"{'added to' if path.suffix == '.py' else 'created'} {path}")


@app.command()
def validate(
    directory: Path = typer.Option(None, "--dir", help="Folder of metric files (default sql/metrics)."),
    db: bool = typer.Option(None, "--db/--no-db", help="Compare with the database's tables (default: when reachable)."),
) -> None:
    """Plan every metric file with the real Flink planner, without a cluster, as the
    deployed job would (sources, shared views, JDBC sinks); report problems as
    `file:line: message` and exit 1 if there are any.

    Example: clickpulse metrics validate
    """
    with status(console, "planning every metric file"):
        report = authoring.validate(ensure_secrets(), directory, db)
    for note in report.notes:
        console.print(f"note: {note}")
    for err in report.errors:
        print(err)
    if report.errors:
        raise typer.Exit(1)
    console.print(f"[green]{len(report.checked)} metric files OK[/]")


@app.command()
def ddl(name: str = typer.Argument(..., help="A metric file's name (its table).")) -> None:
    """Print a CREATE TABLE for a metric file's SELECT, with the planner's column types and
    the file's key: a start for its migration.

    Example: clickpulse metrics ddl events_per_minute
    """
    metric = discover([name])[0]
    t_env = authoring.local_env(ensure_secrets())
    print(authoring.ddl(metric, pipeline.resolved_columns(t_env, metric)), end="")


@app.command("list")
def list_metrics() -> None:
    """List the metric files with their grain and key.

    Example: clickpulse metrics list
    """
    t = Table(title="metrics (sql/metrics/)")
    for col in ("table", "grain", "key"):
        t.add_column(col)
    for m in discover():
        t.add_row(m.name, m.header.get("grain", ""), ", ".join(m.key))
    Console().print(t)
