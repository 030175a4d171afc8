"""`clickpulse verify`: the metric tables checked against a batch computation of the
events topic (stream against batch).

1. Read the events topic for the range plus the context the reference needs before and
   after it (`topic.plan`), partition by partition in offset order, starting at the
   offsets Kafka gives for a record time; each partition's newest event time before the
   read becomes a clock tick at its head, so lateness is judged as the job judged it.
2. Compute every table with `clickpulse.truth` from those records.
3. Read the same tables from PostgreSQL as the read-only role (DATABASE_URL or POSTGRES_*)
   and compare row by row on each table's key (`-- key:` of its metric file), over the
   windows wholly inside [from, to) (`compare`). Closed rows must be equal; rows in
   windows the topic has not closed yet are counted as open.
4. Differences are re-checked for up to `wait_s` (the job may still be writing what the
   topic already holds); what remains is reported.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from urllib.parse import urlparse

import psycopg
from psycopg import sql

from .. import truth
from ..errors import ClickpulseError
from ..runner.funnels import load_funnels
from ..runner.metric import discover
from ..settings import Settings
from . import compare, topic
from .compare import Closing, Scope, TableResult

RECHECK_S = 5.0


@dataclass
class Verification:
    from_ms: int
    to_ms: int
    tables: list[str]
    sites: list[str] | None
    plan: topic.Plan
    read: topic.TopicRead
    closing: Closing
    database: str
    results: list[TableResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.results)


def choose_tables(settings: Settings, names: list[str] | None) -> tuple[list[str], list[str]]:
    """The tables to check and notes on the ones left out."""
    notes = []
    if names:
        unknown = [n for n in names if n not in truth.FINAL_TABLES]
        if unknown:
            raise ClickpulseError(f"--tables: {', '.join(unknown)} not checked by verify; "
                                  f"choose from {', '.join(truth.FINAL_TABLES)}")
        chosen = [t for t in truth.FINAL_TABLES if t in names]
    else:
        chosen = list(truth.FINAL_TABLES)
        if not settings.raw_events_sink:
            chosen.remove("events")
            notes.append("events: not checked, CLICKPULSE_RAW_EVENTS=false (the job does not write it)")
    uncovered = sorted({m.name for m in discover()} - set(truth.TABLES))
    notes.append(f"not checked (provisional: open windows only, final in the tables above): "
                 f"{', '.join(truth.PROVISIONAL)}")
    if uncovered:
        notes.append(f"not checked (no reference in clickpulse.truth): {', '.join(uncovered)}")
    return chosen, notes


def _whole_history(chosen: list[str], read: topic.TopicRead) -> tuple[list[str], list[str]]:
    """The retention tables need every event since each user's first: a user seen before the
    read would be new to the reference. They are checked when the read starts at the topic's
    first record, and left out (with a note) otherwise."""
    skipped = [t for t in chosen if t in compare.WHOLE_HISTORY]
    if not skipped or read.from_topic_start:
        return chosen, []
    return [t for t in chosen if t not in skipped], [
        f"not checked: {', '.join(skipped)} (a user's cohort depends on every event since their first; the read "
        f"starts after the topic's first record, so give --from at or before the topic's start)"]


def table_keys() -> dict[str, list[str]]:
    return {m.name: m.key for m in discover()}


def describe_database(dsn: str) -> str:
    """host:port/database as user, without the password."""
    u = urlparse(dsn)
    return f"{u.hostname}:{u.port or 5432}{u.path} as {u.username}"


def run(settings: Settings, from_ms: int, to_ms: int, tables: list[str] | None = None,
        sites: list[str] | None = None, wait_s: float = 30.0, progress=None, status=lambda _: None,
        now_ms: int | None = None) -> Verification:
    if from_ms >= to_ms:
        raise ClickpulseError("--from must be before --to")
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    chosen, notes = choose_tables(settings, tables)
    funnels = load_funnels()
    windows = {f.name: f.window_seconds * 1000 for f in funnels}
    plan = topic.plan(settings, from_ms, to_ms, chosen, max(windows.values(), default=0))
    read = topic.read(settings, plan, now_ms, progress)
    chosen, history_note = _whole_history(chosen, read)
    notes += history_note
    status(f"computing the reference from {read.record_count():,} records")
    c = truth.classify(read.records(), watermark_delay_ms=settings.watermark_delay_ms,
                       max_future_ms=settings.max_future_ms, now_ms=now_ms)
    reference = truth.tables(c, funnels, chosen)
    watermark = read.watermark(settings.watermark_delay_ms)
    closing = Closing(watermark, now_ms - topic.arrival_margin_ms(settings),
                      compare.open_session_hours(c.clean, watermark) if compare.SESSION_TABLES & set(chosen) else set(),
                      windows)
    v = Verification(from_ms, to_ms, chosen, sites, plan, read, closing, describe_database(settings.dsn("reader")),
                     notes=notes + _read_notes(read, settings))
    scope = Scope(from_ms, to_ms, set(sites) if sites else None, closing)
    keys = table_keys()
    expected = {t: [compare.normal_reference(t, r) for r in reference[t]] for t in chosen}
    with _connect(settings) as conn:
        results = {t: _check(conn, t, keys[t], expected[t], scope) for t in chosen}
        deadline = time.monotonic() + wait_s
        while any(r.failed and not r.error for r in results.values()) and time.monotonic() < deadline:
            waiting = [t for t, r in results.items() if r.failed and not r.error]
            status(f"{', '.join(waiting)} differ; checking again until the job has written what the topic holds "
                   f"({deadline - time.monotonic():.0f} s left)")
            time.sleep(min(RECHECK_S, max(0.0, deadline - time.monotonic())))
            for t in waiting:
                results[t] = _check(conn, t, keys[t], expected[t], scope)
    v.results = [results[t] for t in chosen]
    return v


def _read_notes(read: topic.TopicRead, settings: Settings) -> list[str]:
    notes = []
    if read.future_stamped:
        notes.append(f"{read.future_stamped:,} records carry an event time more than CLICKPULSE_MAX_FUTURE_MS after "
                     "their Kafka time: the reference takes them as valid; a job that read them at once rejected "
                     "them as too far in the future")
    if all(p.newest is None for p in read.partitions):
        notes.append(f"{read.topic} carried no event time: every window is open")
    return notes


def _connect(settings: Settings):
    dsn = settings.dsn("reader")
    try:
        conn = psycopg.connect(dsn, connect_timeout=10, autocommit=True)
    except psycopg.OperationalError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ClickpulseError(f"cannot connect to PostgreSQL at {describe_database(dsn)} (DATABASE_URL, or "
                              f"POSTGRES_HOST/POSTGRES_PORT/POSTGRES_DB/POSTGRES_READER_*): {first}") from None
    conn.execute("set time zone 'UTC'")
    return conn


def _check(conn, table: str, key: list[str], expected: list[dict], scope: Scope) -> TableResult:
    try:
        actual = _table_rows(conn, table, scope)
    except psycopg.errors.UndefinedTable:
        return TableResult(table, error=f"table {table} not found (run `clickpulse db migrate`)")
    except psycopg.errors.InsufficientPrivilege as e:
        return TableResult(table, error=f"cannot read {table}: {str(e).splitlines()[0]}")
    return compare.diff(table, key, expected, actual, scope)


def _table_rows(conn, table: str, scope: Scope) -> list[dict]:
    """Rows whose time column falls in the range (a superset of those compared)."""
    col = compare.SPECS[table].column
    query = sql.SQL("select * from {t} where {c} >= %s and {c} < %s").format(t=sql.Identifier(table),
                                                                             c=sql.Identifier(col))
    params: list = [dt.datetime.fromtimestamp(scope.from_ms / 1000, compare.UTC),
                    dt.datetime.fromtimestamp(scope.to_ms / 1000, compare.UTC)]
    if scope.sites is not None:
        query += sql.SQL(" and site_id = any(%s)")
        params.append(sorted(scope.sites))
    cur = conn.execute(query, params)
    names = [d.name for d in cur.description]
    return [{n: compare.normal(v) for n, v in zip(names, row)} for row in cur.fetchall()]
