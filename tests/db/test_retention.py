"""Retention and compression as declared by clickpulse_timeseries(): 90 days on raw and
minute-level tables, nothing on hourly and daily ones. On plain PostgreSQL `clickpulse db
prune` deletes exactly the rows past it; on TimescaleDB policies exist with the right
intervals and prune drops the whole chunks past it, while the rollups keep their buckets."""

from __future__ import annotations

import datetime as dt

from psycopg import sql

from clickpulse.db.retention import prune

from .tables import BY_NAME, TABLES

RETAINED = {t.name: t.retention for t in TABLES}
UTC = dt.timezone.utc


def test_retention_is_declared_per_table(db):
    with db.connect() as c:
        declared = dict(c.execute("select table_name, retention::text from clickpulse_retention").fetchall())
        assert declared == RETAINED
        if db.backend == "postgres":
            assert c.execute("select count(*) from pg_extension where extname = 'timescaledb'").fetchone()[0] == 0
            kinds = dict(c.execute("select relname, relkind::text from pg_class where relname in "
                                   "('events_per_hour', 'events_per_day', 'sessions_1d')").fetchall())
            assert set(kinds.values()) == {"v"}
            return
        hypertables = {r[0] for r in c.execute("select hypertable_name from timescaledb_information.hypertables "
                                               "where hypertable_schema = 'public'")}
        assert hypertables == set(RETAINED)
        jobs = c.execute("select proc_name, hypertable_name, config from timescaledb_information.jobs "
                         "where hypertable_schema = 'public'").fetchall()
        retention = {h: cfg["drop_after"] for p, h, cfg in jobs if p == "policy_retention"}
        assert retention == {t: "90 days" for t, r in RETAINED.items() if r}
        compression = {h: cfg["compress_after"] for p, h, cfg in jobs if p == "policy_compression"}
        assert compression == {t: "7 days" for t in RETAINED}
        refresh = {h: (cfg["start_offset"], cfg["end_offset"]) for p, h, cfg in jobs if p == "policy_refresh_continuous_aggregate"}
        assert set(refresh) == {"events_per_hour", "events_per_day", "late_events_per_hour",
                                "invalid_events_per_hour", "sessions_1d",
                                # V051: per-type rollups the Trends charts read when not split by segment
                                "events_per_hour_by_type", "events_per_day_by_type"}
        caggs = dict(c.execute("select view_name, materialized_only from "
                               "timescaledb_information.continuous_aggregates").fetchall())
        assert caggs == {v: False for v in refresh}  # real-time aggregation
        settings = c.execute("select hypertable_name, attname, segmentby_column_index, orderby_column_index, "
                             "orderby_asc from timescaledb_information.compression_settings "
                             "where hypertable_schema = 'public'").fetchall()
        for t in TABLES:
            mine = [s for s in settings if s[0] == t.name]
            assert [s[1] for s in mine if s[2] == 1] == ["site_id"], t.name
            assert [s[1:] for s in mine if s[3] == 1] == [(t.time, None, 1, False)], t.name  # newest first
            # the rest of the key orders the batches: an upsert finds its row by min/max metadata
            assert {s[1] for s in mine if s[3]} == set(t.key) - {"site_id"}, t.name
        assert c.execute("show timescaledb.telemetry_level").fetchone()[0] == "off"


def _insert(c, table, rows):
    cols = list(rows[0])
    with c.cursor() as cur:
        cur.executemany(sql.SQL("insert into {} ({}) values ({})").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
            sql.SQL(", ").join(sql.Placeholder() * len(cols))), [tuple(r[k] for k in cols) for r in rows])


def _rows_at(ages: list[dt.timedelta], site: str) -> dict[str, list[dict]]:
    """Rows of every table at the given ages."""
    now = dt.datetime.now(UTC)
    out = {}
    for t in TABLES:
        rows = []
        for i, age in enumerate(ages):
            r = dict(zip(t.names, t.row(site, now - age, i, 1)))
            if t.name == "events":
                r["event_id"] = f"{site}-{i}"
            rows.append(r)
        out[t.name] = rows
    assert set(out) == set(BY_NAME)
    return out


def _count_by_age(c, table: str, site: str, time_col: str) -> list[dt.datetime]:
    return sorted(r[0] for r in c.execute(sql.SQL("select {} from {} where site_id = %s").format(
        sql.Identifier(time_col), sql.Identifier(table)), (site,)))


def test_prune_removes_exactly_the_rows_past_retention(fresh_db, site_id):
    db = fresh_db
    db.cli("db", "migrate")
    d, h = dt.timedelta(days=1), dt.timedelta(hours=1)
    if db.backend == "postgres":
        ages = [400 * d, 95 * d, 90 * d + h, 90 * d - h, 1 * d]  # the first three are past 90 days
        past = 3
    else:
        # TimescaleDB drops chunks entirely past the retention (chunks of 1 or 7 days)
        ages = [400 * d, 120 * d, 80 * d, 1 * d]
        past = 2
    rows = _rows_at(ages, site_id)
    with db.connect() as c:
        for table, rs in rows.items():
            _insert(c, table, rs)
        if db.backend == "timescale":  # materialize the old buckets before their source goes
            c.execute("call refresh_continuous_aggregate('events_per_hour', null, now() - interval '1 day')")
            before_hour = c.execute("select count(*), sum(events) from events_per_hour where site_id = %s",
                                    (site_id,)).fetchone()
            assert before_hour[0] == len(ages)

    dry = db.cli("db", "prune", "--dry-run").stdout
    assert "dry run" in dry and "events_per_minute" in dry
    with db.connect() as c:
        for t in TABLES:  # nothing removed
            assert len(_count_by_age(c, t.name, site_id, t.time)) == len(ages), t.name

    pruned = {p.table: p for p in prune(db.settings)}
    assert set(pruned) == {t for t, r in RETAINED.items() if r}
    with db.connect() as c:
        for t in TABLES:
            left = _count_by_age(c, t.name, site_id, t.time)
            if t.retention:
                assert len(left) == len(ages) - past, t.name
                if db.backend == "postgres":
                    assert pruned[t.name].removed == past and pruned[t.name].unit == "rows", t.name
                else:
                    assert pruned[t.name].removed == past and pruned[t.name].unit == "chunks", t.name
            else:
                assert len(left) == len(ages), t.name  # hourly and daily tables keep everything
        if db.backend == "timescale":
            # the continuous aggregates keep the buckets whose minute rows are gone
            assert c.execute("select count(*), sum(events) from events_per_hour where site_id = %s",
                             (site_id,)).fetchone() == before_hour
    again = db.cli("db", "prune").stdout
    assert "events_per_minute" in again
    assert {p.removed for p in prune(db.settings)} == {0}
