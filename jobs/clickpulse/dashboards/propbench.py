"""Ad hoc property queries on the raw `events` table, for `clickpulse bench properties`:
DAYS days of raw events under the bench site ids (bench-1..3, as `bench dashboards` uses),
then analysts' 30-day queries that filter on a property with `properties @> '{...}'`
(the containment the GIN index of V160, jsonb_path_ops, serves), timed as the reader role,
with the plan that shows whether the index was used.

The events have the shape of the generator's (clickpulse.ingest.simulation): page views
carry no properties, clicks carry properties.button, every action carries
properties.experiment and a few other keys. Loading again only adds the days that are
missing (one transaction per site and day, as the writer role, like the Flink sink)."""

from __future__ import annotations

import datetime as dt
import time
import zlib
from dataclasses import dataclass, field

from ..settings import Settings
from ..stack import postgres
from .bench import percentile
from .benchdata import PAGES, PREFIX, SITES

# The mix the generator's default profile sends (measured over 300,000 of its events):
# 71% page views, 10% clicks (signup_cta is 3.75% of all events), a product_id on add to
# cart and purchase.
EVENT_TYPES = {"page_view": .709, "click": .099, "add_to_cart": .051, "signup": .0375, "form_submit": .0375,
               "purchase": .035, "video_play": .027, "newsletter_subscribe": .0045}
BUTTONS = {"signup_cta": .38, "compare_plans": .27, "checkout": .24, "buy_plan": .11}
PRODUCTS = 20
ARMS = ("control", "new_pricing")
SHARE = {s.site_id: s.peak_events_per_s / sum(x.peak_events_per_s for x in SITES) for s in SITES}


def _pick(weights: dict, r: str) -> str:
    """A CASE picking a key of `weights` by the uniform draw `r` (a column in [0, 1))."""
    out, acc = "CASE", 0.0
    total = sum(weights.values())
    for k, w in list(weights.items())[:-1]:
        acc += w / total
        out += f" WHEN {r} < {acc:.6f} THEN '{k}'"
    return out + f" ELSE '{list(weights)[-1]}' END"


# One INSERT per site and day: n events at uniformly random times of the day.
LOAD_SQL = f"""
INSERT INTO events (event_time, event_id, event_type, site_id, user_id, session_id, page, referrer, country, device,
                    plan, properties, schema_version)
SELECT %(start)s::timestamptz + r_t * (%(stop)s::timestamptz - %(start)s::timestamptz),
       %(prefix)s || i, e, %(site)s, 'u-' || (r_u * 50000)::int, 's-' || (r_u * 50000)::int || '-' || (r_t * 48)::int,
       {_pick({p: 1 for p in PAGES}, 'r_p')}, NULL, 'US', 'desktop', 'free',
       CASE WHEN e = 'page_view' THEN NULL
            WHEN e = 'click' THEN jsonb_build_object('button', {_pick(BUTTONS, 'r_p')},
                                                     'experiment', CASE WHEN r_u < 0.5 THEN '{ARMS[0]}' ELSE '{ARMS[1]}' END)
            WHEN e IN ('add_to_cart', 'purchase') THEN
              jsonb_build_object('experiment', CASE WHEN r_u < 0.5 THEN '{ARMS[0]}' ELSE '{ARMS[1]}' END,
                                 'product_id', floor(r_p * {PRODUCTS})::int + 1, 'currency', 'USD')
            ELSE jsonb_build_object('experiment', CASE WHEN r_u < 0.5 THEN '{ARMS[0]}' ELSE '{ARMS[1]}' END)
       END,
       1
FROM (SELECT i, r_t, r_u, r_p, {_pick(EVENT_TYPES, 'r_e')} AS e
      FROM (SELECT i, random() AS r_t, random() AS r_u, random() AS r_p, random() AS r_e
            FROM generate_series(1, %(n)s) AS i OFFSET 0) d) x"""

# The analysts' questions: 30 days, one site, filtered on a property nothing promotes.
QUERIES = {
    "signup_cta clicks per day (30 days)": """
SELECT date_trunc('day', event_time, 'UTC') AS day, count(*) FROM events
WHERE site_id = %(site)s AND event_time >= %(since)s AND properties @> '{"button": "signup_cta"}'
GROUP BY 1 ORDER BY 1""",
    "product 7 events by type (30 days)": """
SELECT event_type, count(*), count(DISTINCT user_id) AS users FROM events
WHERE site_id = %(site)s AND event_time >= %(since)s AND properties @> '{"product_id": 7}'
GROUP BY 1 ORDER BY 2 DESC""",
}
INDEX = "events_properties"


@dataclass
class QueryTiming:
    query: str
    samples_ms: list[float] = field(default_factory=list)
    rows: int = 0
    matched: int = 0
    index_used: bool = False
    plan: str = ""


def plan(conn, days: int, now: dt.datetime) -> list[tuple[str, dt.datetime, dt.datetime]]:
    """(site, start, stop) UTC days still to load, oldest first (up to the start of today)."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for s in SITES:
        last = conn.execute("SELECT max(event_time) FROM events WHERE site_id = %s", (s.site_id,)).fetchone()[0]
        day = today - dt.timedelta(days=days)
        if last:
            day = max(day, last.astimezone(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
                      + dt.timedelta(days=1))
        while day < today:
            out.append((s.site_id, day, day + dt.timedelta(days=1)))
            day += dt.timedelta(days=1)
    return out


def load(settings: Settings, days: int, rate: float, progress=None, now: dt.datetime | None = None) -> int:
    """Load the missing days at `rate` events per second over all bench sites; returns the
    number of site-days loaded."""
    now = now or dt.datetime.now(dt.timezone.utc)
    with postgres.connect(settings, "writer", autocommit=True) as conn:
        todo = plan(conn, days, now)
        task = progress.add_task(f"load {days} days of raw bench events", total=len(todo)) if progress else None
        for site, start, stop in todo:
            with conn.transaction():
                seed = zlib.crc32(f"{site}/{start.isoformat()}".encode()) / 2**32 * 2 - 1
                conn.execute("SELECT setseed(%s)", (seed,))
                conn.execute(LOAD_SQL, {"start": start, "stop": stop, "site": site, "prefix": f"{site}-{start:%Y%m%d}-",
                                        "n": max(1, round(rate * SHARE[site] * 86400))})
            if task is not None:
                progress.advance(task)
    if todo:
        with postgres.connect(settings, "admin", autocommit=True) as conn:
            conn.execute("ANALYZE events")
    return len(todo)


def time_queries(settings: Settings, runs: int, days: int = 30, warmup: int = 1, progress=None,
                 now: dt.datetime | None = None) -> list[QueryTiming]:
    """Each query RUNS times after WARMUP runs, on the biggest bench site, as the reader."""
    now = now or dt.datetime.now(dt.timezone.utc)
    params = {"site": SITES[0].site_id, "since": now - dt.timedelta(days=days)}
    out = []
    task = progress.add_task("time the ad hoc property queries", total=len(QUERIES) * (runs + warmup)) \
        if progress else None
    with postgres.connect(settings, "reader", autocommit=True) as conn:
        for name, sql in QUERIES.items():
            t = QueryTiming(name)
            for i in range(runs + warmup):
                t0 = time.perf_counter()
                rows = conn.execute(sql, params).fetchall()
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= warmup:
                    t.samples_ms.append(elapsed)
                t.rows = len(rows)
                t.matched = sum(int(r[1]) for r in rows)
                if task is not None:
                    progress.advance(task)
            t.plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params))
            t.index_used = INDEX in t.plan
            out.append(t)
    return out


def row_counts(settings: Settings, days: int) -> dict[str, int]:
    with postgres.connect(settings, "reader", autocommit=True) as conn:
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
        return {"events": conn.execute("SELECT count(*) FROM events WHERE site_id LIKE %s AND event_time >= %s",
                                       (PREFIX + "%", since)).fetchone()[0],
                "events of the timed site": conn.execute(
                    "SELECT count(*) FROM events WHERE site_id = %s AND event_time >= %s",
                    (SITES[0].site_id, since)).fetchone()[0]}


def remove(settings: Settings) -> None:
    """Delete the raw bench events (as the admin role: the writer may not delete)."""
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        conn.execute("DELETE FROM events WHERE site_id LIKE %s", (PREFIX + "%",))


def table_rows(timings: list[QueryTiming]) -> list[dict]:
    return [{"query": t.query, "rows": t.rows, "events matched": t.matched, "p50_ms": percentile(t.samples_ms, 50),
             "p95_ms": percentile(t.samples_ms, 95), "max_ms": max(t.samples_ms, default=0.0),
             "GIN index used": "yes" if t.index_used else "NO"} for t in timings]
