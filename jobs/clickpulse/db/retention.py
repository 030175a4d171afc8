"""Retention: rows past each time-series table's retention (declared in the migrations
with clickpulse_timeseries()) are removed. TimescaleDB drops whole chunks on its own
schedule; on plain PostgreSQL `clickpulse db prune` deletes them in batches."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ..settings import Settings
from ..stack import postgres
from .migrations import detect_backend

BATCH = 50_000


@dataclass
class Pruned:
    table: str
    retention: str
    removed: int
    unit: str  # "rows" (PostgreSQL) or "chunks" (TimescaleDB drops whole chunks)


def prune(settings: Settings, dry_run: bool = False, progress=None) -> list[Pruned]:
    out = []
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        backend = detect_backend(conn, settings)
        rows = conn.execute("select table_name, time_column, retention::text from clickpulse_retention "
                            "where retention is not null order by table_name").fetchall()
        task = progress.add_task("prune", total=len(rows)) if progress else None
        for table, column, retention in rows:
            tbl, col = sql.Identifier(table), sql.Identifier(column)
            cutoff = sql.SQL("now() - {}::interval").format(sql.Literal(retention))
            old = sql.SQL("{} < {}").format(col, cutoff)
            unit = "rows"
            if backend == "timescale":
                # Whole chunks entirely older than the retention, as the retention policy drops them.
                unit = "chunks"
                fn = "show_chunks" if dry_run else "drop_chunks"
                n = len(conn.execute(f"select {fn}(%s::regclass, older_than => %s::interval)",
                                     (table, retention)).fetchall())
            elif dry_run:
                n = conn.execute(sql.SQL("select count(*) from {} where {}").format(tbl, old)).fetchone()[0]
            else:
                n = 0
                # Small batches keep locks short while Flink keeps upserting recent rows.
                while True:
                    cur = conn.execute(sql.SQL(
                        "delete from {} where ctid in (select ctid from {} where {} limit {})").format(
                        tbl, tbl, old, sql.Literal(BATCH)))
                    n += cur.rowcount
                    if cur.rowcount < BATCH:
                        break
            out.append(Pruned(table, retention, n, unit))
            if task is not None:
                progress.advance(task)
    return out
