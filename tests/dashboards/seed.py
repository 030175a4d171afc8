"""Metric rows for the dashboard tests, written as the writer role exactly as Flink's JDBC
sinks write them (upserts on each table's key), under a test's own site id.

This is the one place that fabricates metric rows for the browser tests: once the metric
jobs run in the test stack, it can be replaced by sending events through Kafka and
waiting for the windows, without touching the tests.

Shapes follow the metric files in sql/metrics/: active_users_1m/active_users_daily carry
the grouping sets (site), (site, country), (site, device), (site, plan) and
(site, country, device, plan) with 'all' in the rolled-up columns; top_pages_1m keeps 10
pages per minute; funnel steps come from sql/funnels.yaml. The provisional tables (V070)
get the open minute and the newest 10-second bucket of users at seeding time: the Live
views show a site's newest provisional top pages for 15 minutes, so a session's browser
tests must run within that.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import yaml

from clickpulse.paths import SQL_DIR
from clickpulse.settings import Settings
from clickpulse.stack import postgres

EVENT_TYPES = ["page_view", "click", "signup", "add_to_cart", "purchase"]
COUNTRIES = ["DE", "US", "FR"]
DEVICES = ["desktop", "mobile"]
PLANS = ["free", "pro"]
# the demo's A/B test arms (promoted property `experiment`), a funnel_breakdown dimension
EXPERIMENT_ARMS = ["control", "new_pricing"]
ACQUISITION = [("Direct", "(direct)", "(none)"), ("Organic search", "google.com", "(none)"),
               ("Email", "newsletter", "spring"), ("Paid search", "google", "black-friday")]
PAGES = ["/", "/pricing", "/docs", "/blog", "/landing/a", "/products/1", "/products/2", "/cart", "/signup",
         "/about", "/contact", "/products/3"]
INVALID_REASONS = ["not_json", "missing_field:user_id"]
BOT_REASONS = ["user_agent", "rate"]

# How far back the seeded windows reach: the Live and Pipeline health dashboards look at
# the last hours, Funnels at the last days, Trends at up to 90 days.
MINUTES = 120
DAYS = 30


@dataclass
class SeededSite:
    site_id: str
    now: dt.datetime
    latest_minute: dt.datetime
    live_users: int
    top_page: str
    users_now: int = 0
    events_open_minute: int = 0
    countries: list[str] = field(default_factory=lambda: list(COUNTRIES))


def _minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def funnel_steps() -> list[tuple[str, list[str]]]:
    doc = yaml.safe_load((SQL_DIR / "funnels.yaml").read_text())
    return [(f["name"], [s["name"] for s in f["steps"]]) for f in doc["funnels"]]


def _upsert(cur, table: str, key: list[str], rows: list[tuple], columns: list[str]) -> None:
    if not rows:
        return
    cols = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in key)
    cur.executemany(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}",
        rows)


def seed_site(settings: Settings, site_id: str, *, now: dt.datetime | None = None, seed: int = 7) -> SeededSite:
    """Fill every metric table for `site_id`: the last MINUTES minutes, DAYS days of daily
    and hourly rows. Windows end before `now` (complete windows only)."""
    rnd = random.Random(seed)
    now = now or dt.datetime.now(dt.timezone.utc)
    last = _minute(now) - dt.timedelta(minutes=1)  # newest complete minute window
    minutes = [last - dt.timedelta(minutes=i) for i in range(MINUTES)]
    m1 = dt.timedelta(minutes=1)

    epm, au1m, top, late, invalid, bot = [], [], [], [], [], []
    for w in minutes:
        for et in EVENT_TYPES:
            for c in COUNTRIES:
                d, p = rnd.choice(DEVICES), rnd.choice(PLANS)
                base = 40 if et == "page_view" else 8
                epm.append((w, w + m1, site_id, et, c, d, p, rnd.randint(base // 2, base)))
        combos = {(c, d, p): rnd.randint(1, 9) for c in COUNTRIES for d in DEVICES for p in PLANS}
        total = sum(combos.values())
        au1m.append((w, w + m1, site_id, "all", "all", "all", total))
        for c in COUNTRIES:
            au1m.append((w, w + m1, site_id, c, "all", "all", sum(v for k, v in combos.items() if k[0] == c)))
        for d in DEVICES:
            au1m.append((w, w + m1, site_id, "all", d, "all", sum(v for k, v in combos.items() if k[1] == d)))
        for p in PLANS:
            au1m.append((w, w + m1, site_id, "all", "all", p, sum(v for k, v in combos.items() if k[2] == p)))
        for (c, d, p), v in combos.items():
            au1m.append((w, w + m1, site_id, c, d, p, v))
        views = sorted((rnd.randint(1, 60) for _ in range(10)), reverse=True)
        for rank, (page, v) in enumerate(zip(PAGES, views), start=1):
            top.append((w, w + m1, site_id, page, v, max(1, v // 2), rank))
        if rnd.random() < 0.3:
            late.append((w, site_id, rnd.randint(1, 5)))
        if rnd.random() < 0.3:
            bot.append((w, w + m1, site_id, rnd.choice(BOT_REASONS), rnd.randint(1, 40)))
        if rnd.random() < 0.3:
            invalid.append((w, site_id, rnd.choice(INVALID_REASONS), rnd.randint(1, 3)))

    # Trends: a few minutes at noon of each day, so events_per_day has a bar per day.
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for i in range(1, DAYS):
        w = today - dt.timedelta(days=i) + dt.timedelta(hours=12)
        for et in EVENT_TYPES:
            epm.append((w, w + m1, site_id, et, rnd.choice(COUNTRIES), rnd.choice(DEVICES), rnd.choice(PLANS),
                        rnd.randint(500, 1500)))

    live = []
    end = now.replace(second=now.second - now.second % 10, microsecond=0) - dt.timedelta(seconds=10)
    for i in range(MINUTES * 6):
        we = end - dt.timedelta(seconds=10 * i)
        live.append((we - dt.timedelta(minutes=5), we, site_id, 20 + int(10 * abs(((i % 60) - 30) / 30))))
    live_users = live[0][3]

    daily, sessions, top1h, funnels, entry_exit, transitions, acquisition = [], [], [], [], [], [], []
    breakdown = []
    for i in range(DAYS):
        day = (today - dt.timedelta(days=i)).date()
        through = now if i == 0 else dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.timezone.utc)
        combos = {(c, d, p): rnd.randint(20, 90) for c in COUNTRIES for d in DEVICES for p in PLANS}
        daily.append((day, site_id, "all", "all", "all", sum(combos.values()), through))
        for c in COUNTRIES:
            daily.append((day, site_id, c, "all", "all", sum(v for k, v in combos.items() if k[0] == c), through))
        for d in DEVICES:
            daily.append((day, site_id, "all", d, "all", sum(v for k, v in combos.items() if k[1] == d), through))
        for p in PLANS:
            daily.append((day, site_id, "all", "all", p, sum(v for k, v in combos.items() if k[2] == p), through))
        for (c, d, p), v in combos.items():
            daily.append((day, site_id, c, d, p, v, through))
    hour0 = now.replace(minute=0, second=0, microsecond=0)
    for i in range(DAYS * 24):
        h = hour0 - dt.timedelta(hours=i)
        s = rnd.randint(20, 80)
        b = rnd.randint(0, s // 2)
        dur = s * rnd.uniform(30, 240)
        pv = s * rnd.randint(2, 5)
        sessions.append((h, site_id, s, b, b / s, dur, dur / s, pv, pv / s))
        if i < 48:
            for name, steps in funnel_steps():
                users = rnd.randint(50, 120)
                for k, step_name in enumerate(steps, start=1):
                    funnels.append((h, site_id, name, k, step_name, users))
                    median = 0.0 if k == 1 else rnd.uniform(30, 600) * (k - 1)
                    segments = [("all", "all")] + [(dim, v) for dim, values in
                                                   (("country", COUNTRIES), ("device", DEVICES), ("plan", PLANS),
                                                    ("experiment", EXPERIMENT_ARMS))
                                                   for v in values]
                    for dim, value in segments:
                        n = users if dim == "all" else max(1, users // 3)
                        breakdown.append((h, site_id, name, k, dim, value, step_name, n, median, median * 2.5))
                    users = max(1, int(users * rnd.uniform(0.3, 0.7)))
        if i < 48:  # journeys: sessions start on the first pages, pairs of neighbouring pages
            for k, page in enumerate(PAGES[:5]):
                entry_exit.append((h, site_id, page, rnd.randint(5, 40) // (k + 1), rnd.randint(2, 20)))
            for src, dst in zip(PAGES[:6], PAGES[1:7]):
                n = rnd.randint(3, 60)
                transitions.append((h, site_id, src, dst, n, max(1, n // 2)))
            for channel, source, campaign in ACQUISITION:
                n = rnd.randint(2, 30)
                acquisition.append((h, site_id, channel, source, campaign, n, max(1, n - 2), n // 7))
        if 1 <= i <= 3:  # complete hours only, as the hourly sink writes them
            views = sorted((rnd.randint(100, 900) for _ in range(10)), reverse=True)
            for rank, (page, v) in enumerate(zip(PAGES, views), start=1):
                top1h.append((h, h + dt.timedelta(hours=1), site_id, page, v, v // 3, rank))

    # retention: cohorts of the last DAYS days and weeks, each with its size (k = 0) and users
    # back on each later day (week) up to today, as the job's rows grow
    retention_daily, retention_weekly = [], []
    monday = today - dt.timedelta(days=today.weekday())
    for rows, start, step, last_k in ((retention_daily, today, dt.timedelta(days=1), 30),
                                      (retention_weekly, monday, dt.timedelta(weeks=1), 12)):
        for i in range(DAYS):
            size = rnd.randint(100, 400)
            rows += [(start - i * step, site_id, k, size if k == 0 else max(1, int(size * rnd.uniform(0.1, 0.4))))
                     for k in range(min(i, last_k) + 1)]

    # The open minute (no final row yet) and the users of the newest bucket: provisional.
    open_minute = _minute(now)
    epm_prov = [(open_minute, site_id, et, c, rnd.choice(DEVICES), rnd.choice(PLANS), rnd.randint(1, 30))
                for et in EVENT_TYPES for c in COUNTRIES]
    top_prov = [(open_minute, site_id, page, v, max(1, v // 2))
                for page, v in zip(PAGES, sorted((rnd.randint(1, 40) for _ in range(10)), reverse=True))]
    bucket = _bucket(now)
    users_prov = [(bucket, site_id, c, d, p, rnd.randint(1, 9)) for c in COUNTRIES for d in DEVICES for p in PLANS]

    with postgres.connect(settings, "writer", autocommit=False) as conn, conn.cursor() as cur:
        # button and experiment (the promoted properties) are left to their default, 'none'
        _upsert(cur, "events_per_minute_provisional", ["window_start", "site_id", "event_type", "country", "device",
                                                       "plan", "button", "experiment"], epm_prov,
                ["window_start", "site_id", "event_type", "country", "device", "plan", "events"])
        _upsert(cur, "top_pages_provisional", ["window_start", "site_id", "page"], top_prov,
                ["window_start", "site_id", "page", "views", "unique_users"])
        _upsert(cur, "active_users_provisional", ["bucket", "site_id", "country", "device", "plan"], users_prov,
                ["bucket", "site_id", "country", "device", "plan", "users"])
        _upsert(cur, "events_per_minute", ["window_start", "site_id", "event_type", "country", "device", "plan",
                                           "button", "experiment"],
                epm, ["window_start", "window_end", "site_id", "event_type", "country", "device", "plan", "events"])
        _upsert(cur, "active_users_1m", ["window_start", "site_id", "country", "device", "plan"], au1m,
                ["window_start", "window_end", "site_id", "country", "device", "plan", "users"])
        _upsert(cur, "active_users_live", ["window_end", "site_id"], live,
                ["window_start", "window_end", "site_id", "users"])
        _upsert(cur, "active_users_daily", ["day", "site_id", "country", "device", "plan"], daily,
                ["day", "site_id", "country", "device", "plan", "users", "updated_through"])
        _upsert(cur, "top_pages_1m", ["window_start", "site_id", "page"], top,
                ["window_start", "window_end", "site_id", "page", "views", "unique_users", "rank"])
        _upsert(cur, "top_pages_1h", ["window_start", "site_id", "page"], top1h,
                ["window_start", "window_end", "site_id", "page", "views", "unique_users", "rank"])
        _upsert(cur, "sessions_1h", ["hour_start", "site_id"], sessions,
                ["hour_start", "site_id", "sessions", "bounces", "bounce_rate", "total_duration_s", "avg_duration_s",
                 "pageviews", "pages_per_session"])
        _upsert(cur, "funnel_conversions", ["hour_start", "site_id", "funnel", "step"], funnels,
                ["hour_start", "site_id", "funnel", "step", "step_name", "users"])
        _upsert(cur, "funnel_breakdown", ["hour_start", "site_id", "funnel", "step", "dimension", "segment"],
                breakdown, ["hour_start", "site_id", "funnel", "step", "dimension", "segment", "step_name", "users",
                            "median_s", "p90_s"])
        _upsert(cur, "entry_exit_pages_1h", ["hour_start", "site_id", "page"], entry_exit,
                ["hour_start", "site_id", "page", "entries", "exits"])
        _upsert(cur, "page_transitions_1h", ["hour_start", "site_id", "from_page", "to_page"], transitions,
                ["hour_start", "site_id", "from_page", "to_page", "transitions", "users"])
        _upsert(cur, "acquisition_1h", ["hour_start", "site_id", "channel", "source", "campaign"], acquisition,
                ["hour_start", "site_id", "channel", "source", "campaign", "sessions", "users", "conversions"])
        for table, rows in (("retention_daily", retention_daily), ("retention_weekly", retention_weekly)):
            _upsert(cur, table, ["cohort_start", "site_id", "period_offset"], rows,
                    ["cohort_start", "site_id", "period_offset", "users"])
        _upsert(cur, "late_events", ["minute", "site_id"], late, ["minute", "site_id", "events"])
        _upsert(cur, "bot_events", ["window_start", "site_id", "reason"], bot,
                ["window_start", "window_end", "site_id", "reason", "events"])
        _upsert(cur, "invalid_events", ["minute", "site_id", "reason"], invalid,
                ["minute", "site_id", "reason", "events"])
        conn.commit()
    return SeededSite(site_id=site_id, now=now, latest_minute=last, live_users=live_users, top_page=PAGES[0],
                      users_now=sum(r[5] for r in users_prov), events_open_minute=sum(r[6] for r in epm_prov))


def _bucket(t: dt.datetime) -> dt.datetime:
    """The 10-second bucket of active_users_provisional that `t` falls in."""
    return t.replace(second=t.second - t.second % 10, microsecond=0)


def users_now(settings: Settings, site_id: str) -> int:
    """What live_users_now says for the site (the view decides which buckets count)."""
    with postgres.connect(settings, "reader", autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(users), 0) FROM live_users_now WHERE site_id = %s",
                           (site_id,)).fetchone()
    return int(row[0])


def add_users_now(settings: Settings, site_id: str, users: int, *, now: dt.datetime | None = None) -> int:
    """Users in a new, newest bucket of active_users_provisional for the site (what the
    job writes about once a second); returns what live_users_now then says for the site."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with postgres.connect(settings, "writer", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO active_users_provisional (bucket, site_id, country, device, plan, users) "
            "VALUES (%s, %s, 'DE', 'desktop', 'free', %s) ON CONFLICT (bucket, site_id, country, device, plan) "
            "DO UPDATE SET users = EXCLUDED.users", (_bucket(now), site_id, users))
    return users_now(settings, site_id)


def add_live_window(settings: Settings, site_id: str, users: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """One new `active_users_live` row, the window that ended last (what the sink writes
    every 10 s), newer than the seeded ones. Returns its window_end."""
    now = now or dt.datetime.now(dt.timezone.utc)
    window_end = now.replace(microsecond=0) - dt.timedelta(seconds=now.second % 10)
    with postgres.connect(settings, "writer", autocommit=True) as conn:
        conn.execute(
            "INSERT INTO active_users_live (window_start, window_end, site_id, users) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (window_end, site_id) DO UPDATE SET users = EXCLUDED.users",
            (window_end - dt.timedelta(minutes=5), window_end, site_id, users))
    return window_end


SITE_TABLES = ["events_per_minute_provisional", "top_pages_provisional", "active_users_provisional",
               "events_per_minute", "active_users_1m", "active_users_live", "active_users_daily", "top_pages_1m",
               "top_pages_1h", "sessions_1h", "funnel_conversions", "funnel_breakdown", "late_events", "invalid_events",
               "bot_events", "entry_exit_pages_1h", "page_transitions_1h",
               "acquisition_1h", "retention_daily", "retention_weekly"]


def remove_site(settings: Settings, site_id: str) -> None:
    """Delete the site's rows again (as the admin role: the writer may not delete)."""
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        for table in SITE_TABLES:
            conn.execute(f"DELETE FROM {table} WHERE site_id = %s", (site_id,))
