"""`clickpulse db`: the analytics database's schema and retention."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ..db import migrations, retention
from ..progress import Progress
from ..stack.secrets import ensure_secrets

app = typer.Typer(help="The analytics database: versioned migrations (sql/migrations/) and retention.",
                  no_args_is_help=True)
console = Console(stderr=True)


@app.command()
def migrate() -> None:
    """Create the roles and databases if missing and apply pending migrations from
    sql/migrations/ (TimescaleDB variants when the extension is installed). Safe to run again.

    Example: clickpulse db migrate
    """
    with Progress(console=console, transient=True) as progress:
        backend, done = migrations.migrate(ensure_secrets(), progress)
    if done:
        for m in done:
            console.print(f"applied {m.rel}")
    console.print(f"database is up to date ({backend}, {len(done)} migration(s) applied now)")


@app.command()
def status() -> None:
    """List the migrations of the selected backend and when each was applied.

    Example: clickpulse db status
    """
    backend, rows = migrations.status(ensure_secrets())
    t = Table(title=f"migrations ({backend})")
    for col in ("version", "file", "applied"):
        t.add_column(col)
    for m, when in rows:
        t.add_row(f"V{m.version:03d}", m.rel, when or "[yellow]pending[/]")
    Console().print(t)


@app.command()
def prune(dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be removed (rows; whole chunks on "
                                                                  "TimescaleDB); remove nothing.")) -> None:
    """Remove rows past each table's retention (90 days for raw and minute-level tables).
    On TimescaleDB this drops whole chunks, which its retention policies also do every day;
    on plain PostgreSQL run it from cron, e.g. hourly.

    Example: clickpulse db prune --dry-run
    """
    with Progress(console=console, transient=True) as progress:
        pruned = retention.prune(ensure_secrets(), dry_run, progress)
    t = Table(title="retention" + (" (dry run)" if dry_run else ""))
    for col in ("table", "retention", "removed"):
        t.add_column(col)
    for p in pruned:
        t.add_row(p.table, p.retention, f"{p.removed} {p.unit}")
    Console().print(t)
