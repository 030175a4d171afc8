"""`clickpulse metrics`: author metrics as SQL files (sql/metrics/<table>.sql)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..runner import authoring, pipeline
from ..runner.metric import discover
from ..stack.secrets import ensure_secrets

app = typer.Typer(help="Author metrics: one SQL file per table in sql/metrics/, checked with the real Flink planner.",
                  no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def new(
    name: str = typer.Argument(..., help="Table name: lower-case letters, digits and _."),
    metrics_dir: Path = typer.Option(None, "--metrics-dir", help="Default: sql/metrics."),
    migrations_dir: Path = typer.Option(None, "--migrations-dir", help="Default: sql/migrations."),
) -> None:
    """Scaffold sql/metrics/NAME.sql (a per-minute count to edit) and the migration that
    creates its table. Then edit both, `clickpulse metrics validate`, `clickpulse db migrate`
    and `clickpulse jobs upgrade`.

    Example: clickpulse metrics new signups_per_minute
    """
    sql, migration = authoring.scaffold(name, metrics_dir, migrations_dir)
    console.print(f"created {sql}\ncreated {migration}")


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
    with console.status("planning every metric file"):
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
