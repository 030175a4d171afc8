"""The metric tables as the Flink sinks write them: columns with the Flink type the JDBC
sink binds (FlinkJdbcUpsert's setters) and the upsert key (= the table's primary key and
the metric file's `-- key:` header)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    time: str  # the time column (hypertable dimension / retention column)
    key: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]  # (name, type): ts, date, bigint, int, double, text
    retention: str | None  # as clickpulse_retention stores it
    width: dt.timedelta  # the window: window_end - window_start

    @property
    def names(self) -> list[str]:
        return [c for c, _ in self.columns]

    def row(self, site: str, at: dt.datetime, variant: int, gen: int) -> tuple:
        """One row at time `at`; `variant` picks the other key values, `gen` the values."""
        out = []
        for i, (col, typ) in enumerate(self.columns):
            if col == self.time:
                out.append(at.date() if typ == "date" else at)
            elif col == "site_id":
                out.append(site)
            elif col == "window_end":
                out.append(at + self.width)
            elif col == "window_start":  # active_users_live: keyed by window_end
                out.append(at - self.width)
            elif col in self.key:
                out.append(variant if typ == "int" else f"{col}-{variant}")
            elif col == "properties":
                out.append(json.dumps({"gen": gen, "variant": variant}))
            elif typ == "ts":
                out.append(at + dt.timedelta(seconds=gen))
            elif typ == "bigint":
                out.append(gen * 1000 + variant * 10 + i)
            elif typ == "int":
                out.append(gen * 100 + i)
            elif typ == "double":
                out.append(gen + variant / 4 + i / 8)
            else:
                out.append(f"{col}-{gen}")
        return tuple(out)


M, H, D = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
WINDOW = (("window_start", "ts"), ("window_end", "ts"))
SEGMENTS = (("country", "text"), ("device", "text"), ("plan", "text"))
# the promoted properties of sql/properties.yaml (V160): text dimensions of events_per_minute
PROMOTED = ("button", "experiment")

TABLES = [
    Table("events_per_minute", "window_start",
          ("window_start", "site_id", "event_type", "country", "device", "plan", *PROMOTED),
          (*WINDOW, ("site_id", "text"), ("event_type", "text"), *SEGMENTS, *((p, "text") for p in PROMOTED),
           ("events", "bigint")), "90 days", M),
    Table("active_users_1m", "window_start", ("window_start", "site_id", "country", "device", "plan"),
          (*WINDOW, ("site_id", "text"), *SEGMENTS, ("users", "bigint")), "90 days", M),
    Table("active_users_live", "window_end", ("window_end", "site_id"),
          (*WINDOW, ("site_id", "text"), ("users", "bigint")), "90 days", dt.timedelta(minutes=5)),
    Table("active_users_daily", "day", ("day", "site_id", "country", "device", "plan"),
          (("day", "date"), ("site_id", "text"), *SEGMENTS, ("users", "bigint"), ("updated_through", "ts")),
          None, D),
    Table("top_pages_1m", "window_start", ("window_start", "site_id", "page"),
          (*WINDOW, ("site_id", "text"), ("page", "text"), ("views", "bigint"), ("unique_users", "bigint"),
           ("rank", "int")), "90 days", M),
    Table("top_pages_1h", "window_start", ("window_start", "site_id", "page"),
          (*WINDOW, ("site_id", "text"), ("page", "text"), ("views", "bigint"), ("unique_users", "bigint"),
           ("rank", "int")), None, H),
    Table("sessions_1h", "hour_start", ("hour_start", "site_id"),
          (("hour_start", "ts"), ("site_id", "text"), ("sessions", "bigint"), ("bounces", "bigint"),
           ("bounce_rate", "double"), ("total_duration_s", "double"), ("avg_duration_s", "double"),
           ("pageviews", "bigint"), ("pages_per_session", "double")), None, H),
    Table("funnel_conversions", "hour_start", ("hour_start", "site_id", "funnel", "step"),
          (("hour_start", "ts"), ("site_id", "text"), ("funnel", "text"), ("step", "int"),
           ("step_name", "text"), ("users", "bigint")), None, H),
    Table("funnel_breakdown", "hour_start", ("hour_start", "site_id", "funnel", "step", "dimension", "segment"),
          (("hour_start", "ts"), ("site_id", "text"), ("funnel", "text"), ("step", "int"), ("dimension", "text"),
           ("segment", "text"), ("step_name", "text"), ("users", "bigint"), ("median_s", "double"),
           ("p90_s", "double")), None, H),
    Table("events", "event_time", ("event_time", "event_id"),
          (("event_time", "ts"), ("event_id", "text"), ("event_type", "text"), ("site_id", "text"),
           ("user_id", "text"), ("session_id", "text"), ("page", "text"), ("referrer", "text"), *SEGMENTS,
           ("properties", "text"), ("schema_version", "int"), ("utm_source", "text"), ("utm_medium", "text"),
           ("utm_campaign", "text"), ("referrer_domain", "text")), "90 days", dt.timedelta(0)),
    Table("late_events", "minute", ("minute", "site_id"),
          (("minute", "ts"), ("site_id", "text"), ("events", "bigint")), "90 days", M),
    Table("invalid_events", "minute", ("minute", "site_id", "reason"),
          (("minute", "ts"), ("site_id", "text"), ("reason", "text"), ("events", "bigint")), "90 days", M),
    Table("entry_exit_pages_1h", "hour_start", ("hour_start", "site_id", "page"),
          (("hour_start", "ts"), ("site_id", "text"), ("page", "text"), ("entries", "bigint"),
           ("exits", "bigint")), None, H),
    Table("page_transitions_1h", "hour_start", ("hour_start", "site_id", "from_page", "to_page"),
          (("hour_start", "ts"), ("site_id", "text"), ("from_page", "text"), ("to_page", "text"),
           ("transitions", "bigint"), ("users", "bigint")), None, H),
    Table("bot_events", "window_start", ("window_start", "site_id", "reason"),
          (*WINDOW, ("site_id", "text"), ("reason", "text"), ("events", "bigint")), "90 days", M),
]
BY_NAME = {t.name: t for t in TABLES}
# Tables whose database tests are a module of their own: a trigger deletes provisional rows
# older than two hours, which the shared tests' rows (days apart) would trip.
OWN_TESTS = {"events_per_minute_provisional": "test_provisional.py", "top_pages_provisional": "test_provisional.py",
             "active_users_provisional": "test_provisional.py"}


def floor(t: dt.datetime, width: dt.timedelta) -> dt.datetime:
    """Start of the window of `width` (minute, hour, day) holding t, in UTC."""
    t = t.astimezone(dt.timezone.utc)
    if width >= D:
        return t.replace(hour=0, minute=0, second=0, microsecond=0)
    if width >= H:
        return t.replace(minute=0, second=0, microsecond=0)
    return t.replace(second=0, microsecond=0)


def scaffolded(table: Table) -> None:
    """A table added by `clickpulse metrics new` (appended below this function)."""
    TABLES.append(table)
    BY_NAME[table.name] = table


scaffolded(Table("acquisition_1h", "hour_start", ("hour_start", "site_id", "channel", "source", "campaign"),
                 (("hour_start", "ts"), ("site_id", "text"), ("channel", "text"), ("source", "text"),
                  ("campaign", "text"), ("sessions", "bigint"), ("users", "bigint"), ("conversions", "bigint")),
                 None, H))


W = dt.timedelta(weeks=1)
COHORT = (("cohort_start", "ts"), ("site_id", "text"), ("period_offset", "int"), ("users", "bigint"))
scaffolded(Table("retention_daily", "cohort_start", ("cohort_start", "site_id", "period_offset"), COHORT, None, D))
scaffolded(Table("retention_weekly", "cohort_start", ("cohort_start", "site_id", "period_offset"), COHORT, None, W))
