"""The metric tables as Flink and Superset meet them: primary keys are the sinks' upsert
keys, Flink's JDBC upsert batches (as clickpulse_writer, reWriteBatchedInserts=true)
insert and then overwrite rows, also in compressed TimescaleDB chunks, and the roles can
do exactly what they are for."""

from __future__ import annotations

import datetime as dt
import json
import re

import psycopg
import pytest
from psycopg import sql

from clickpulse.paths import METRICS_DIR
from clickpulse.runner.metric import discover

from .tables import BY_NAME, TABLES, floor

ROLLUPS = ["events_per_hour", "events_per_day", "late_events_per_hour", "invalid_events_per_hour", "sessions_1d"]


def _primary_key(c, table: str) -> list[str]:
    return [r[0] for r in c.execute(
        "select a.attname from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord) "
        "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
        "where i.indrelid = %s::regclass and i.indisprimary order by k.ord", (table,))]


def test_primary_keys_are_the_sink_keys(db):
    with db.connect() as c:
        for t in TABLES:
            assert _primary_key(c, t.name) == list(t.key), t.name
            cols = c.execute("select column_name, is_nullable from information_schema.columns "
                             "where table_schema = 'public' and table_name = %s order by ordinal_position",
                             (t.name,)).fetchall()
            assert {n for n, _ in cols} == set(t.names), t.name
            for name, nullable in cols:
                if name in t.key:
                    assert nullable == "NO", (t.name, name)
        # every metric file that has a table declares that table's primary key as its sink key
        # (as rendered: events_per_minute's key ends with the promoted properties)
        for metric in discover(directory=METRICS_DIR):
            if metric.name in BY_NAME:
                assert metric.key == _primary_key(c, metric.name), metric.rel


def _rows(c, table, site: str) -> dict[tuple, tuple]:
    t = BY_NAME[table]
    cur = c.execute(sql.SQL("select {} from {} where site_id = %s").format(
        sql.SQL(", ").join(map(sql.Identifier, t.names)), sql.Identifier(table)), (site,))
    out = {}
    for row in cur.fetchall():
        key = tuple(row[t.names.index(k)] for k in t.key)
        assert key not in out, f"{table}: duplicate key {key}"
        out[key] = row
    return out


def _expected(table, rows: list[tuple]) -> dict[tuple, tuple]:
    t = BY_NAME[table]
    out = {}
    for row in rows:
        norm = tuple(_as_db(v, typ) for v, (_, typ) in zip(row, t.columns))
        out[tuple(norm[t.names.index(k)] for k in t.key)] = norm
    return out


def _as_db(v, typ):
    if typ == "text" and isinstance(v, str) and v.startswith("{"):
        return json.loads(v)  # jsonb comes back as a dict
    return v


def _compress(c, table: str, site: str, before: dt.datetime) -> list[str]:
    """Compress the chunks holding the site's rows older than `before`."""
    t = BY_NAME[table]
    chunks = [r[0] for r in c.execute(sql.SQL("select distinct tableoid::regclass::text from {} "
                                              "where site_id = %s and {} < %s").format(
        sql.Identifier(table), sql.Identifier(t.time)), (site, before))]
    assert chunks
    for ch in chunks:
        c.execute("select compress_chunk(%s::regclass, if_not_compressed => true)", (ch,))
    states = c.execute("select is_compressed from timescaledb_information.chunks "
                       "where format('%%I.%%I', chunk_schema, chunk_name) = any(%s)", (chunks,)).fetchall()
    assert states and all(s for (s,) in states)
    return chunks


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_flink_upsert(db, flink_jdbc, site_id, table):
    """Batch 1 inserts; batch 2 rewrites the same keys with new values and adds keys, in
    an old chunk (compressed on TimescaleDB in between) and a recent one."""
    t = BY_NAME[table]
    step = max(t.width, dt.timedelta(minutes=1))
    now = dt.datetime.now(dt.timezone.utc)
    old, recent = floor(now - dt.timedelta(days=70), step), floor(now - dt.timedelta(days=6), step)
    cols = list(t.columns)

    def batch(variants, gen):
        # one row per key: a variant differs in its time and (where the key has some) its segments
        rows = [t.row(site_id, at + v * step, v, gen) for at in (old, recent) for v in variants]
        if table == "events":  # the key is (event_time, event_id): ids of this test only
            rows = [(r[0], f"{site_id}-{r[1]}", *r[2:]) for r in rows]
        return rows

    first = batch([1, 2, 3], gen=1)
    flink_jdbc(db, [(table, list(t.key), cols, first)])
    with db.connect() as c:
        assert _rows(c, table, site_id) == _expected(table, first)
        if db.backend == "timescale":
            _compress(c, table, site_id, now - dt.timedelta(days=30))
            # the rewritten rows below are in compressed chunks
    second = batch([2, 3, 4], gen=2)
    res = flink_jdbc(db, [(table, list(t.key), cols, second)])
    assert f"ON CONFLICT ({', '.join(t.key)}) DO UPDATE SET" in res.stdout
    with db.connect() as c:
        want = {**_expected(table, first), **_expected(table, second)}
        assert _rows(c, table, site_id) == want
        assert c.execute(sql.SQL("select count(*) from {} where site_id = %s and {} < %s").format(
            sql.Identifier(table), sql.Identifier(t.time)),
            (site_id, now - dt.timedelta(days=30))).fetchone()[0] == 4


def test_flink_strings_into_jsonb(db, flink_jdbc, site_id):
    """Flink binds STRING with setString(); pgjdbc sends that as varchar, which PostgreSQL
    does not assign to the jsonb `events.properties` unless the URL says
    stringtype=unspecified, as the sinks' URL does."""
    assert "stringtype=unspecified" in db.jdbc_url()
    t = BY_NAME["events"]
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = [(now, f"{site_id}-json", *t.row(site_id, now, 1, 1)[2:])]
    plain = re.sub(r"[?&]stringtype=unspecified", "", db.jdbc_url())
    res = flink_jdbc(db, [("events", list(t.key), list(t.columns), rows)], url=plain, check=False)
    assert res.returncode == 1 and 'column "properties" is of type jsonb but expression is of type character varying' \
        in res.stderr, res.stderr
    flink_jdbc(db, [("events", list(t.key), list(t.columns), rows)], url=plain + "&stringtype=unspecified")
    with db.connect() as c:
        assert c.execute("select properties->>'gen' from events where site_id = %s", (site_id,)).fetchone() == ("1",)


def _relations(c) -> list[str]:
    rels = [r[0] for r in c.execute(
        "select relname from pg_class where relnamespace = 'public'::regnamespace "
        "and relkind in ('r', 'p', 'v', 'm') order by 1")]
    assert set(ROLLUPS) <= set(rels) and {t.name for t in TABLES} <= set(rels)
    return rels


def test_reader_reads_everything_and_writes_nothing(db):
    with db.connect() as admin:
        rels = _relations(admin)
    with db.connect("reader") as c:
        for rel in rels:
            c.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier(rel))).fetchall()
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("insert into late_events values (now(), 'x', 1)")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("create table reader_table (x int)")
        # not even in a read-write transaction: no privilege
        for stmt in ("insert into late_events values (now(), 'x', 1)", "update late_events set events = 0",
                     "delete from late_events", "truncate late_events",
                     "insert into clickpulse_schema_migrations values (999, 'x', 'x', 'x', 'x')",
                     "create table reader_table (x int)"):
            with c.transaction():
                c.execute("set transaction read write")
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    with c.transaction():
                        c.execute(stmt)
        if db.backend == "timescale":
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                c.execute("call refresh_continuous_aggregate('events_per_hour', null, null)")


def test_writer_writes_metric_tables_only(db, site_id):
    with db.connect() as admin:
        rels = _relations(admin)
    with db.connect("writer") as c:
        for rel in rels:
            c.execute(sql.SQL("select * from {} limit 1").format(sql.Identifier(rel))).fetchall()
        c.execute("insert into late_events values (now(), %s, 1)", (site_id,))
        c.execute("update late_events set events = 2 where site_id = %s", (site_id,))
        for stmt in ("delete from late_events", "truncate late_events",
                     "insert into clickpulse_schema_migrations values (999, 'x', 'x', 'x', 'x')",
                     "update clickpulse_retention set retention = null",
                     "create table writer_table (x int)", "drop table late_events"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                c.execute(stmt)
        if db.backend == "timescale":
            with pytest.raises(psycopg.Error, match="must be owner"):
                c.execute("select drop_chunks('late_events', older_than => interval '1 day')")
