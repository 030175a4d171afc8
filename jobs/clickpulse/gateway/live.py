"""What the Live page shows, read once per tick for every viewer and cut per viewer.

One `Snapshot` per tick holds the live rows and the open alerts of every site (five queries,
whatever the number of viewers); `payload(snapshot, view)` keeps only the sites a viewer may see and the
filters they chose. A site viewer's payload is built from its own site's rows only, so
another site's numbers never reach it, not even as a total or a filter option.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import psycopg

SEGMENTS = ("country", "device", "plan")
ALL = "all"
# The page shows the open minute and the two before it (the Superset dashboard has the
# trend): three minutes of rows at the full grain keep a tick's read small.
EVENT_MINUTES = 3

# Each query reads a live view or the newest rows of a table: primary-key range scans.
USERS_SQL = "SELECT window_end, site_id, country, device, plan, users, provisional FROM live_users_now"
EVENTS_SQL = f"""
SELECT window_start, site_id, event_type, country, device, plan, events, provisional
FROM live_events_per_minute
WHERE window_start >= date_trunc('minute', now()) - INTERVAL '{EVENT_MINUTES - 1} minutes'
"""
PAGES_SQL = "SELECT window_start, site_id, page, views, unique_users, rank, provisional FROM live_top_pages_now"
# The funnel rows are rewritten as users progress (no window to wait for): the current hour's
# rows are the live funnel, provisional until 30 minutes after the hour (they can still grow).
FUNNEL_SQL = """
SELECT hour_start, site_id, funnel, step, step_name, users,
       now() < hour_start + INTERVAL '90 minutes' AS provisional
FROM funnel_conversions
WHERE hour_start = date_trunc('hour', now())
"""

# The alerts open now (docs/design.md, "Alerts"): the banner of the Live page. A few rows at
# most (the partial index alerts_open); `site_id = 'all'` are the pipeline's own alerts.
ALERTS_SQL = """
SELECT alert_id, rule, kind, severity, site_id, metric, value, expected_low, expected_high,
       window_start, fired_at, message
FROM alerts
WHERE state = 'firing'
ORDER BY fired_at, alert_id
"""
PIPELINE_SITE = "all"
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class View:
    """Who looks (the sites they may see; None = every site) and which filters they chose."""

    scope: frozenset[str] | None
    site: str | None = None
    country: str | None = None
    device: str | None = None
    plan: str | None = None

    def sites(self, present: set[str]) -> list[str]:
        allowed = present if self.scope is None else present & self.scope
        if self.site is not None:
            allowed = allowed & {self.site}
        return sorted(allowed)

    def matches(self, row: dict) -> bool:
        return all(getattr(self, s) in (None, row[s]) for s in SEGMENTS)

    @property
    def segmented(self) -> bool:
        return any(getattr(self, s) for s in SEGMENTS)


@dataclass
class Snapshot:
    """The live rows of every site at one tick, grouped by site."""

    tick_ms: int
    now: dt.datetime
    users: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    events: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    pages: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    funnel: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    alerts: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    # per-site partial results of this tick, shared by every view that includes the site
    cache: dict[tuple, object] = field(default_factory=dict)

    def per_site(self, key: tuple, compute):
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]

    @property
    def sites(self) -> set[str]:
        # a site with an open alert counts even without live rows: its traffic may be what stopped
        return (set(self.users) | set(self.events) | set(self.pages) | set(self.funnel)
                | (set(self.alerts) - {PIPELINE_SITE}))


async def read_snapshot(conn: psycopg.AsyncConnection, tick_ms: int) -> Snapshot:
    """The five queries of a tick, in one read-only transaction (one consistent picture)."""
    async with conn.transaction():
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        now = (await (await cur.execute("SELECT now() AS now")).fetchone())["now"]
        snap = Snapshot(tick_ms, now)
        for sql, target in ((USERS_SQL, snap.users), (EVENTS_SQL, snap.events), (PAGES_SQL, snap.pages),
                            (FUNNEL_SQL, snap.funnel), (ALERTS_SQL, snap.alerts)):
            await cur.execute(sql)
            for row in await cur.fetchall():
                target[row["site_id"]].append(row)
    return snap


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z") if t else None


def payload(snap: Snapshot, view: View) -> dict:
    """The Live page's numbers for one view: only the sites in its scope, its filters applied.
    Every figure says whether it is provisional (open window) or final."""
    sites = view.sites(snap.sites)
    return {
        "sites": sites,
        # what the site filter may offer: every site of the scope, whichever is chosen
        "site_options": View(view.scope).sites(snap.sites),
        "segments": _segment_options(snap, sites),
        "filters": {"site": view.site, **{s: getattr(view, s) for s in SEGMENTS}},
        "users_now": _users(snap, sites, view),
        "events": _events(snap, sites, view),
        "top_pages": _pages(snap, sites, view),
        "funnel": _funnel(snap, sites, view),
        "alerts": _alerts(snap, sites, view),
    }


def _segment_options(snap: Snapshot, sites: list[str]) -> dict[str, list[str]]:
    def of_site(site: str) -> dict[str, set[str]]:
        values: dict[str, set[str]] = {s: set() for s in SEGMENTS}
        for row in (*snap.users.get(site, ()), *snap.events.get(site, ())):
            for s in SEGMENTS:
                values[s].add(row[s])
        return values

    parts = [snap.per_site(("segments", site), lambda site=site: of_site(site)) for site in sites]
    return {s: sorted(set().union(*(p[s] for p in parts)) - {ALL}) for s in SEGMENTS}


def _filter_key(view: View) -> tuple:
    return tuple(getattr(view, s) for s in SEGMENTS)


def _users(snap: Snapshot, sites: list[str], view: View) -> dict:
    # each row counts users by the segment of their newest event, so a user is in one row per
    # site: the sum over matching rows is exact (several sites: the sum of each site's users)
    def of_site(site: str) -> int:
        return sum(r["users"] for r in snap.users.get(site, ()) if view.matches(r))

    by_site = {site: snap.per_site(("users", site, _filter_key(view)), lambda site=site: of_site(site))
               for site in sites}
    ends = [r["window_end"] for site in sites for r in snap.users.get(site, ())[:1]]
    return {"value": sum(by_site.values()), "provisional": True,
            "window_end": _iso(max(ends)) if ends else None, "by_site": by_site}


def _events(snap: Snapshot, sites: list[str], view: View) -> dict:
    newest = snap.now.replace(second=0, microsecond=0)
    minutes = [newest - dt.timedelta(minutes=i) for i in range(EVENT_MINUTES - 1, -1, -1)]
    index = {m: i for i, m in enumerate(minutes)}

    def of_site(site: str) -> tuple[dict[str, list[int]], list[bool]]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(minutes))
        provisional = [False] * len(minutes)
        for r in snap.events.get(site, ()):
            i = index.get(r["window_start"])
            if i is None or not view.matches(r):
                continue
            counts[r["event_type"]][i] += r["events"]
            provisional[i] = provisional[i] or r["provisional"]
        return counts, provisional

    by_type: dict[str, list[int]] = defaultdict(lambda: [0] * len(minutes))
    provisional = [False] * len(minutes)
    for site in sites:
        counts, prov = snap.per_site(("events", site, _filter_key(view)), lambda site=site: of_site(site))
        for event_type, values in counts.items():
            by_type[event_type] = [a + b for a, b in zip(by_type[event_type], values)]
        provisional = [a or b for a, b in zip(provisional, prov)]
    totals = [sum(col) for col in zip(*by_type.values())] if by_type else [0] * len(minutes)
    return {"minutes": [_iso(m) for m in minutes], "by_type": dict(sorted(by_type.items())),
            "totals": totals, "provisional": provisional,
            "this_minute": {"value": totals[-1], "provisional": provisional[-1] or totals[-1] == 0}}


def _pages(snap: Snapshot, sites: list[str], view: View) -> dict:
    merged: dict[str, dict] = {}
    for site in sites:
        for r in snap.pages.get(site, ()):
            m = merged.setdefault(r["page"], {"page": r["page"], "views": 0, "unique_users": 0,
                                              "provisional": False})
            m["views"] += r["views"]
            m["unique_users"] += r["unique_users"]
            m["provisional"] = m["provisional"] or r["provisional"]
    rows = sorted(merged.values(), key=lambda m: (-m["views"], m["page"]))[:10]
    # the table has no segment columns: a segment filter does not narrow it, and the page says so
    return {"rows": rows, "segmented": False, "ignores_segment_filter": view.segmented}


def _funnel(snap: Snapshot, sites: list[str], view: View) -> dict:
    steps: dict[tuple[str, int], dict] = {}
    hour = None
    for site in sites:
        for r in snap.funnel.get(site, ()):
            hour = r["hour_start"]
            s = steps.setdefault((r["funnel"], r["step"]), {"funnel": r["funnel"], "step": r["step"],
                                                            "step_name": r["step_name"], "users": 0,
                                                            "provisional": False})
            s["users"] += r["users"]
            s["provisional"] = s["provisional"] or r["provisional"]
    return {"hour_start": _iso(hour), "steps": [steps[k] for k in sorted(steps)],
            "ignores_segment_filter": view.segmented}


def _alerts(snap: Snapshot, sites: list[str], view: View) -> list[dict]:
    """The open alerts of the sites shown (a site filter narrows them like every figure), most
    severe first; the pipeline's own alerts only for viewers who see every site."""
    shown = sites + ([PIPELINE_SITE] if view.scope is None else [])
    rows = [r for site in shown for r in snap.alerts.get(site, ())]
    rows.sort(key=lambda r: (SEVERITY_ORDER.get(r["severity"], 9), r["fired_at"], r["alert_id"]))
    return [{"alert_id": r["alert_id"], "rule": r["rule"], "kind": r["kind"], "severity": r["severity"],
             "site_id": r["site_id"], "metric": r["metric"], "value": r["value"],
             "expected_low": r["expected_low"], "expected_high": r["expected_high"],
             "window_start": _iso(r["window_start"]), "fired_at": _iso(r["fired_at"]), "message": r["message"]}
            for r in rows]
