"""The database's schema as the metric files need it: every metric's table with the columns
its SELECT produces. `clickpulse metrics validate` reports the differences."""

from __future__ import annotations

from typing import TYPE_CHECKING

import psycopg

from ..settings import Settings

if TYPE_CHECKING:  # annotations only: the runner imports this module, not the other way round
    from ..runner.metric import Metric


def public_columns(settings: Settings) -> dict[str, set[str]]:
    """Column names of every table and view in the public schema, as the writer role sees them."""
    with psycopg.connect(settings.dsn("writer"), connect_timeout=5) as conn:
        rows = conn.execute("select table_name, column_name from information_schema.columns "
                            "where table_schema = 'public'").fetchall()
    have: dict[str, set[str]] = {}
    for table, column in rows:
        have.setdefault(table, set()).add(column)
    return have


def check_tables(settings: Settings, metrics: list[Metric], columns: dict[str, list]) -> list[str]:
    """Problems between the metric files and the database's tables (empty when they fit).
    Raises psycopg's OperationalError when the database cannot be reached."""
    have = public_columns(settings)
    problems = []
    for m in metrics:
        if m.table not in have:
            problems.append(f"{m.rel}:1: table {m.table} does not exist; add a migration to sql/migrations/ "
                            f"(`clickpulse metrics ddl {m.name}` prints one) and run `clickpulse db migrate`")
            continue
        missing = [c.name for c in columns[m.name] if c.name not in have[m.table]]
        if missing:
            problems.append(f"{m.rel}:1: table {m.table} has no column(s) {', '.join(missing)}; add a migration")
    return problems
