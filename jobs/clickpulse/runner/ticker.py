"""The ticker: keeps event time moving in partitions that receive no events.

Event time advances only with records. A Kafka partition that gets no events (few users,
a quiet night, the end of a replayed log) holds the job's watermark back, so the windows
of every partition stay open. The ticker watches the events topic and writes a clock tick
({"$clickpulse": "tick", "ts": ...}) into each partition that has been quiet for
CLICKPULSE_TICK_AFTER_MS. The job treats a tick as a record that carries only a time.

A tick carries the newest event time in the topic; once the whole topic is quiet, plus
the wall-clock time since it went quiet. Event time therefore runs on at the speed of
the clock from where the events left it, never jumping ahead, so events that resume at
their normal pace are still on time, and a replayed historical log keeps its own clock.

`flush()` writes one tick far past the newest event into every partition so that every
window closes now (the end of a bounded replay or a benchmark); events older than it
count as late afterwards.
"""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from ..errors import ClickpulseError
from ..settings import Settings

TICK = "tick"


def tick_payload(ts: int) -> bytes:
    return json.dumps({"$clickpulse": TICK, "ts": int(ts)}).encode()


def _event_ts(value: bytes | None) -> tuple[int | None, bool]:
    """(ts, is_tick) of a record, (None, False) when it has no usable ts."""
    try:
        o = json.loads(value or b"")
    except ValueError:
        return None, False
    if not isinstance(o, dict) or type(o.get("ts")) is not int:
        return None, False
    return o["ts"], o.get("$clickpulse") == TICK


class Topic:
    """The end offsets and newest event times of the events topic's partitions."""

    def __init__(self, settings: Settings):
        self.topic = settings.events_topic
        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": "clickpulse-ticker", "enable.auto.commit": False,
                                  "enable.partition.eof": True, "socket.timeout.ms": 10000})
        md = self.consumer.list_topics(self.topic, timeout=10)
        if self.topic not in md.topics or md.topics[self.topic].error is not None:
            raise ClickpulseError(f"Kafka topic {self.topic} not found at {settings.kafka_bootstrap_servers} "
                                  "(KAFKA_BOOTSTRAP_SERVERS; `clickpulse stack topics` creates it)")
        self.partitions = sorted(md.topics[self.topic].partitions)

    def ends(self) -> dict[int, int]:
        return {p: self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10, cached=False)[1]
                for p in self.partitions}

    def newest_event(self, ends: dict[int, int], partitions, tail: int = 100) -> dict[int, int]:
        """Newest event time (ticks excluded) among the last `tail` records of each partition."""
        todo = {p: ends[p] for p in partitions if ends.get(p, 0) > 0}
        if not todo:
            return {}
        self.consumer.assign([TopicPartition(self.topic, p, max(0, end - tail)) for p, end in todo.items()])
        newest: dict[int, int] = {}
        remaining = set(todo)
        deadline = time.monotonic() + 10
        while remaining and time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    remaining.discard(msg.partition())
                continue
            ts, is_tick = _event_ts(msg.value())
            if ts is not None and not is_tick:
                newest[msg.partition()] = max(ts, newest.get(msg.partition(), ts))
            if msg.offset() >= todo[msg.partition()] - 1:
                remaining.discard(msg.partition())
        self.consumer.unassign()
        return newest

    def close(self) -> None:
        self.consumer.close()


def _producer(settings: Settings):
    return Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all",
                     "enable.idempotence": True})


def send_ticks(producer, settings: Settings, partitions, ts: int) -> None:
    for p in partitions:
        producer.produce(settings.events_topic, tick_payload(ts), partition=p)
    if producer.flush(10) != 0:
        raise ClickpulseError(f"could not write ticks to {settings.events_topic} at {settings.kafka_bootstrap_servers}")


def run(settings: Settings, interval_s: float = 1.0, log=print, stop=lambda: False) -> None:
    topic, producer = Topic(settings), _producer(settings)
    ends = topic.ends()
    newest = topic.newest_event(ends, topic.partitions)
    now = time.monotonic()
    changed_at = {p: now for p in topic.partitions}   # when each partition last got a record of its own
    topic_quiet_since = now
    ticked_at: dict[int, float] = {}   # partition -> when we last ticked it
    log(f"watching {topic.topic} ({len(topic.partitions)} partitions); ticking partitions quiet for "
        f"{settings.tick_after_ms} ms")
    while not stop():
        time.sleep(interval_s)
        try:
            now_ends = topic.ends()
        except Exception as e:  # noqa: BLE001 - Kafka away for a while: keep watching
            log(f"cannot read {topic.topic} ({str(e).splitlines()[0]}); retrying")
            time.sleep(5)
            continue
        now = time.monotonic()
        moved = [p for p in topic.partitions if now_ends[p] != ends[p]]
        ends = now_ends
        if moved:
            newest.update(topic.newest_event(ends, moved))
            for p in moved:
                changed_at[p] = now
            topic_quiet_since = now
        if not newest:
            continue
        quiet = [p for p in topic.partitions if (now - changed_at[p]) * 1000 >= settings.tick_after_ms
                 and (now - ticked_at.get(p, 0)) * 1000 >= settings.tick_after_ms / 2]
        if not quiet:
            continue
        all_quiet = all((now - changed_at[p]) * 1000 >= settings.tick_after_ms for p in topic.partitions)
        ts = max(newest.values()) + (int((now - topic_quiet_since) * 1000) if all_quiet else 0)
        send_ticks(producer, settings, quiet, ts)
        ends = topic.ends()   # our own ticks are not activity
        for p in quiet:
            ticked_at[p] = now


def flush(settings: Settings, ahead_ms: int = 86_400_000 + 3_600_000) -> int:
    """Close every window now: a tick `ahead_ms` past the newest event, in every partition."""
    topic = Topic(settings)
    try:
        newest = topic.newest_event(topic.ends(), topic.partitions)
    finally:
        topic.close()
    if not newest:
        raise ClickpulseError(f"{settings.events_topic} holds no events: nothing to flush")
    # the job rejects times too far past the wall clock (CLICKPULSE_MAX_FUTURE_MS)
    ts = min(max(newest.values()) + ahead_ms, int(time.time() * 1000) + settings.max_future_ms - 1_000)
    send_ticks(_producer(settings), settings, topic.partitions, ts)
    return ts
