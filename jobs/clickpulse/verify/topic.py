"""Reading the events topic for a verification: where each partition starts, what it
carried before, and how far it must be read.

The reference must judge every record as the job did, so it needs context before the
range (see `plan`) and enough after it for the range's windows to close. Reading starts
at the offsets Kafka gives for a record time (`offsets_for_times`); the partitions'
newest event time before that point comes from their last LEAD_IN_RECORDS records and is
handed to the reference as a clock tick at the head of each partition.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, TopicPartition

from .. import truth
from ..errors import ClickpulseError
from ..runner.ticker import tick_payload
from ..settings import Settings

# Records before each partition's start read only for its newest event time (lateness).
LEAD_IN_RECORDS = 1000
# Kafka record times are set by the producers' clocks when they send, and a record reaches
# the log up to its producer's delivery timeout later (the collector's is
# COLLECTOR_KAFKA_TIMEOUT_MS); a minute of arrival counts as complete this long after it.
ARRIVAL_MARGIN_MS = 5_000
STALL_S = 60


@dataclass(frozen=True)
class Plan:
    """What to read: from `start_ms` (Kafka time) in every partition, until the partition's
    event time reaches `event_horizon_ms` and its Kafka time `arrival_horizon_ms`, or its
    end as it was when reading began."""

    start_ms: int
    event_horizon_ms: int
    arrival_horizon_ms: int


def plan(settings: Settings, from_ms: int, to_ms: int, tables, funnel_window_ms: int) -> Plan:
    """Context each table needs, in event time, turned into a read plan:

    - every table: the deduplication interval before the range (a copy of an event that the
      job still remembers is not an event), and CLICKPULSE_MAX_FUTURE_MS for clocks: an
      event's time may be that far ahead of its record's Kafka time;
    - sessions_1h, entry_exit_pages_1h, acquisition_1h: the session gap before (a session starts only after
      30 minutes without an event) and after (a session started in the range ends 30 minutes
      after its last event);
    - page_transitions_1h: the session gap before (the view a transition comes from);
    - funnel_conversions, funnel_breakdown: the longest funnel window after the range
      (attempts started in it may still complete), nothing before (an attempt starts at its
      first step);
    - windowed tables: the watermark delay after `to`, so that the range's last window closes;
    - late_events, invalid_events (minute of arrival): records up to the range's end in
      Kafka time, plus the arrival margin.
    """
    before = settings.dedup_ttl_ms
    after = 0
    if {"sessions_1h", "entry_exit_pages_1h", "acquisition_1h"} & set(tables):
        before = max(before, truth.SESSION_GAP)
        after = truth.SESSION_GAP
    if "page_transitions_1h" in tables:
        before = max(before, truth.SESSION_GAP)
    if {"funnel_conversions", "funnel_breakdown"} & set(tables):
        after = max(after, funnel_window_ms)
    return Plan(start_ms=from_ms - before - settings.max_future_ms,
                event_horizon_ms=to_ms + after + settings.watermark_delay_ms,
                arrival_horizon_ms=to_ms + arrival_margin_ms(settings))


def arrival_margin_ms(settings: Settings) -> int:
    return settings.collector_kafka_timeout_ms + ARRIVAL_MARGIN_MS


@dataclass
class PartitionRead:
    partition: int
    start_offset: int            # first record of the read (Kafka time >= plan.start_ms)
    end_offset: int              # the partition's end when reading began
    next_offset: int = -1        # first record not read
    lead_in_newest: int | None = None   # newest event time before start_offset (lead-in)
    newest: int | None = None    # newest event time up to next_offset
    records: list[dict] = field(default_factory=list)
    done: bool = False
    first_offset: int = 0        # the partition's first record kept by Kafka

    def take(self, ts: int | None) -> None:
        if ts is not None:
            self.newest = ts if self.newest is None else max(self.newest, ts)


@dataclass
class TopicRead:
    topic: str
    snapshot_ms: int             # wall clock when reading began
    partitions: list[PartitionRead]
    future_stamped: int = 0      # records whose event time is beyond their Kafka time + max future

    def records(self) -> list[dict]:
        """The reference's input: per partition, a tick with the newest event time before the
        read (when there was one), then the records in offset order."""
        out: list[dict] = []
        for p in self.partitions:
            if p.lead_in_newest is not None:
                out.append({"payload": tick_payload(p.lead_in_newest).decode(), "kafka_ts_ms": None,
                            "kafka_partition": p.partition})
            out.extend(p.records)
        return out

    @property
    def from_topic_start(self) -> bool:
        """Every partition is read from its first record: nothing the job saw came before."""
        return all(p.start_offset <= p.first_offset for p in self.partitions)

    def record_count(self) -> int:
        return sum(len(p.records) for p in self.partitions)

    def watermark(self, delay_ms: int) -> int | None:
        """The job's watermark after these records: the slowest partition's newest event time
        minus the delay. Partitions that never carried an event time are left out, as the
        job's idle-partition timeout leaves them out."""
        newest = [p.newest for p in self.partitions if p.newest is not None]
        return min(newest) - delay_ms if newest else None


def _consumer(settings: Settings):
    return Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                     "group.id": f"clickpulse-verify-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False,
                     "enable.partition.eof": True, "socket.timeout.ms": 10000})


def _partitions(consumer, settings: Settings) -> list[int]:
    topic = settings.events_topic
    try:
        md = consumer.list_topics(topic, timeout=10)
    except Exception as e:  # noqa: BLE001 - librdkafka's KafkaException: say which setting to check
        raise ClickpulseError(f"cannot reach Kafka at {settings.kafka_bootstrap_servers} (KAFKA_BOOTSTRAP_SERVERS): "
                              f"{e}") from None
    if topic not in md.topics or md.topics[topic].error is not None or not md.topics[topic].partitions:
        raise ClickpulseError(f"Kafka topic {topic} not found at {settings.kafka_bootstrap_servers} "
                              "(CLICKPULSE_EVENTS_TOPIC, KAFKA_BOOTSTRAP_SERVERS)")
    return sorted(md.topics[topic].partitions)


def _cursors(consumer, topic: str, parts: list[int], start_ms: int) -> tuple[list[PartitionRead], dict[int, int]]:
    """Each partition's read (start and end offsets) and where its lead-in begins."""
    bounds = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False) for p in parts}
    found = consumer.offsets_for_times([TopicPartition(topic, p, max(start_ms, 0)) for p in parts], timeout=10)
    reads, lead_in = [], {}
    for tp in found:
        low, high = bounds[tp.partition]
        # -1: no record at or after that time; the read is empty, the lead-in still counts
        start = tp.offset if tp.offset >= 0 else high
        reads.append(PartitionRead(tp.partition, start, high, next_offset=start, done=high <= low, first_offset=low))
        lead_in[tp.partition] = max(low, start - LEAD_IN_RECORDS)
    return sorted(reads, key=lambda r: r.partition), lead_in


def read(settings: Settings, plan_: Plan, now_ms: int, progress=None) -> TopicRead:
    """Read the events topic as `plan_` says. `progress(done, total)` is called as records
    come in."""
    topic = settings.events_topic
    consumer = _consumer(settings)
    try:
        parts = _partitions(consumer, settings)
        reads, lead_in = _cursors(consumer, topic, parts, plan_.start_ms)
        out = TopicRead(topic, now_ms, reads)
        by_part = {r.partition: r for r in reads}
        total = sum(r.end_offset - lead_in[r.partition] for r in reads if not r.done)
        pending = [r for r in reads if not r.done]
        if pending:
            consumer.assign([TopicPartition(topic, r.partition, lead_in[r.partition]) for r in pending])
        seen, last_message = 0, time.monotonic()
        while any(not r.done for r in reads):
            batch = consumer.consume(num_messages=2000, timeout=1.0)
            if not batch and time.monotonic() - last_message > STALL_S:
                raise ClickpulseError(f"no records from {topic} at {settings.kafka_bootstrap_servers} for {STALL_S} s "
                                      f"while partitions {[r.partition for r in reads if not r.done]} were unread")
            for msg in batch:
                r = by_part.get(msg.partition())
                if msg.error() or r is None:
                    # the end of a partition whose last offsets hold no record (a safety net)
                    if r is not None and msg.error().code() == KafkaError._PARTITION_EOF and not r.done:
                        r.done = True
                        seen += max(0, r.end_offset - r.next_offset)
                    continue
                last_message = time.monotonic()
                if r.done:
                    continue
                seen += 1
                if _take(settings, plan_, out, r, msg, now_ms):
                    consumer.pause([TopicPartition(topic, r.partition)])
                    seen += r.end_offset - r.next_offset   # what it skips counts as done
            if progress:
                progress(seen, total)
        return out
    finally:
        consumer.close()


def _take(settings: Settings, plan_: Plan, out: TopicRead, r: PartitionRead, msg, now_ms: int) -> bool:
    """One record into its partition's read; True when the partition is read far enough."""
    payload = msg.value().decode("utf-8", "replace") if msg.value() is not None else None
    ts = truth.event_time(payload, now_ms, settings.max_future_ms)
    offset, kafka_ts = msg.offset(), msg.timestamp()[1]
    if offset < r.start_offset:   # lead-in: only its event time matters
        r.take(ts)
        r.lead_in_newest = r.newest
        r.done = offset >= r.end_offset - 1   # nothing in the range itself
        return r.done
    r.take(ts)
    r.records.append({"payload": payload, "kafka_ts_ms": kafka_ts, "kafka_partition": r.partition})
    if ts is not None and ts > kafka_ts + settings.max_future_ms:
        out.future_stamped += 1
    r.next_offset = offset + 1
    if offset >= r.end_offset - 1 or (r.newest is not None and r.newest >= plan_.event_horizon_ms
                                      and kafka_ts >= plan_.arrival_horizon_ms):
        r.done = True
    return r.done
