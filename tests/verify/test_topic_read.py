"""How `clickpulse verify` reads the events topic (real Kafka): where each partition
starts, the event time it carried before, and where reading stops."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from clickpulse import truth, verify
from clickpulse.stack.kafka import admin
from clickpulse.verify import compare, topic

MIN = 60_000
# records are stamped from four hours ago (Kafka refuses times far ahead of its clock and
# deletes those older than the retention)
T0 = (int(time.time() * 1000) // MIN - 240) * MIN


def event(i: int, ts: int, user: str = "u1") -> str:
    return json.dumps({"event_id": f"e{i}", "event_type": "page_view", "site_id": "s1", "user_id": user,
                       "ts": ts, "page": "/"})


@pytest.fixture
def events_topic(kafka, request):
    """A 2-partition topic: partition 0 carries an event a minute for 3 hours (its Kafka time
    = its event time), then one event 30 s behind the newest; partition 1 stays empty."""
    name = f"verify-read-{uuid.uuid4().hex[:8]}"
    a = admin(kafka)   # kept: a destroyed client fails its futures
    a.create_topics([NewTopic(name, 2, 1)])[name].result(30)
    request.addfinalizer(lambda: admin(kafka).delete_topics([name]))
    p = Producer({"bootstrap.servers": kafka.kafka_bootstrap_servers, "acks": "all"})
    for i in range(180):
        p.produce(name, event(i, T0 + i * MIN), partition=0, timestamp=T0 + i * MIN)
    p.produce(name, event(999, T0 + 179 * MIN - 30_000), partition=0, timestamp=T0 + 179 * MIN + 1)
    assert p.flush(30) == 0
    return kafka.model_copy(update={"events_topic": name, "dedup_ttl_ms": 10 * MIN, "max_future_ms": MIN})


def test_reading_starts_the_context_before_the_range_with_the_event_time_it_carried(events_topic):
    plan = topic.plan(events_topic, T0 + 60 * MIN, T0 + 90 * MIN, ["events_per_minute"], 0)
    assert plan.start_ms == T0 + 60 * MIN - 10 * MIN - MIN   # deduplication interval + clock allowance
    read = topic.read(events_topic, plan, now_ms=T0 + 200 * MIN)
    p0, p1 = read.partitions
    assert p0.start_offset == 49 and p0.lead_in_newest == T0 + 48 * MIN
    records = read.records()
    assert json.loads(records[0]["payload"]) == {"$clickpulse": "tick", "ts": T0 + 48 * MIN}
    assert json.loads(records[1]["payload"])["event_id"] == "e49"
    assert p1.records == [] and p1.newest is None   # an empty partition is left out of the watermark


def test_reading_stops_once_the_range_can_no_longer_change(events_topic):
    plan = topic.plan(events_topic, T0 + 60 * MIN, T0 + 90 * MIN, ["events_per_minute"], 0)
    read = topic.read(events_topic, plan, now_ms=T0 + 200 * MIN)
    p0 = read.partitions[0]
    # up to the first record past the range's end plus the watermark delay and the arrival margin
    assert p0.next_offset == 92 and p0.end_offset == 181
    assert read.watermark(events_topic.watermark_delay_ms) == T0 + 91 * MIN - events_topic.watermark_delay_ms


def test_sessions_need_half_an_hour_more_on_both_sides(events_topic):
    plan = topic.plan(events_topic, T0 + 60 * MIN, T0 + 90 * MIN, ["sessions_1h"], 0)
    assert plan.start_ms == T0 + 60 * MIN - 30 * MIN - MIN
    assert plan.event_horizon_ms == T0 + 120 * MIN + events_topic.watermark_delay_ms
    read = topic.read(events_topic, plan, now_ms=T0 + 200 * MIN)
    assert read.partitions[0].start_offset == 29 and read.partitions[0].next_offset == 122


def test_the_lead_in_makes_the_first_records_late_as_the_job_judged_them(events_topic):
    """A range at the very end: the late event (30 s behind) is the first record read after
    the lead-in; without the partition's earlier event time it would look on time."""
    plan = topic.plan(events_topic, T0 + 179 * MIN + 1 + 11 * MIN, T0 + 200 * MIN, ["late_events"], 0)
    read = topic.read(events_topic, plan, now_ms=T0 + 200 * MIN)
    assert [json.loads(r["payload"])["event_id"] for r in read.partitions[0].records] == ["e999"]
    c = truth.classify(read.records(), watermark_delay_ms=events_topic.watermark_delay_ms, now_ms=T0 + 200 * MIN)
    assert [e.event_id for e, _ in c.late] == ["e999"] and c.clean == []


def test_retention_is_checked_only_from_the_topics_start(events_topic):
    """A cohort depends on every event since the user's first: a read that starts after the
    topic's first record (a user seen before it would look new) leaves the retention tables
    out; one from the start keeps them, and compares the cohorts whose period cohort + k
    lies in the range."""
    later = topic.read(events_topic, topic.plan(events_topic, T0 + 60 * MIN, T0 + 90 * MIN, ["retention_daily"], 0),
                       now_ms=T0 + 200 * MIN)
    whole = topic.read(events_topic, topic.plan(events_topic, T0, T0 + 90 * MIN, ["retention_daily"], 0),
                       now_ms=T0 + 200 * MIN)
    assert not later.from_topic_start and whole.from_topic_start   # the empty partition 1 is read "from its start"
    assert verify._whole_history(["events", "retention_daily"], later)[0] == ["events"]
    assert verify._whole_history(["events", "retention_daily"], whole) == (["events", "retention_daily"], [])
    spec, day = compare.SPECS["retention_daily"], truth.DAY
    row = {"cohort_start": None, "period_offset": 2}
    assert spec.span(row) == 3 * day   # the cohort's day and the two after it
    assert compare.inside(spec, 0, 0, 3 * day, spec.span(row)) and not compare.inside(spec, 0, 0, 2 * day, spec.span(row))
