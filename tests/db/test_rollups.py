"""The hour/day rollups (views on plain PostgreSQL, continuous aggregates on TimescaleDB)
equal sums computed by hand from the minute rows, across UTC midnight, before and after
materialization and after an upsert rewrote a minute; distinct counts are never summed."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import defaultdict

from psycopg import sql

from clickpulse.paths import MIGRATIONS_DIR

UTC = dt.timezone.utc
ROLLUPS = {  # rollup -> (source, bucket width, dimensions, sums)
    "events_per_hour": ("events_per_minute", "hour", ("site_id", "event_type", "country", "device", "plan"),
                        ("events",)),
    "events_per_day": ("events_per_minute", "day", ("site_id", "event_type", "country", "device", "plan"),
                       ("events",)),
    "late_events_per_hour": ("late_events", "hour", ("site_id",), ("events",)),
    "invalid_events_per_hour": ("invalid_events", "hour", ("site_id", "reason"), ("events",)),
    "sessions_1d": ("sessions_1h", "day", ("site_id",), ("sessions", "bounces", "total_duration_s", "pageviews")),
}


def _bucket(t: dt.datetime, width: str) -> dt.datetime:
    t = t.astimezone(UTC)
    return t.replace(minute=0, second=0, microsecond=0) if width == "hour" else \
        t.replace(hour=0, minute=0, second=0, microsecond=0)


def _fill(c, site: str, start: dt.datetime, rng: random.Random) -> dict[str, list[dict]]:
    """Minute rows from 22:00 to 02:00 UTC across midnight (and hourly sessions), upserted
    as the sinks do."""
    rows: dict[str, list[dict]] = defaultdict(list)
    for m in range(0, 4 * 60, 7):
        t = start + dt.timedelta(minutes=m)
        for event_type in ("pageview", "click"):
            for country in ("DE", "unknown"):
                # rows differing only in a promoted property (V160) add up in the rollups
                for button in ("none", "signup_cta"):
                    rows["events_per_minute"].append(dict(
                        window_start=t, window_end=t + dt.timedelta(minutes=1), site_id=site, event_type=event_type,
                        country=country, device="mobile", plan="all", button=button, experiment="none",
                        events=rng.randint(1, 500)))
        rows["late_events"].append(dict(minute=t, site_id=site, events=rng.randint(0, 9)))
        for reason in ("bad json", "missing ts"):
            rows["invalid_events"].append(dict(minute=t, site_id=site, reason=reason, events=rng.randint(1, 9)))
    for h in range(4):
        sessions = rng.randint(1, 100)
        bounces = rng.randint(0, sessions)
        duration = float(rng.randint(0, 10_000))
        pageviews = rng.randint(sessions, 5 * sessions)
        rows["sessions_1h"].append(dict(
            hour_start=start + dt.timedelta(hours=h), site_id=site, sessions=sessions, bounces=bounces,
            bounce_rate=bounces / sessions, total_duration_s=duration, avg_duration_s=duration / sessions,
            pageviews=pageviews, pages_per_session=pageviews / sessions))
    for table, rs in rows.items():
        _upsert(c, table, rs)
    return rows


def _upsert(c, table: str, rs: list[dict]) -> None:
    cols = list(rs[0])
    key = [r[0] for r in c.execute(
        "select a.attname from pg_index i cross join lateral unnest(i.indkey) with ordinality k(attnum, ord) "
        "join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
        "where i.indrelid = %s::regclass and i.indisprimary order by k.ord", (table,))]
    stmt = sql.SQL("insert into {} ({}) values ({}) on conflict ({}) do update set {}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)), sql.SQL(", ").join(map(sql.Identifier, key)),
        sql.SQL(", ").join(sql.SQL("{0} = excluded.{0}").format(sql.Identifier(col)) for col in cols if col not in key))
    with c.cursor() as cur:
        cur.executemany(stmt, [tuple(r[col] for col in cols) for r in rs])


def _expected(rows: dict[str, list[dict]]) -> dict[str, dict[tuple, tuple]]:
    out = {}
    for rollup, (source, width, dims, sums) in ROLLUPS.items():
        acc: dict[tuple, list] = defaultdict(lambda: [0] * len(sums))
        time_col = next(k for k in ("window_start", "minute", "hour_start") if k in rows[source][0])
        for r in rows[source]:
            k = (_bucket(r[time_col], width), *(r[d] for d in dims))
            for i, s in enumerate(sums):
                acc[k][i] += r[s]
        if rollup == "sessions_1d":  # ratios of the sums, never averages of the hourly ratios
            out[rollup] = {k: (v[0], v[1], v[1] / v[0], v[2] / v[0], v[3] / v[0]) for k, v in acc.items()}
        else:
            out[rollup] = {k: tuple(v) for k, v in acc.items()}
    return out


def _values(rollup: str) -> list[str]:
    return ["sessions", "bounces", "bounce_rate", "avg_duration_s", "pages_per_session"] \
        if rollup == "sessions_1d" else ["events"]


def _read(c, relation, rollup: str, site: str) -> dict[tuple, tuple]:
    dims = ROLLUPS[rollup][2]
    cols = ["bucket", *dims, *_values(rollup)]
    q = sql.SQL("select {} from {} where site_id = %s").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), relation)
    out = {}
    for row in c.execute(q, (site,)).fetchall():
        k = row[: 1 + len(dims)]
        assert k not in out, f"{rollup}: duplicate bucket {k}"
        out[k] = tuple(row[1 + len(dims):])
    return out


def _same(got: dict, want: dict) -> bool:
    if got.keys() != want.keys():
        return False
    return all(all(abs(a - b) <= 1e-9 * max(1, abs(b)) for a, b in zip(got[k], want[k])) for k in want)


def _plain_view_sql() -> dict[str, str]:
    """The SELECTs of the plain-PostgreSQL views (V003), to run on any backend."""
    text = (MIGRATIONS_DIR / "V003__rollups.postgres.sql").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"CREATE VIEW (\w+) AS\s+(SELECT.*?);", text, re.S)}


def _check(c, db, site, want):
    plain = _plain_view_sql()
    assert set(plain) == set(ROLLUPS)
    for rollup in ROLLUPS:
        got = _read(c, sql.Identifier(rollup), rollup, site)
        assert _same(got, want[rollup]), (rollup, got, want[rollup])
        # the same numbers as the plain view's query on the same rows
        by_plain = _read(c, sql.SQL("({}) p").format(sql.SQL(plain[rollup])), rollup, site)
        assert _same(by_plain, want[rollup]), rollup


def _refresh(c, start, end):
    for rollup in ("events_per_hour", "events_per_day", "late_events_per_hour", "invalid_events_per_hour",
                   "sessions_1d"):  # hour before day: events_per_day reads events_per_hour
        c.execute("call refresh_continuous_aggregate(%s, %s, %s)",
                  (rollup, start - dt.timedelta(days=1), end + dt.timedelta(days=1)))


def test_rollups_equal_hand_computed_sums(db, site_id):
    rng = random.Random(site_id)
    midnight = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=2)
    start = midnight - dt.timedelta(hours=2)
    with db.connect("writer") as c:
        rows = _fill(c, site_id, start, rng)
    want = _expected(rows)
    assert len({k[0] for k in want["events_per_day"]}) == 2  # both sides of midnight
    with db.connect("reader") as c:
        _check(c, db, site_id, want)  # TimescaleDB: not materialized yet, real-time aggregation
    if db.backend == "timescale":
        with db.connect() as c:
            _refresh(c, start, start + dt.timedelta(hours=4))
            n = c.execute("select count(*) from _timescaledb_internal._materialized_hypertable_%s "
                          "where site_id = %%s" % c.execute(
                              "select mat_hypertable_id from _timescaledb_catalog.continuous_agg "
                              "where user_view_name = 'events_per_hour'").fetchone()[0], (site_id,)).fetchone()[0]
            assert n == len(want["events_per_hour"])  # now read from the materialization
        with db.connect("reader") as c:
            _check(c, db, site_id, want)
    # A restarted job rewrites a minute with a new count: the rollups follow.
    changed = rows["events_per_minute"][5] | {"events": 100_000}
    rows["events_per_minute"][5] = changed
    with db.connect("writer") as c:
        _upsert(c, "events_per_minute", [changed])
    if db.backend == "timescale":
        with db.connect() as c:
            _refresh(c, start, start + dt.timedelta(hours=4))
    want = _expected(rows)
    with db.connect("reader") as c:
        _check(c, db, site_id, want)


def test_no_distinct_count_is_summed(db):
    """Rollups read only additive tables; users and unique_users never appear in one."""
    with db.connect() as c:
        for rollup in ROLLUPS:
            cols = [r[0] for r in c.execute("select attname from pg_attribute where attrelid = %s::regclass "
                                            "and attnum > 0 and not attisdropped", (rollup,))]
            assert not {"users", "unique_users"} & set(cols), rollup
            if db.backend == "timescale":
                definition = c.execute("select view_definition from timescaledb_information.continuous_aggregates "
                                       "where view_name = %s", (rollup,)).fetchone()[0]
            else:
                definition = c.execute("select pg_get_viewdef(%s::regclass)", (rollup,)).fetchone()[0]
            assert not re.search(r"active_users|top_pages|funnel_conversions|\busers\b", definition), rollup
