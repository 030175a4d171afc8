"""The provisional (open-window) tables and the live views over them, as the job's sinks
and the readers meet them: the writer upserts provisional rows, rows older than two hours
are forgotten by the tables themselves, and the views show a closed window's final row
instead of its provisional one, saying which is which."""

from __future__ import annotations

import datetime as dt

import pytest

UTC = dt.timezone.utc


def _minute(ago: dt.timedelta) -> dt.datetime:
    t = dt.datetime.now(UTC) - ago
    return t.replace(second=0, microsecond=0)


def _upsert_epm(c, minute, site, events, table="events_per_minute_provisional"):
    end = ", window_end" if table == "events_per_minute" else ""
    endv = ", %(end)s" if end else ""
    c.execute(f"insert into {table} (window_start{end}, site_id, event_type, country, device, plan, events) "
              f"values (%(start)s{endv}, %(site)s, 'page_view', 'DE', 'mobile', 'free', %(n)s) "
              "on conflict (window_start, site_id, event_type, country, device, plan, button, experiment) "
              "do update set events = excluded.events",
              {"start": minute, "end": minute + dt.timedelta(minutes=1), "site": site, "n": events})


def test_the_writer_upserts_and_old_rows_are_forgotten(db, site_id):
    with db.connect("writer") as c:
        old = _minute(dt.timedelta(hours=3))
        _upsert_epm(c, old, site_id, 5)   # on its own insert it is already past the two hours
        now = _minute(dt.timedelta(0))
        _upsert_epm(c, now, site_id, 1)
        _upsert_epm(c, now, site_id, 7)   # rewritten, not added
        rows = c.execute("select window_start, events from events_per_minute_provisional where site_id = %s",
                         (site_id,)).fetchall()
    assert rows == [(now, 7)]
    with db.connect("writer") as c, pytest.raises(Exception, match="permission denied"):
        c.execute("delete from events_per_minute_provisional where site_id = %s", (site_id,))
    # ... except where the job removes rows itself: a bucket every user has moved on from
    with db.connect("writer") as c:
        c.execute("insert into active_users_provisional values (now(), %s, 'DE', 'mobile', 'free', 1)", (site_id,))
        assert c.execute("delete from active_users_provisional where site_id = %s", (site_id,)).rowcount == 1


def test_the_live_view_prefers_the_final_row_of_a_closed_minute(db, site_id):
    closed, open_ = _minute(dt.timedelta(minutes=2)), _minute(dt.timedelta(0))
    with db.connect("writer") as c:
        _upsert_epm(c, closed, site_id, 40)              # provisional value of a closed minute
        _upsert_epm(c, closed, site_id, 42, "events_per_minute")   # ... and its final row
        _upsert_epm(c, open_, site_id, 3)                # the open minute: provisional only
    with db.connect("reader") as c:
        rows = c.execute("select window_start, events, provisional from live_events_per_minute "
                         "where site_id = %s order by window_start", (site_id,)).fetchall()
    assert rows == [(closed, 42, False), (open_, 3, True)]


def test_users_now_sums_the_newest_five_minutes_of_buckets(db, site_id):
    newest = dt.datetime.now(UTC).replace(microsecond=0)
    newest -= dt.timedelta(seconds=newest.second % 10)
    rows = [  # (bucket age, country, users): each user once, in the bucket of their newest event
        (dt.timedelta(0), "DE", 2),
        (dt.timedelta(minutes=4, seconds=50), "DE", 1),   # the oldest bucket of the open window
        (dt.timedelta(minutes=5), "FR", 4),               # one bucket too old: not counted
        (dt.timedelta(minutes=1), "FR", 3),
    ]
    with db.connect("writer") as c:
        for age, country, users in rows:
            c.execute("insert into active_users_provisional values (%s, %s, %s, 'mobile', 'free', %s)",
                      (newest - age, site_id, country, users))
    with db.connect("reader") as c:
        got = dict(c.execute("select country, users from live_users_now where site_id = %s", (site_id,)).fetchall())
        end = c.execute("select max(window_end) from live_users_now").fetchone()[0]
    assert got == {"DE": 3, "FR": 3}
    assert end >= newest + dt.timedelta(seconds=10)
