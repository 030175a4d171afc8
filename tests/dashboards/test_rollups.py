"""The hourly and daily event rollups the Trends dashboard reads (V050 and V051 on plain
PostgreSQL, by segment and by event type) always equal the sums of events_per_minute,
whatever the sinks and `db prune` do to the minute rows."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from clickpulse.stack import postgres

pytestmark = pytest.mark.integration

UPSERT = """INSERT INTO events_per_minute (window_start, window_end, site_id, event_type, country, device, plan, events)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (window_start, site_id, event_type, country, device, plan, button, experiment)
DO UPDATE SET events = EXCLUDED.events"""


def _type_mismatches(conn, site: str, view: str, grain: str) -> list[tuple]:
    return conn.execute(f"""
        (SELECT date_trunc('{grain}', window_start, 'UTC'), event_type, sum(events)
           FROM events_per_minute WHERE site_id = %(s)s GROUP BY 1, 2
         EXCEPT SELECT bucket, event_type, events FROM {view} WHERE site_id = %(s)s)
        UNION ALL
        (SELECT bucket, event_type, events FROM {view} WHERE site_id = %(s)s
         EXCEPT SELECT date_trunc('{grain}', window_start, 'UTC'), event_type, sum(events)
           FROM events_per_minute WHERE site_id = %(s)s GROUP BY 1, 2)""", {"s": site}).fetchall()


def _mismatches(conn, site: str, view: str, grain: str) -> list[tuple]:
    return conn.execute(f"""
        (SELECT date_trunc('{grain}', window_start, 'UTC'), event_type, country, device, plan, sum(events)
           FROM events_per_minute WHERE site_id = %(s)s GROUP BY 1, 2, 3, 4, 5
         EXCEPT SELECT bucket, event_type, country, device, plan, events FROM {view} WHERE site_id = %(s)s)
        UNION ALL
        (SELECT bucket, event_type, country, device, plan, events FROM {view} WHERE site_id = %(s)s
         EXCEPT SELECT date_trunc('{grain}', window_start, 'UTC'), event_type, country, device, plan, sum(events)
           FROM events_per_minute WHERE site_id = %(s)s GROUP BY 1, 2, 3, 4, 5)""", {"s": site}).fetchall()


def test_hourly_and_daily_rollups_equal_the_minute_sums(migrated, site_id):
    rnd = random.Random(3)
    base = dt.datetime(2026, 1, 1, 23, 50, tzinfo=dt.timezone.utc)  # crosses an hour and a day
    rows = []
    for _ in range(300):
        w = base + dt.timedelta(minutes=rnd.randint(0, 20))
        rows.append((w, w + dt.timedelta(minutes=1), site_id, rnd.choice(["page_view", "click"]),
                     rnd.choice(["DE", "FR"]), "mobile", "free", rnd.randint(1, 9)))
    with postgres.connect(migrated, "admin", autocommit=True) as admin:
        try:
            with postgres.connect(migrated, "writer", autocommit=True) as writer, writer.cursor() as cur:
                cur.executemany(UPSERT, rows)            # first writes
                cur.executemany(UPSERT, rows[:100])      # a restart replays a checkpoint
                cur.execute("UPDATE events_per_minute SET events = events + 1 WHERE site_id = %s "
                            "AND event_type = 'click'", (site_id,))
            admin.execute("DELETE FROM events_per_minute WHERE site_id = %s AND country = 'FR' "
                          "AND window_start < %s", (site_id, base + dt.timedelta(minutes=10)))  # like db prune
            for view, grain in (("events_per_hour", "hour"), ("events_per_day", "day")):
                assert _mismatches(admin, site_id, view, grain) == [], view
            for view, grain in (("events_per_hour_by_type", "hour"), ("events_per_day_by_type", "day")):
                assert _type_mismatches(admin, site_id, view, grain) == [], view
            assert admin.execute("SELECT count(*) FROM events_per_day WHERE site_id = %s",
                                 (site_id,)).fetchone()[0] > 0
        finally:
            admin.execute("DELETE FROM events_per_minute WHERE site_id = %s", (site_id,))
        for view in ("events_per_hour", "events_per_day", "events_per_hour_by_type", "events_per_day_by_type"):
            left = admin.execute(f"SELECT count(*) FROM {view} WHERE site_id = %s", (site_id,)).fetchone()[0]
            assert left == 0, f"{view} keeps buckets of deleted minute rows"
