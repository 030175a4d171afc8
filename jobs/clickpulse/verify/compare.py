"""Which rows a verification compares, which of them are final, and how they differ.

A row is compared when its window lies wholly inside the range [from, to): a window that
straddles an edge holds events the range does not, so neither side is complete there. A
compared row is *closed* (final) when nothing the topic can still carry would change it;
otherwise it is *open*, and reported apart without failing the check.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from .. import truth
from ..truth import DAY, HOUR, MINUTE

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Spec:
    """A table's time column and the length of the window a row covers from it (0: a
    point in time). `kind` says when a row is final."""

    column: str
    span_ms: int
    kind: str   # window | event | session | funnel | arrival | cohort

    def span(self, row: dict) -> int:
        """How long after the time column the row's events reach: a cohort row counts the
        events of period cohort + k, so it covers k + 1 periods from the cohort's start."""
        if self.kind == "cohort":
            return (row["period_offset"] + 1) * self.span_ms
        return self.span_ms


SPECS: dict[str, Spec] = {
    "events_per_minute": Spec("window_start", MINUTE, "window"),
    "bot_events": Spec("window_start", MINUTE, "window"),
    "active_users_1m": Spec("window_start", MINUTE, "window"),
    "active_users_live": Spec("window_start", 5 * MINUTE, "window"),
    "active_users_daily": Spec("day", DAY, "window"),
    "top_pages_1m": Spec("window_start", MINUTE, "window"),
    "top_pages_1h": Spec("window_start", HOUR, "window"),
    "sessions_1h": Spec("hour_start", HOUR, "session"),
    "entry_exit_pages_1h": Spec("hour_start", HOUR, "session"),
    "acquisition_1h": Spec("hour_start", HOUR, "session"),
    "page_transitions_1h": Spec("hour_start", HOUR, "window"),
    "funnel_conversions": Spec("hour_start", HOUR, "funnel"),
    "funnel_breakdown": Spec("hour_start", HOUR, "funnel"),
    "events": Spec("event_time", 0, "event"),
    "late_events": Spec("minute", MINUTE, "arrival"),
    "invalid_events": Spec("minute", MINUTE, "arrival"),
    "retention_daily": Spec("cohort_start", DAY, "cohort"),
    "retention_weekly": Spec("cohort_start", truth.WEEK, "cohort"),
}
# Tables whose rows depend on every event since a user's first: a read that starts after a
# user's earlier events would take them for new, so these are checked only when the read
# starts at the topic's first record.
WHOLE_HISTORY = frozenset(t for t, spec in SPECS.items() if spec.kind == "cohort")


def epoch_ms(v) -> int:
    if isinstance(v, dt.datetime):
        return int(v.timestamp() * 1000)
    return int(dt.datetime.combine(v, dt.time(), UTC).timestamp() * 1000)   # a date: its UTC midnight


def inside(spec: Spec, start_ms: int, from_ms: int, to_ms: int, span_ms: int | None = None) -> bool:
    span_ms = spec.span_ms if span_ms is None else span_ms
    if span_ms == 0:
        return from_ms <= start_ms < to_ms
    return from_ms <= start_ms and start_ms + span_ms <= to_ms


@dataclass
class Closing:
    """What has closed after the records read: `watermark` (event time; None when no
    partition carried one), `arrival_complete_ms` (Kafka time up to which every record has
    been read), the (hour, site) pairs with a session still running, the funnel windows."""

    watermark: int | None
    arrival_complete_ms: int
    open_session_hours: set = field(default_factory=set)
    funnel_windows_ms: dict = field(default_factory=dict)

    def is_closed(self, spec: Spec, row: dict) -> bool:
        start = epoch_ms(row[spec.column])
        if spec.kind == "arrival":
            return start + spec.span_ms <= self.arrival_complete_ms
        w = self.watermark
        if w is None:
            return False
        if spec.kind == "event":
            return start < w   # an on-time event older than the watermark cannot come any more
        if spec.kind == "session":
            return start + spec.span_ms <= w and (start, row["site_id"]) not in self.open_session_hours
        if spec.kind == "funnel":
            return start + spec.span_ms + self.funnel_windows_ms.get(row["funnel"], 0) <= w
        return start + spec.span(row) <= w


def open_session_hours(clean: list[truth.Event], watermark: int | None) -> set[tuple[int, str]]:
    """(hour start ms, site) of every session that has not ended by the watermark: its
    last event is less than the gap behind it, so the job has not written it yet."""
    by_user: dict[tuple, list[int]] = {}
    for e in clean:
        by_user.setdefault((e.site_id, e.user_id), []).append(e.ts)
    out = set()
    for (site, _), times in by_user.items():
        times.sort()
        if watermark is not None and times[-1] + truth.SESSION_GAP <= watermark:
            continue
        i = len(times) - 1
        while i > 0 and times[i] - times[i - 1] <= truth.SESSION_GAP:
            i -= 1
        out.add((times[i] - times[i] % HOUR, site))
    return out


# --------------------------------------------------------------------------- values


def normal(v):
    """A value as both sides can compare it: numbers as float, JSON canonical, times UTC."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC)
    return v


def normal_reference(table: str, row: dict) -> dict:
    row = {k: normal(v) for k, v in row.items()}
    if table == "events" and row.get("properties") is not None:
        row["properties"] = normal(json.loads(row["properties"]))
    return row


def same(a, b) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not (isinstance(a, bool) or isinstance(b, bool)):
        return truth.close(float(a), float(b))
    return a == b


# --------------------------------------------------------------------------- the diff


@dataclass
class TableResult:
    table: str
    equal: int = 0
    missing: list = field(default_factory=list)     # expected rows the table lacks
    different: list = field(default_factory=list)   # (key, {column: (expected, actual)})
    extra: list = field(default_factory=list)       # table rows the reference does not have
    open: int = 0                                   # keys in windows not closed yet (either side)
    error: str | None = None

    @property
    def differences(self) -> int:
        return len(self.missing) + len(self.different) + len(self.extra)

    @property
    def failed(self) -> bool:
        return bool(self.differences or self.error)


@dataclass
class Scope:
    from_ms: int
    to_ms: int
    sites: set[str] | None
    closing: Closing


def split(spec: Spec, key: list[str], rows: list[dict], scope: Scope) -> tuple[dict, set]:
    """The rows compared, by key: (closed rows, keys of open ones)."""
    closed, open_keys = {}, set()
    for row in rows:
        if scope.sites is not None and row.get("site_id") not in scope.sites:
            continue
        if not inside(spec, epoch_ms(row[spec.column]), scope.from_ms, scope.to_ms, spec.span(row)):
            continue
        k = tuple(row.get(c) for c in key)
        if scope.closing.is_closed(spec, row):
            closed[k] = row
        else:
            open_keys.add(k)
    return closed, open_keys


def diff(table: str, key: list[str], expected_rows: list[dict], actual_rows: list[dict], scope: Scope) -> TableResult:
    spec = SPECS[table]
    expected, open_expected = split(spec, key, expected_rows, scope)
    actual, open_actual = split(spec, key, actual_rows, scope)
    res = TableResult(table, open=len(open_expected | open_actual))
    for k, want in expected.items():
        got = actual.get(k)
        if got is None:
            res.missing.append(want)
            continue
        changed = {c: (v, got.get(c)) for c, v in want.items() if not same(v, got.get(c))}
        if changed:
            res.different.append((dict(zip(key, k)), changed))
        else:
            res.equal += 1
    res.extra = [row for k, row in actual.items() if k not in expected]
    return res


SESSION_TABLES = frozenset(t for t, spec in SPECS.items() if spec.kind == "session")
