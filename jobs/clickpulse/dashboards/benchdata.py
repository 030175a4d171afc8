"""90 days of realistic metric rows for `clickpulse bench dashboards`, under the site ids
bench-1, bench-2 and bench-3 (removable with `--remove`).

Rows are generated inside PostgreSQL (one INSERT ... SELECT per table, site and day, as
the writer role, like the Flink sinks) from a traffic model with the shape of the
generator's default profile (clickpulse.ingest.traffic): 12 countries (one of them
'unknown'), 4 devices, 4 plans, 8 event types, a daily cycle and quieter weekends. Every
segment combination that would see at least one event in a minute gets a row, so the
tables have the cardinalities real traffic gives them (at the bench rates, a few hundred
events_per_minute rows per site and minute at peak, ~1,500 per site and day).

Loading again only adds what is missing up to now (each slice after the newest bench
row, in one transaction, so no row is written twice), which keeps the Live windows fresh
for every run without reloading 90 days. Two connections load in parallel, one per
group of sites, so they never touch the same rollup rows.
"""

from __future__ import annotations

import datetime as dt
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..settings import Settings
from ..stack import postgres

PREFIX = "bench-"


@dataclass(frozen=True)
class BenchSite:
    site_id: str
    peak_events_per_s: float


SITES = [BenchSite("bench-1", 4.0), BenchSite("bench-2", 1.5), BenchSite("bench-3", 0.5)]

EVENT_TYPES = {"page_view": .52, "click": .20, "form_submit": .06, "video_play": .05, "signup": .05,
               "add_to_cart": .07, "purchase": .03, "newsletter_subscribe": .02}
COUNTRIES = {"US": .30, "DE": .10, "GB": .09, "FR": .07, "IN": .10, "BR": .07, "JP": .06, "CA": .05, "ES": .04,
             "NL": .03, "AU": .03, "unknown": .06}
DEVICES = {"desktop": .55, "mobile": .38, "tablet": .05, "unknown": .02}
PLANS = {"free": .45, "pro": .18, "enterprise": .04, "unknown": .33}
PAGES = ["/", "/pricing", "/docs", "/blog/launch-week", "/blog/funnels-101", "/landing/spring",
         "/landing/black-friday", "/cart", "/signup", "/about"] + [f"/products/{i}" for i in range(1, 21)]
INVALID_REASONS = {"not_json": .5, "missing_field:user_id": .3, "bad_type:ts": .2}
EVENTS_PER_USER_MINUTE = 6.0
FUNNELS = {"signup": ["landing", "signup", "purchase"], "product_purchase": ["product_view", "add_to_cart", "purchase"]}
FUNNEL_RATES = {"signup": [0.25, 0.30], "product_purchase": [0.20, 0.45]}

TABLES = ["events_per_minute", "active_users_1m", "active_users_live", "active_users_daily", "top_pages_1m",
          "top_pages_1h", "sessions_1h", "funnel_conversions", "late_events", "invalid_events"]


def _values(d: dict) -> str:
    return ", ".join(f"('{k}', {v}::float8)" for k, v in d.items())


def _list(xs) -> str:
    return ", ".join(f"('{x}', {i})" for i, x in enumerate(xs, start=1))


# Events per minute for a site at minute m: peak rate x daily cycle (lowest around 03:00
# UTC, highest around 15:00) x weekend dip.

def rate(t: str) -> str:
    return (f"(%(peak)s * 60 * (0.25 + 0.75 * (0.5 + 0.5 * sin(2 * pi() * (extract(epoch FROM {t}) / 3600 - 9) / 24)))"
            f" * CASE WHEN extract(isodow FROM {t}) >= 6 THEN 0.75 ELSE 1 END)")


RATE = rate("m")
HOUR_RATE = rate("h") + " * 60"
# A Poisson-ish count with mean lam, at least 1 (only rows that exist are written).
COUNT = "greatest(1, round({lam} + sqrt({lam}) * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::bigint"
MINUTES = "generate_series(%(start)s::timestamptz, %(stop)s::timestamptz - interval '1 minute', interval '1 minute')"

NORMAL = "(sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))"
HOURS = ("generate_series(date_trunc('hour', %(start)s::timestamptz), %(stop)s::timestamptz - interval '1 minute', "
         "interval '1 hour')")


def sparse_minutes(columns: str, per_hour: str) -> str:
    """Rows (m, <columns>, lam) for the minutes in which a series has at least one event.
    `per_hour` yields (h, <columns>, lam) with lam the series' mean per minute in hour h.
    Rather than drawing every minute of every series (millions of draws a day), draw how
    many minutes of the hour have data (Binomial(60, 1 - e^-lam), normal approximation)
    and spread that many distinct minutes over the hour (the j-th in its own slice of
    minutes [floor(60j/k), floor(60(j+1)/k)))."""
    return f"""
SELECT h + (floor(j * 60.0 / k) + floor(random() * (floor((j + 1) * 60.0 / k) - floor(j * 60.0 / k))))::int
           * interval '1 minute' AS m, {columns}, lam
FROM (SELECT h, {columns}, lam,
             least(60, greatest(0, round(60 * q + sqrt(60 * q * (1 - q)) * {NORMAL})))::int AS k
      FROM (SELECT *, 1 - exp(-least(lam, 50)) AS q FROM ({per_hour}) ph) a
      OFFSET 0) b  -- a fence: k must be drawn once, not once per place it is used
CROSS JOIN LATERAL generate_series(0, k - 1) AS j
WHERE k > 0"""


IN_RANGE = "m >= %(start)s::timestamptz AND m < %(stop)s::timestamptz"

EVENT_SERIES = f"""
      SELECT h, e, c, d, p, {rate("h")} * ew * cw * dw * pw AS lam
      FROM {HOURS} AS h,
           (VALUES {_values(EVENT_TYPES)}) et(e, ew), (VALUES {_values(COUNTRIES)}) co(c, cw),
           (VALUES {_values(DEVICES)}) de(d, dw), (VALUES {_values(PLANS)}) pl(p, pw)"""

# GROUPING SETS rows: (site), (site, country), (site, device), (site, plan) and the full
# combinations that had users ('all' in the rolled-up columns).
SEGMENTS = f"""
        SELECT 'all' AS c, 'all' AS d, 'all' AS p, 1.0::float8 AS w
        UNION ALL SELECT c, 'all', 'all', cw FROM (VALUES {_values(COUNTRIES)}) co(c, cw)
        UNION ALL SELECT 'all', d, 'all', dw FROM (VALUES {_values(DEVICES)}) de(d, dw)
        UNION ALL SELECT 'all', 'all', p, pw FROM (VALUES {_values(PLANS)}) pl(p, pw)
        UNION ALL SELECT c, d, p, cw * dw * pw FROM (VALUES {_values(COUNTRIES)}) co(c, cw),
                 (VALUES {_values(DEVICES)}) de(d, dw), (VALUES {_values(PLANS)}) pl(p, pw)"""

USER_SERIES = f"""
      SELECT h, c, d, p, {rate("h")} / {EVENTS_PER_USER_MINUTE} * w AS lam
      FROM {HOURS} AS h, ({SEGMENTS}) seg"""

SQL = {
    "events_per_minute": f"""
INSERT INTO events_per_minute (window_start, window_end, site_id, event_type, country, device, plan, events)
SELECT m, m + interval '1 minute', %(site)s, e, c, d, p, {COUNT.format(lam="lam")}
FROM ({sparse_minutes("e, c, d, p", EVENT_SERIES)}) x
WHERE {IN_RANGE}""",
    "active_users_1m": f"""
INSERT INTO active_users_1m (window_start, window_end, site_id, country, device, plan, users)
SELECT m, m + interval '1 minute', %(site)s, c, d, p, {COUNT.format(lam="lam")}
FROM ({sparse_minutes("c, d, p", USER_SERIES)}) x
WHERE {IN_RANGE}""",
    "active_users_live": f"""
INSERT INTO active_users_live (window_start, window_end, site_id, users)
SELECT m - interval '5 minutes', m, %(site)s, {COUNT.format(lam="lam")}
FROM (SELECT m, {RATE} / {EVENTS_PER_USER_MINUTE} * 3 AS lam
      FROM generate_series(%(start)s::timestamptz + interval '10 seconds', %(stop)s::timestamptz,
                           interval '10 seconds') AS m) x
ON CONFLICT DO NOTHING""",
    "top_pages_1m": f"""
INSERT INTO top_pages_1m (window_start, window_end, site_id, page, views, unique_users, rank)
SELECT m, m + interval '1 minute', %(site)s, page, views, greatest(1, views * 2 / 3), rank::int
FROM (SELECT m, page, views, row_number() OVER (PARTITION BY m ORDER BY views DESC, page) AS rank
      FROM (SELECT m, page, {COUNT.format(lam="lam")} AS views
            FROM (SELECT m, page, {RATE} * {EVENT_TYPES['page_view']} * 0.6 / (i ^ 0.9) / 3.5 AS lam
                  FROM {MINUTES} AS m, (VALUES {_list(PAGES[:12])}) pg(page, i)) x
            WHERE random() < 1 - exp(-least(lam, 50))) y) z
WHERE rank <= 10
ON CONFLICT DO NOTHING""",
    "late_events": f"""
INSERT INTO late_events (minute, site_id, events)
SELECT m, %(site)s, {COUNT.format(lam="2")} FROM {MINUTES} AS m WHERE random() < 0.15
ON CONFLICT DO NOTHING""",
    "invalid_events": f"""
INSERT INTO invalid_events (minute, site_id, reason, events)
SELECT m, %(site)s, r, {COUNT.format(lam="1.5")}
FROM {MINUTES} AS m
CROSS JOIN LATERAL (  -- lateral, so the draw is made per minute and reason, not once per reason
  SELECT r FROM (VALUES {_values(INVALID_REASONS)}) re(r, rw) WHERE random() < 0.12 * rw AND m IS NOT NULL) x
ON CONFLICT DO NOTHING""",
}

# Hourly and daily tables, for the hours and days that ended inside [start, stop).
HOURLY_SQL = {
    "top_pages_1h": f"""
INSERT INTO top_pages_1h (window_start, window_end, site_id, page, views, unique_users, rank)
SELECT h, h + interval '1 hour', %(site)s, page, views, greatest(1, views / 3), rank::int
FROM (SELECT h, page, views, row_number() OVER (PARTITION BY h ORDER BY views DESC, page) AS rank
      FROM (SELECT h, page, {COUNT.format(lam="lam")} AS views
            FROM (SELECT h, page, {HOUR_RATE} * {EVENT_TYPES['page_view']} * 0.6 / (i ^ 0.9) / 3.5
                         AS lam
                  FROM generate_series(%(hstart)s::timestamptz, %(hstop)s::timestamptz - interval '1 hour',
                                       interval '1 hour') AS h, (VALUES {_list(PAGES)}) pg(page, i)) x) y) z
WHERE rank <= 10
ON CONFLICT DO NOTHING""",
    "sessions_1h": f"""
INSERT INTO sessions_1h (hour_start, site_id, sessions, bounces, bounce_rate, total_duration_s, avg_duration_s,
                         pageviews, pages_per_session)
SELECT h, %(site)s, s, b, b::float8 / s, s * dur, dur, pv, pv::float8 / s
FROM (SELECT h, s, greatest(0, least(s, round(s * (0.32 + 0.06 * (random() - 0.5)))))::bigint AS b,
             110 + 40 * random() AS dur, round(s * (3.2 + random()))::bigint AS pv
      FROM (SELECT h, {COUNT.format(lam=HOUR_RATE + ' / 14')} AS s
            FROM generate_series(%(hstart)s::timestamptz, %(hstop)s::timestamptz - interval '1 hour',
                                 interval '1 hour') AS h) x) y
ON CONFLICT DO NOTHING""",
    "funnel_conversions": """
INSERT INTO funnel_conversions (hour_start, site_id, funnel, step, step_name, users)
SELECT h, %(site)s, funnel, step, step_name, users FROM (
  SELECT h, funnel, step, step_name,
         round(entered * exp(sum(ln(rate)) OVER (PARTITION BY h, funnel ORDER BY step)))::bigint AS users
  FROM (SELECT h, """ + HOUR_RATE + """ / 6 * 0.3 * (0.8 + 0.4 * random()) AS entered
        FROM generate_series(%(hstart)s::timestamptz, %(hstop)s::timestamptz - interval '1 hour',
                             interval '1 hour') AS h) x,
       (VALUES """ + ", ".join(
        f"('{f}', {k}, '{s}', {1.0 if k == 1 else FUNNEL_RATES[f][k - 2]})"
        for f, steps in FUNNELS.items() for k, s in enumerate(steps, start=1)) + """) st(funnel, step, step_name, rate)
) y WHERE users > 0
ON CONFLICT DO NOTHING""",
}

DAILY_SQL = f"""
INSERT INTO active_users_daily (day, site_id, country, device, plan, users, updated_through)
SELECT %(day)s::date, %(site)s, c, d, p, {COUNT.format(lam="lam")}, %(through)s::timestamptz
FROM (SELECT c, d, p, dau * w AS lam FROM ({SEGMENTS}) seg,
       (SELECT sum({RATE}) / {EVENTS_PER_USER_MINUTE} * 0.15 AS dau FROM {MINUTES} AS m) t) x
WHERE random() < 1 - exp(-least(lam, 50))
ON CONFLICT (day, site_id, country, device, plan) DO UPDATE
  SET users = greatest(active_users_daily.users, EXCLUDED.users), updated_through = EXCLUDED.updated_through"""


def _floor_minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def plan(conn, days: int, now: dt.datetime | None = None) -> list[tuple[BenchSite, dt.datetime, dt.datetime]]:
    """(site, start, stop) slices of at most one UTC day still to load, oldest first."""
    now = _floor_minute(now or dt.datetime.now(dt.timezone.utc))
    begin = (now - dt.timedelta(days=days)).replace(hour=0, minute=0)
    out = []
    for site in SITES:
        last = conn.execute("SELECT max(window_start) FROM events_per_minute WHERE site_id = %s",
                            (site.site_id,)).fetchone()[0]
        start = max(begin, last + dt.timedelta(minutes=1)) if last else begin
        while start < now:
            stop = min(now, (start + dt.timedelta(days=1)).replace(hour=0, minute=0))
            out.append((site, start, stop))
            start = stop
    return out


def load_slice(conn, site: BenchSite, start: dt.datetime, stop: dt.datetime) -> None:
    """Every table's rows for one site in [start, stop) (within one UTC day), in one
    transaction, with a seed per site and slice so that a reload gives the same rows."""
    params = {"site": site.site_id, "peak": site.peak_events_per_s, "start": start, "stop": stop}
    hstart = start.replace(minute=0) + (dt.timedelta(hours=1) if start.minute else dt.timedelta())
    hstop = stop.replace(minute=0)
    day = start.date()
    with conn.transaction():
        seed = zlib.crc32(f"{site.site_id}/{start.isoformat()}".encode()) / 2**32 * 2 - 1
        conn.execute("SELECT setseed(%s)", (seed,))
        for sql in SQL.values():
            conn.execute(sql, params)
        if hstop > hstart:
            for sql in HOURLY_SQL.values():
                conn.execute(sql, {**params, "hstart": hstart, "hstop": hstop})
        day_start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
        conn.execute(DAILY_SQL, {**params, "day": day, "start": day_start, "stop": stop, "through": stop})


def load(settings: Settings, days: int = 90, progress=None) -> int:
    """Load what is missing; returns the number of slices loaded."""
    with postgres.connect(settings, "writer", autocommit=True) as conn:
        todo = plan(conn, days)
    task = progress.add_task(f"load {days} days of bench metrics", total=len(todo)) if progress else None
    # the biggest site on one connection, the others on the second
    lanes = [[t for t in todo if t[0] is SITES[0]], [t for t in todo if t[0] is not SITES[0]]]

    def run(lane):
        with postgres.connect(settings, "writer", autocommit=True) as conn:
            for site, start, stop in lane:
                load_slice(conn, site, start, stop)
                if task is not None:
                    progress.advance(task)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for f in [pool.submit(run, lane) for lane in lanes if lane]:
            f.result()
    return len(todo)


def remove(settings: Settings, progress=None) -> None:
    """Delete every bench row (as the admin role: the writer may not delete)."""
    task = progress.add_task("remove bench metrics", total=len(TABLES)) if progress else None
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"DELETE FROM {table} WHERE site_id LIKE %s", (PREFIX + "%",))
            if task is not None:
                progress.advance(task)


def row_counts(settings: Settings) -> dict[str, int]:
    with postgres.connect(settings, "reader", autocommit=True) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t} WHERE site_id LIKE %s", (PREFIX + "%",)).fetchone()[0]
                for t in TABLES}
