"""The reference: every metric computed in plain Python from the same records, as a batch.

This module shares no code with the Flink job (not its SQL, views or Java parser): it is
the independent statement of what each metric means, and the metric tests, the end-to-end
test and the generator's ground truth compare the streaming output with it.

Rules it states (README "Metric semantics" says the same in prose):
- A record is valid when it satisfies the event contract (schema/event.v1.json); an
  invalid one is counted in `invalid_events` under the first rule it breaks.
- Records are taken in arrival order within each Kafka partition. An event is late when
  it is the watermark delay or more behind the newest event time its partition carried
  up to and including it (valid records, copies and ticks count; malformed ones do
  not): counted in `late_events`, nowhere else. The first copy of an event_id is the
  event; a later copy in the same partition (copies share a key, hence a partition) is
  dropped while it is on time, and, once its partition's event time is the delay past the
  event's (when any copy would be late), counted as a late event like any other.
- Every window is complete (the batch sees the end of the input).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .runner.funnels import load_funnels
from .runner.properties import load_properties, promoted_values

MINUTE = 60_000
HOUR = 3_600_000
DAY = 86_400_000
SESSION_GAP = 30 * MINUTE   # a session ends after more than this without an event
MAX_TS = 32503680000000
MAX_FUTURE = 60_000  # CLICKPULSE_MAX_FUTURE_MS default
EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:-]+")
SEGMENT_SETS = (("site_id",), ("site_id", "country"), ("site_id", "device"), ("site_id", "plan"),
                ("site_id", "country", "device", "plan"))
SEGMENTS = ("country", "device", "plan")


class Invalid(Exception):
    pass


@dataclass
class Event:
    event_id: str
    event_type: str
    site_id: str
    user_id: str
    session_id: str | None
    ts: int
    page: str
    referrer: str | None
    country: str
    device: str
    plan: str
    properties: str | None
    schema_version: int
    bot: str | None = None  # why the collector judged it a bot's; None for people
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    referrer_domain: str | None = None


def _utf16_len(s: str) -> int:
    # Java counts UTF-16 code units; an emoji is two of them
    return len(s.encode("utf-16-le")) // 2


def _required(o: dict, field: str, max_len: int) -> str:
    v = o.get(field)
    if v is None:
        raise Invalid(f"{field}: missing")
    if not isinstance(v, str):
        raise Invalid(f"{field}: expected string")
    if v == "":
        raise Invalid(f"{field}: empty")
    if _utf16_len(v) > max_len:
        raise Invalid(f"{field}: longer than {max_len}")
    return v


def _optional(o: dict, field: str, max_len: int) -> str | None:
    v = o.get(field)
    if v is None:
        return None
    if not isinstance(v, str):
        raise Invalid(f"{field}: expected string")
    if _utf16_len(v) > max_len:
        raise Invalid(f"{field}: longer than {max_len}")
    return v or None


def _is_int(v) -> bool:
    return type(v) is int  # bool is an int subclass in Python, not in JSON


def _reject_constant(name):
    raise ValueError(name)  # NaN and Infinity are not JSON


def validate(payload: str | None, now_ms: int, max_future_ms: int = MAX_FUTURE) -> Event:
    """The event in `payload`, or Invalid(reason) with the contract's reason string."""
    if payload is None or payload == "" or payload.strip() == "":
        raise Invalid("empty payload")
    try:
        o = json.loads(payload, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise Invalid("not JSON") from None
    if not isinstance(o, dict):
        raise Invalid("not a JSON object")
    event_id = _required(o, "event_id", 128)
    event_type = _required(o, "event_type", 64)
    if not EVENT_TYPE.fullmatch(event_type):
        raise Invalid("event_type: only letters, digits and _ . : - allowed")
    site_id = _required(o, "site_id", 128)
    user_id = _required(o, "user_id", 256)
    session_id = _optional(o, "session_id", 256)
    ts = o.get("ts")
    if ts is None:
        raise Invalid("ts: missing")
    if not _is_int(ts) or not -(2**63) <= ts < 2**63:
        raise Invalid("ts: expected integer epoch milliseconds")
    if ts < 0 or ts > MAX_TS:
        raise Invalid("ts: out of range")
    if ts > now_ms + max_future_ms:
        raise Invalid("ts: too far in the future")
    page = _required(o, "page", 2048)
    referrer = _optional(o, "referrer", 2048)
    country = _optional(o, "country", 2)
    if country is not None:
        if len(country) != 2 or not all("a" <= c.lower() <= "z" for c in country):
            raise Invalid("country: expected ISO 3166-1 alpha-2")
        country = country.upper()
    device = _optional(o, "device", 16)
    if device is not None:
        device = device.lower()
        if device not in ("desktop", "mobile", "tablet"):
            raise Invalid("device: expected desktop, mobile or tablet")
    plan = _optional(o, "plan", 64)
    props = o.get("properties")
    if props is not None and not isinstance(props, dict):
        raise Invalid("properties: expected object")
    sv = o.get("schema_version")
    if sv is None:
        sv = 1
    elif not _is_int(sv) or sv < 1 or sv > 2**31 - 1:
        raise Invalid("schema_version: expected integer >= 1")
    bot = _optional(o, "bot", 64)
    utm_source = _lower(_optional(o, "utm_source", 256))
    utm_medium = _lower(_optional(o, "utm_medium", 256))
    utm_campaign = _optional(o, "utm_campaign", 256)
    return Event(event_id, event_type, site_id, user_id, session_id, ts, page, referrer,
                 country or "unknown", device or "unknown", plan or "unknown",
                 None if props is None else json.dumps(props, separators=(",", ":")), sv, bot,
                 utm_source, utm_medium, utm_campaign, referrer_domain(referrer))


def _lower(s: str | None) -> str | None:
    # A-Z only, as the JVM's parser does: str.lower() would also fold other letters
    return None if s is None else "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def referrer_domain(referrer: str | None) -> str | None:
    """The host of a referrer URL, by the contract's rule (schema/event.v1.json)."""
    if referrer is None or "://" not in referrer:
        return None
    host = referrer.split("://", 1)[1]
    host = re.split(r"[/?#]", host, maxsplit=1)[0]
    host = host.rpartition("@")[2]
    head, colon, port = host.rpartition(":")
    if colon and all("0" <= c <= "9" for c in port):
        host = head
    host = _lower(host)
    if host.startswith("www."):
        host = host[4:]
    return host or None


def _site_of_invalid(payload: str | None) -> str:
    try:
        o = json.loads(payload or "", parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return "unknown"
    site = o.get("site_id") if isinstance(o, dict) else None
    if isinstance(site, str) and site and _utf16_len(site) <= 128:
        return site
    return "unknown"


def _tick_ts(payload: str | None, now_ms: int, max_future_ms: int) -> int | None:
    try:
        o = json.loads(payload or "", parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    if isinstance(o, dict) and o.get("$clickpulse") == "tick":
        ts = o.get("ts")
        if _is_int(ts) and 0 < ts <= now_ms + max_future_ms:
            return ts
    return None


def event_time(payload: str | None, now_ms: int, max_future_ms: int = MAX_FUTURE) -> int | None:
    """The event time a record carries for lateness (a valid event's or a tick's `ts`);
    None for a malformed record, which never moves its partition's event time."""
    tick = _tick_ts(payload, now_ms, max_future_ms)
    if tick is not None:
        return tick
    try:
        return validate(payload, now_ms, max_future_ms).ts
    except Invalid:
        return None


def ts_utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)


def _floor(ms: int, size: int) -> int:
    return ms - ms % size


# --------------------------------------------------------------------------- classify


@dataclass
class Classified:
    clean: list[Event]          # first copies, on time, not bots': what the user metrics count
    late: list[tuple[Event, int | None]]         # with arrival time (ms) when known
    invalid: list[tuple[str, str, int | None]]   # (site, reason, arrival ms)
    duplicates: int
    bots: list[Event] = field(default_factory=list)  # first copies, on time, bots': bot_events only


def classify(records: Iterable, *, watermark_delay_ms: int = 5000, max_future_ms: int = MAX_FUTURE,
             now_ms: int | None = None) -> Classified:
    """records: raw Kafka values (str), or {"payload": str, "kafka_ts_ms": int,
    "kafka_partition": int} dicts, in arrival order (per partition; partition 0 if absent)."""
    now_ms = now_ms if now_ms is not None else int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    out = Classified([], [], [], 0)
    newest: dict[int, int] = {}               # partition -> newest event time so far
    remembered: dict[int, _Remembered] = defaultdict(_Remembered)
    for rec in records:
        if isinstance(rec, dict):
            payload, arrival, part = rec.get("payload"), rec.get("kafka_ts_ms"), rec.get("kafka_partition") or 0
        else:
            payload, arrival, part = rec, None, 0
        tick = _tick_ts(payload, now_ms, max_future_ms)
        if tick is not None:
            newest[part] = max(newest.get(part, tick), tick)
            remembered[part].forget(newest[part] - watermark_delay_ms)
            continue
        try:
            ev = validate(payload, now_ms, max_future_ms)
        except Invalid as e:
            out.invalid.append((_site_of_invalid(payload), str(e), arrival))
            continue
        newest[part] = max(newest.get(part, ev.ts), ev.ts)
        horizon = newest[part] - watermark_delay_ms
        if ev.ts <= horizon:
            out.late.append((ev, arrival))
        elif ev.event_id in remembered[part].ids:
            out.duplicates += 1
        else:
            remembered[part].add(ev.event_id, ev.ts)
            (out.bots if ev.bot else out.clean).append(ev)
        remembered[part].forget(horizon)
    return out


class _Remembered:
    """A partition's event ids that a copy could still arrive on time for."""

    def __init__(self):
        self.ids: set[str] = set()
        self.by_time: list[tuple[int, str]] = []

    def add(self, event_id: str, ts: int) -> None:
        self.ids.add(event_id)
        heapq.heappush(self.by_time, (ts, event_id))

    def forget(self, horizon: int) -> None:
        """Ids whose every copy would now be late (event time at or behind the horizon)."""
        while self.by_time and self.by_time[0][0] <= horizon:
            self.ids.discard(heapq.heappop(self.by_time)[1])


# --------------------------------------------------------------------------- metrics


def events_per_minute(events: list[Event]) -> list[dict]:
    """Per minute, site, event type, segment and promoted properties (sql/properties.yaml:
    each the property's text value, or 'none' when it is missing, not text, empty, longer
    than 64 characters or reads as a number, true, false or null)."""
    promoted = load_properties()
    counts: dict[tuple, int] = defaultdict(int)
    for e in events:
        counts[(_floor(e.ts, MINUTE), e.site_id, e.event_type, e.country, e.device, e.plan,
                promoted_values(e.properties, promoted))] += 1
    return [dict(window_start=ts_utc(w), window_end=ts_utc(w + MINUTE), site_id=s, event_type=t, country=c,
                 device=d, plan=p, **{pr.name: v for pr, v in zip(promoted, vals)}, events=n)
            for (w, s, t, c, d, p, vals), n in counts.items()]


def _segment_users(events: list[Event], bucket) -> dict[tuple, set]:
    users: dict[tuple, set] = defaultdict(set)
    for e in events:
        for b in bucket(e):
            for keep in SEGMENT_SETS:
                seg = tuple(getattr(e, f) if f in keep else "all" for f in SEGMENTS)
                users[(b, e.site_id, *seg)].add(e.user_id)
    return users


def active_users_1m(events: list[Event]) -> list[dict]:
    users = _segment_users(events, lambda e: [_floor(e.ts, MINUTE)])
    return [dict(window_start=ts_utc(w), window_end=ts_utc(w + MINUTE), site_id=s, country=c, device=d, plan=p,
                 users=len(u)) for (w, s, c, d, p), u in users.items()]


def active_users_live(events: list[Event], size: int = 5 * MINUTE, slide: int = 10_000) -> list[dict]:
    users: dict[tuple, set] = defaultdict(set)
    for e in events:
        # every 10-second-aligned 5-minute window [start, start + size) holding ts
        last_start = _floor(e.ts, slide)
        for start in range(last_start, e.ts - size, -slide):
            users[(start + size, e.site_id)].add(e.user_id)
    return [dict(window_start=ts_utc(end - size), window_end=ts_utc(end), site_id=s, users=len(u))
            for (end, s), u in users.items()]


def active_users_daily(events: list[Event], through: dict | None = None) -> list[dict]:
    """Distinct users of each day; `through` maps a day (date) to the end (ms) of the last
    minute counted, for comparing with a table whose day is still in progress (default:
    the whole day)."""
    users = _segment_users(events, lambda e: [_floor(e.ts, DAY)])
    out = []
    for (d, s, c, dv, p), u in users.items():
        day = ts_utc(d).date()
        end = (through or {}).get(day, d + DAY)
        if through is not None:
            u = {e.user_id for e in events if d <= e.ts < end and e.site_id == s
                 and (c == "all" or e.country == c) and (dv == "all" or e.device == dv)
                 and (p == "all" or e.plan == p)}
            if not u:
                continue
        out.append(dict(day=day, site_id=s, country=c, device=dv, plan=p, users=len(u), updated_through=ts_utc(end)))
    return out


def top_pages(events: list[Event], size: int) -> list[dict]:
    views: dict[tuple, int] = defaultdict(int)
    users: dict[tuple, set] = defaultdict(set)
    for e in events:
        if e.event_type == "page_view":
            k = (_floor(e.ts, size), e.site_id, e.page)
            views[k] += 1
            users[k].add(e.user_id)
    by_window: dict[tuple, list] = defaultdict(list)
    for (w, s, page), n in views.items():
        by_window[(w, s)].append((page, n, len(users[(w, s, page)])))
    out = []
    for (w, s), pages in by_window.items():
        # most views first; ties go to the page path that sorts first
        pages.sort(key=lambda x: (-x[1], x[0]))
        for rank, (page, n, u) in enumerate(pages[:10], start=1):
            out.append(dict(window_start=ts_utc(w), window_end=ts_utc(w + size), site_id=s, page=page, views=n,
                            unique_users=u, rank=rank))
    return out


# ---------------------------------------------------- provisional (open-window) tables


def events_per_minute_provisional(events: list[Event]) -> list[dict]:
    """Once every event is in, the provisional count of each minute is its final count."""
    return [{k: v for k, v in r.items() if k != "window_end"} for r in events_per_minute(events)]


def top_pages_provisional(events: list[Event]) -> list[dict]:
    views: dict[tuple, int] = defaultdict(int)
    users: dict[tuple, set] = defaultdict(set)
    for e in events:
        if e.event_type == "page_view":
            k = (_floor(e.ts, MINUTE), e.site_id, e.page)
            views[k] += 1
            users[k].add(e.user_id)
    return [dict(window_start=ts_utc(w), site_id=s, page=p, views=n, unique_users=len(users[(w, s, p)]))
            for (w, s, p), n in views.items()]


def active_users_provisional(events: list[Event], bucket: int = 10_000) -> list[dict]:
    """Each user once per site: the 10-second bucket and segment of their newest event
    (ties in time go to the segment that sorts last, as the job's MAX over the
    "bucket|country|device|plan" string has it)."""
    newest: dict[tuple, tuple] = {}
    for e in events:
        k = (e.site_id, e.user_id)
        v = (str(_floor(e.ts, bucket)), e.country, e.device, e.plan)
        if k not in newest or "|".join(v) > "|".join(newest[k]):
            newest[k] = v
    counts: dict[tuple, int] = defaultdict(int)
    for (site, _user), (b, c, d, p) in newest.items():
        counts[(int(b), site, c, d, p)] += 1
    return [dict(bucket=ts_utc(b), site_id=s, country=c, device=d, plan=p, users=n)
            for (b, s, c, d, p), n in counts.items()]


def _by_user(events: list[Event]) -> dict[tuple, list[Event]]:
    by_user: dict[tuple, list[Event]] = defaultdict(list)
    for e in events:
        by_user[(e.site_id, e.user_id)].append(e)
    return by_user


def _sessions(events: list[Event], gap: int = SESSION_GAP) -> Iterable[tuple[str, list[Event]]]:
    """(site, events of one session in time order) for every session of every user."""
    for (site, _), evs in _by_user(events).items():
        evs.sort(key=lambda e: e.ts)
        cur = [evs[0]]
        for e in evs[1:]:
            # a session ends after more than `gap` without events: an event exactly `gap`
            # after the previous one still joins it
            if e.ts - cur[-1].ts <= gap:
                cur.append(e)
            else:
                yield site, cur
                cur = [e]
        yield site, cur


def sessions_1h(events: list[Event], gap: int = SESSION_GAP) -> list[dict]:
    hours: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, 0])  # sessions, bounces, duration ms, pageviews
    for site, sess in _sessions(events, gap):
        pv = sum(1 for e in sess if e.event_type == "page_view")
        h = hours[(_floor(sess[0].ts, HOUR), site)]
        h[0] += 1
        h[1] += pv == 1
        h[2] += sess[-1].ts - sess[0].ts
        h[3] += pv
    return [dict(hour_start=ts_utc(hr), site_id=s, sessions=n, bounces=b, bounce_rate=b / n,
                 total_duration_s=dur / 1000, avg_duration_s=dur / 1000 / n, pageviews=pv,
                 pages_per_session=pv / n) for (hr, s), (n, b, dur, pv) in hours.items()]


def _view_order(e: Event) -> tuple[int, str]:
    # page views at the same millisecond are ordered by page, as the metric files say
    return e.ts, e.page


def entry_exit_pages_1h(events: list[Event], gap: int = SESSION_GAP) -> list[dict]:
    """Per hour of session start: the sessions whose first page view was on the page
    (entries) and those whose last one was (exits)."""
    counts: dict[tuple, list] = defaultdict(lambda: [0, 0])
    for site, sess in _sessions(events, gap):
        views = sorted((e for e in sess if e.event_type == "page_view"), key=_view_order)
        if not views:
            continue
        hour = _floor(sess[0].ts, HOUR)
        counts[(hour, site, views[0].page)][0] += 1
        counts[(hour, site, views[-1].page)][1] += 1
    return [dict(hour_start=ts_utc(h), site_id=s, page=p, entries=n, exits=x)
            for (h, s, p), (n, x) in counts.items()]


def page_transitions_1h(events: list[Event], gap: int = SESSION_GAP) -> list[dict]:
    """Consecutive page views of a user at most `gap` apart, per hour of the second view."""
    pairs: dict[tuple, list] = defaultdict(lambda: [0, set()])
    for (site, user), evs in _by_user(events).items():
        views = sorted((e for e in evs if e.event_type == "page_view"), key=_view_order)
        for a, b in zip(views, views[1:]):
            if b.ts - a.ts <= gap:
                p = pairs[(_floor(b.ts, HOUR), site, a.page, b.page)]
                p[0] += 1
                p[1].add(user)
    return [dict(hour_start=ts_utc(h), site_id=s, from_page=f, to_page=t, transitions=n, users=len(u))
            for (h, s, f, t), (n, u) in pairs.items()]


@dataclass
class FunnelHour:
    """One user's attempts at one funnel that start in one hour: the deepest step reached,
    the shortest time (ms) from step 1 to each step reached, and the segment of the hour's
    first step-1 event."""
    reached: int = 0
    best_ms: dict = field(default_factory=dict)   # step -> shortest time from step 1
    # (ts, country, device, plan, *promoted properties in sql/properties.yaml's order)
    first: tuple | None = None


def funnel_progress(events: list[Event], funnels) -> dict[tuple, FunnelHour]:
    """(hour, site, funnel, user) -> FunnelHour. For each event matching step 1 (an attempt),
    find the earliest event matching step 2 strictly later, then step 3 strictly later than
    that, ..., all less than the window after step 1: the earliest match at each step
    leaves the most room for the next and gives the attempt's shortest time to each step.
    A user's time to step k is the shortest over their attempts of the hour that reach it;
    their segment is that of their first step-1 event of the hour (earliest; at the same
    millisecond the smallest (country, device, plan, *promoted properties), compared
    element by element as the job's funnel_reach does)."""
    by_user: dict[tuple, list[Event]] = defaultdict(list)
    for e in events:
        by_user[(e.site_id, e.user_id)].append(e)
    promoted = load_properties()
    out: dict[tuple, FunnelHour] = {}
    for (site, user), evs in by_user.items():
        evs.sort(key=lambda e: e.ts)
        props = [_props(e) for e in evs]
        for f in funnels:
            window_ms = f.window_seconds * 1000
            for i, start in enumerate(evs):
                if not f.steps[0].matches(start.event_type, start.page, props[i]):
                    continue
                p = out.setdefault((_floor(start.ts, HOUR), site, f.name, user), FunnelHour())
                touch = (start.ts, start.country, start.device, start.plan,
                         *promoted_values(start.properties, promoted))
                p.first = touch if p.first is None else min(p.first, touch)
                p.reached = max(p.reached, 1)
                p.best_ms[1] = 0
                t = start.ts
                for k, step in enumerate(f.steps[1:], start=2):
                    nxt = next((e for e, pr in zip(evs, props) if e.ts > t and e.ts - start.ts < window_ms
                                and step.matches(e.event_type, e.page, pr)), None)
                    if nxt is None:
                        break
                    p.reached = max(p.reached, k)
                    p.best_ms[k] = min(p.best_ms.get(k, nxt.ts - start.ts), nxt.ts - start.ts)
                    t = nxt.ts
    return out


def _props(e: Event) -> dict:
    return json.loads(e.properties) if e.properties else {}


def funnel_conversions(events: list[Event], funnels) -> list[dict]:
    """Users reaching each step, once per funnel, step and hour of step 1."""
    names = {(f.name, k): s.name for f in funnels for k, s in enumerate(f.steps, start=1)}
    users: dict[tuple, int] = defaultdict(int)
    for (hour, site, funnel, _), p in funnel_progress(events, funnels).items():
        for k in range(1, p.reached + 1):
            users[(hour, site, funnel, k)] += 1
    return [dict(hour_start=ts_utc(h), site_id=s, funnel=f, step=k, step_name=names[(f, k)], users=n)
            for (h, s, f, k), n in users.items()]


def percentile_cont(values: list[int], p: float) -> float:
    """PostgreSQL's percentile_cont: the value at position p * (n - 1) of the sorted values,
    interpolated linearly between its two neighbours."""
    v = sorted(values)
    pos = p * (len(v) - 1)
    lo = math.floor(pos)
    frac = pos - lo
    if frac == 0:
        return float(v[lo])
    return v[lo] + frac * (v[lo + 1] - v[lo])


def funnel_breakdown(events: list[Event], funnels) -> list[dict]:
    """Per funnel step and hour of step 1, for the whole site ('all') and for each country,
    device, plan and promoted property value (sql/properties.yaml; of the user's first
    step-1 event of the hour): the users who reached the step and the median and 90th
    percentile of their shortest times to it, in seconds."""
    names = {(f.name, k): s.name for f in funnels for k, s in enumerate(f.steps, start=1)}
    dimensions = ("country", "device", "plan", *(p.name for p in load_properties()))
    times: dict[tuple, list[int]] = defaultdict(list)
    for (hour, site, funnel, _), p in funnel_progress(events, funnels).items():
        segment = p.first[1:]
        for k in range(1, p.reached + 1):
            for dim, seg in (("all", "all"), *zip(dimensions, segment)):
                times[(hour, site, funnel, k, dim, seg)].append(p.best_ms[k])
    return [dict(hour_start=ts_utc(h), site_id=s, funnel=f, step=k, dimension=d, segment=g, step_name=names[(f, k)],
                 users=len(ms), median_s=percentile_cont(ms, 0.5) / 1000, p90_s=percentile_cont(ms, 0.9) / 1000)
            for (h, s, f, k, d, g), ms in times.items()]


def raw_events(events: list[Event]) -> list[dict]:
    return [dict(event_time=ts_utc(e.ts), event_id=e.event_id, event_type=e.event_type, site_id=e.site_id,
                 user_id=e.user_id, session_id=e.session_id, page=e.page, referrer=e.referrer, country=e.country,
                 device=e.device, plan=e.plan, properties=e.properties, schema_version=e.schema_version,
                 utm_source=e.utm_source, utm_medium=e.utm_medium, utm_campaign=e.utm_campaign,
                 referrer_domain=e.referrer_domain)
            for e in events]


def _minute(arrival: int | None):
    return ts_utc(_floor(arrival, MINUTE)) if arrival is not None else None


def bot_events(bots: list[Event]) -> list[dict]:
    """Bot events (on time, first copies) per minute of event time, site and reason."""
    counts: dict[tuple, int] = defaultdict(int)
    for e in bots:
        counts[(_floor(e.ts, MINUTE), e.site_id, e.bot)] += 1
    return [dict(window_start=ts_utc(w), window_end=ts_utc(w + MINUTE), site_id=s, reason=r, events=n)
            for (w, s, r), n in counts.items()]


def late_events(late: list[tuple[Event, int | None]]) -> list[dict]:
    counts: dict[tuple, int] = defaultdict(int)
    for e, arrival in late:
        counts[(_minute(arrival), e.site_id)] += 1
    return [dict(minute=m, site_id=s, events=n) for (m, s), n in counts.items()]


def invalid_events(invalid: list[tuple[str, str, int | None]]) -> list[dict]:
    counts: dict[tuple, int] = defaultdict(int)
    for site, reason, arrival in invalid:
        counts[(_minute(arrival), site, reason)] += 1
    return [dict(minute=m, site_id=s, reason=r, events=n) for (m, s, r), n in counts.items()]


TABLES = ("events_per_minute", "active_users_1m", "active_users_live", "active_users_daily", "top_pages_1m",
          "top_pages_1h", "sessions_1h", "funnel_conversions", "funnel_breakdown", "events", "late_events",
          "invalid_events", "events_per_minute_provisional", "top_pages_provisional", "active_users_provisional",
          "bot_events", "entry_exit_pages_1h", "page_transitions_1h")
# The open windows' provisional values: equal to the final tables' rows once all events are
# in, and kept only for two hours, so `clickpulse verify` checks the final tables instead.
PROVISIONAL = ("events_per_minute_provisional", "top_pages_provisional", "active_users_provisional")
FINAL_TABLES = tuple(t for t in TABLES if t not in PROVISIONAL)
# References of the metrics added by `clickpulse metrics new` (appended at the end of this
# module, each a function named after its table, over the clean events).
CLEAN_METRICS: dict[str, Callable[[list[Event]], list[dict]]] = {}


def clean_metric(f: Callable[[list[Event]], list[dict]]) -> Callable[[list[Event]], list[dict]]:
    """Register `f` as the reference of the final table named like it, computed from the
    clean events (valid, on time, first copies, no bots)."""
    global TABLES, FINAL_TABLES
    CLEAN_METRICS[f.__name__] = f
    TABLES += (f.__name__,)
    FINAL_TABLES += (f.__name__,)
    return f


def tables(c: Classified, funnels, only: Iterable[str] | None = None) -> dict[str, list[dict]]:
    """Every metric table (or those named in `only`) from classified records, as the job
    would hold it once all windows have closed."""
    makers = {
        "events_per_minute": lambda: events_per_minute(c.clean),
        "active_users_1m": lambda: active_users_1m(c.clean),
        "active_users_live": lambda: active_users_live(c.clean),
        "active_users_daily": lambda: active_users_daily(c.clean),
        "top_pages_1m": lambda: top_pages(c.clean, MINUTE),
        "top_pages_1h": lambda: top_pages(c.clean, HOUR),
        "sessions_1h": lambda: sessions_1h(c.clean),
        "funnel_conversions": lambda: funnel_conversions(c.clean, funnels),
        "funnel_breakdown": lambda: funnel_breakdown(c.clean, funnels),
        "events": lambda: raw_events(c.clean),
        "late_events": lambda: late_events(c.late),
        "invalid_events": lambda: invalid_events(c.invalid),
        "events_per_minute_provisional": lambda: events_per_minute_provisional(c.clean),
        "top_pages_provisional": lambda: top_pages_provisional(c.clean),
        "active_users_provisional": lambda: active_users_provisional(c.clean),
        "bot_events": lambda: bot_events(c.bots),
        "entry_exit_pages_1h": lambda: entry_exit_pages_1h(c.clean),
        "page_transitions_1h": lambda: page_transitions_1h(c.clean),
    }
    makers.update({name: (lambda f=f: f(c.clean)) for name, f in CLEAN_METRICS.items()})
    wanted = TABLES if only is None else [t for t in TABLES if t in set(only)]
    return {name: makers[name]() for name in wanted}


def compute(records: Iterable, *, watermark_delay_ms: int = 5000, max_future_ms: int = MAX_FUTURE,
            now_ms: int | None = None, funnels=None) -> dict[str, list[dict]]:
    """Every metric table, as the job would hold it once all windows have closed.

    records: raw Kafka values (str) or {"payload": str, "kafka_ts_ms": int} dicts, in the
    order they were produced. Without kafka_ts_ms, late_events and invalid_events rows
    have minute None (counted over the whole input)."""
    if funnels is None:
        funnels = load_funnels()
    c = classify(records, watermark_delay_ms=watermark_delay_ms, max_future_ms=max_future_ms, now_ms=now_ms)
    return tables(c, funnels)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)



PAID_SEARCH = {"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "sem"}
DISPLAY = {"display", "banner", "cpm"}
EMAIL = {"email", "e-mail", "e_mail", "newsletter"}
SOCIAL_MEDIUMS = {"social", "social-network", "social-media", "sm", "paid_social", "paid-social", "paidsocial"}
SEARCH_ENGINES = {"bing.com", "duckduckgo.com", "yahoo.com", "search.yahoo.com", "baidu.com", "yandex.ru",
                  "yandex.com", "ecosia.org", "search.brave.com", "startpage.com", "qwant.com"}
SOCIAL_SITES = {"facebook.com", "m.facebook.com", "l.facebook.com", "t.co", "twitter.com", "x.com", "linkedin.com",
                "lnkd.in", "reddit.com", "old.reddit.com", "news.ycombinator.com", "instagram.com", "youtube.com",
                "m.youtube.com", "pinterest.com", "tiktok.com", "bsky.app"}


def channel(e: Event) -> str:
    """The acquisition channel of one event (the rules of sql/metrics/acquisition_1h.sql)."""
    medium, domain = e.utm_medium, e.referrer_domain
    for mediums, name in ((PAID_SEARCH, "Paid search"), (DISPLAY, "Display"), (EMAIL, "Email"),
                          (SOCIAL_MEDIUMS, "Social"), ({"affiliate"}, "Affiliates"), ({"referral"}, "Referral")):
        if medium in mediums:
            return name
    if medium or e.utm_source or e.utm_campaign:
        return "Other campaign"
    if domain is None:
        return "Direct"
    if domain.startswith("google.") or domain in SEARCH_ENGINES:
        return "Organic search"
    return "Social" if domain in SOCIAL_SITES else "Referral"


def _touch(e: Event) -> tuple:
    """What the metric's touch string sorts by: time, channel, source length, source, campaign."""
    source = e.utm_source or e.referrer_domain or "(direct)"
    return e.ts, channel(e) + "|", len(source), source + (e.utm_campaign or "(none)"), source


@clean_metric
def acquisition_1h(events: list[Event]) -> list[dict]:
    """Sessions by the channel, source and campaign of their first event, per hour of
    session start: sessions, distinct users, and sessions with a purchase."""
    groups: dict[tuple, list] = defaultdict(lambda: [0, set(), 0])
    for site, sess in _sessions(events):
        first = min(sess, key=_touch)
        source = _touch(first)[4]
        g = groups[(_floor(sess[0].ts, HOUR), site, channel(first), source, first.utm_campaign or "(none)")]
        g[0] += 1
        g[1].add(first.user_id)
        g[2] += any(e.event_type == "purchase" for e in sess)
    return [dict(hour_start=ts_utc(h), site_id=s, channel=ch, source=src, campaign=cp, sessions=n, users=len(u),
                 conversions=c) for (h, s, ch, src, cp), (n, u, c) in groups.items()]

# --------------------------------------------------------------------------- retention
# Cohorts per site: a user's cohort is the period (UTC day, ISO week from Monday) of their
# first clean event on the site; they are retained in period cohort + k when they have a
# clean event in it. k runs to RETENTION_DAYS / RETENTION_WEEKS. The job forgets a user
# after 98 days without an event (state TTL); this reference sees the whole input, so the
# two agree on any input without such a gap.
RETENTION_DAYS = 30
RETENTION_WEEKS = 12
WEEK = 7 * DAY
MONDAY = 4 * DAY  # the first Monday after the epoch (Thursday 1970-01-01) is 1970-01-05


def _day(ts: int) -> int:
    return _floor(ts, DAY)


def _iso_week(ts: int) -> int:
    """Start (ms) of the ISO week, Monday 00:00 UTC, holding ts."""
    return ts - (ts - MONDAY) % WEEK


def _retention(events: list[Event], period_start: Callable[[int], int], period: int, max_offset: int) -> list[dict]:
    periods: dict[tuple, set] = defaultdict(set)   # (site, user) -> starts of the periods with an event
    for e in events:
        periods[(e.site_id, e.user_id)].add(period_start(e.ts))
    users: dict[tuple, int] = defaultdict(int)
    for (site, _user), starts in periods.items():
        cohort = min(starts)
        for p in starts:
            k = (p - cohort) // period
            if k <= max_offset:
                users[(cohort, site, k)] += 1
    return [dict(cohort_start=ts_utc(c), site_id=s, period_offset=k, users=n) for (c, s, k), n in users.items()]


@clean_metric
def retention_daily(events: list[Event]) -> list[dict]:
    """Reference of sql/metrics/retention_daily.sql: users of each day's cohort with an event
    k = 0..30 days later (k = 0: the cohort's size)."""
    return _retention(events, _day, DAY, RETENTION_DAYS)


@clean_metric
def retention_weekly(events: list[Event]) -> list[dict]:
    """Reference of sql/metrics/retention_weekly.sql: users of each ISO week's cohort with an
    event k = 0..12 weeks later (k = 0: the cohort's size)."""
    return _retention(events, _iso_week, WEEK, RETENTION_WEEKS)
