"""Incidents on live traffic, for the alerts end-to-end test and `clickpulse bench alerts`:
steady synthetic traffic for a few sites (a history first, so the rules' baselines are
warm), then, in real time, one site's traffic dropped to zero or a bot burst, while the
alerts topic is read to see when each transition arrives.

The traffic is written straight to every partition of the events topic (one event per
partition per tick at least), so event time moves in all of them without the ticker and a
minute closes CLICKPULSE_WATERMARK_DELAY_MS after the wall clock passes its end."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from ..errors import ClickpulseError
from ..settings import Settings

MINUTE = 60_000


@dataclass
class Traffic:
    """`per_minute` page views per site and minute (one purchase among them, so no
    purchase rule fires), spread over the partitions; sites named PREFIX-1..N."""
    settings: Settings
    prefix: str
    sites: int = 2
    per_minute: int = 120
    silent: set[str] = field(default_factory=set)
    sent: int = 0

    def __post_init__(self):
        self.producer = Producer({"bootstrap.servers": self.settings.kafka_bootstrap_servers, "acks": "all",
                                  "linger.ms": 5})
        md = self.producer.list_topics(self.settings.events_topic, timeout=10)
        if self.settings.events_topic not in md.topics:
            raise ClickpulseError(f"Kafka topic {self.settings.events_topic} not found (`clickpulse stack topics`)")
        self.partitions = sorted(md.topics[self.settings.events_topic].partitions)

    @property
    def site_ids(self) -> list[str]:
        return [f"{self.prefix}-{i + 1}" for i in range(self.sites)]

    def _event(self, site: str, ts: int, n: int, bot: str | None = None) -> bytes:
        e = {"event_id": f"{site}-{ts}-{n}-{uuid.uuid4().hex[:6]}", "site_id": site, "user_id": f"u{n % 50}",
             "ts": ts, "page": "/products/1",
             "event_type": "purchase" if (ts // 1000) % 60 == 0 and n == 0 else "page_view"}
        if bot:
            e["bot"] = bot
            e["user_id"] = "crawler"
        return json.dumps(e).encode()

    def second(self, ts: int) -> None:
        """The events of one second of event time `ts` (ms); every partition gets one."""
        per_second = self.per_minute / 60
        i = 0
        for site in self.site_ids:
            if site in self.silent:
                continue
            # an even spread: the events of second s are floor((s+1) x rate) - floor(s x rate)
            s = ts // 1000
            for n in range(int((s + 1) * per_second) - int(s * per_second)):
                self.producer.produce(self.settings.events_topic, self._event(site, ts, n),
                                      partition=self.partitions[i % len(self.partitions)])
                i += 1
                self.sent += 1
        # a tick in every partition keeps event time moving where no event went
        tick = json.dumps({"$clickpulse": "tick", "ts": ts}).encode()
        for p in self.partitions:
            self.producer.produce(self.settings.events_topic, tick, partition=p)
        self.producer.poll(0)

    def bots(self, site: str, ts: int, n: int) -> None:
        for k in range(n):
            self.producer.produce(self.settings.events_topic, self._event(site, ts, k, bot="user_agent"),
                                  partition=self.partitions[k % len(self.partitions)])
        self.sent += n

    def history(self, minutes: int) -> int:
        """The last `minutes` of traffic up to now, as fast as Kafka takes it; returns now."""
        now = int(time.time() * 1000)
        start = now - minutes * MINUTE
        for ts in range(start - start % 1000, now, 1000):
            self.second(ts)
        self.flush()
        return now

    def flush(self) -> None:
        if self.producer.flush(30) != 0:
            raise ClickpulseError(f"could not write to {self.settings.events_topic}")


class AlertReader:
    """Reads the alerts topic from its end, noting the wall-clock time each record arrives."""

    def __init__(self, settings: Settings):
        self.topic = settings.alerts_topic
        self.consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers,
                                  "group.id": f"alerts-reader-{uuid.uuid4().hex}", "enable.auto.commit": False})
        md = self.consumer.list_topics(self.topic, timeout=10)
        if self.topic not in md.topics:
            raise ClickpulseError(f"Kafka topic {self.topic} not found (`clickpulse stack topics` creates it)")
        parts = []
        for p in md.topics[self.topic].partitions:
            _, high = self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            parts.append(TopicPartition(self.topic, p, high))
        self.consumer.assign(parts)
        self.records: list[tuple[float, dict]] = []

    def poll(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.consumer.poll(max(0.01, min(0.2, deadline - time.monotonic())))
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise ClickpulseError(f"reading {self.topic}: {msg.error()}")
                continue
            self.records.append((time.time(), json.loads(msg.value())))

    def find(self, rule: str, site: str, state: str) -> tuple[float, dict] | None:
        return next(((t, r) for t, r in self.records if r["rule"] == rule and r["site_id"] == site
                     and r["state"] == state), None)

    def close(self) -> None:
        self.consumer.close()


def live(traffic: Traffic, reader: AlertReader, seconds: float, on_second=None) -> None:
    """`seconds` of real-time traffic, one second of events per wall-clock second, reading
    the alerts topic in between; `on_second(ts)` may change the traffic (an incident)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ts = int(time.time() * 1000)
        ts -= ts % 1000
        if on_second:
            on_second(ts)
        traffic.second(ts)
        traffic.flush()
        reader.poll(max(0.0, (ts + 1000) / 1000 - time.time()))


def next_minute(ms: int) -> int:
    return ms - ms % MINUTE + MINUTE


def latency_s(arrived: float, record: dict) -> float:
    """Seconds from the end of the minute that broke (or healed) the rule to the record's arrival."""
    end = record["window_end"].replace("Z", "+00:00")
    return arrived - dt.datetime.fromisoformat(end).timestamp()
