"""`clickpulse bench faults`: what a failure costs, measured on the running local stack.

Each scenario runs under steady load sent through the collector (HTTP, as browsers do),
under a site id of its own, and injects one fault: a TaskManager killed with SIGKILL, the
only broker restarted (single node) or one of three killed (multi-node), the JobManager
killed (multi-node, HA), PostgreSQL stopped for a while, a 10x burst. Nobody repairs
anything: the supervisor, Flink's restart strategy, the collector's 503s and the sink's
retries have to. The scenario then reports, for its site:

- events sent, acknowledged (2xx) by the collector, and found in Kafka;
- `clickpulse verify` differences in the closed windows (missing, different, extra rows);
- the worst freshness during the fault (now minus the newest event time in the raw
  `events` table) and how long until it was back under the target;
- whether the bench had to act (`stack up`) because nothing recovered by itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from ..errors import ClickpulseError
from ..settings import Settings
from ..stack import flink, procs, services
from . import run as verify_run


@dataclass
class Load:
    """Posts batches of events to the collector at `rate` events/s from a thread; the rate
    can change while it runs (a burst)."""
    url: str
    site: str
    rate: float
    batch: int = 50
    sent: int = 0
    acked: set = field(default_factory=set)
    refused: int = 0
    # monotonic times of refused batches: how long the collector turned clients away
    refused_at: list = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self._run, daemon=True)
        t.start()
        return t

    def _run(self) -> None:
        n = 0
        next_at = time.monotonic()
        with httpx.Client(timeout=10) as http:
            while not self.halt.is_set():
                now_ms = int(time.time() * 1000)
                batch = [{"event_id": uuid.uuid4().hex, "event_type": "page_view", "site_id": self.site,
                          "user_id": f"u{(n + i) % 500}", "ts": now_ms, "page": f"/faults/{(n + i) % 20}"}
                         for i in range(self.batch)]
                n += self.batch
                self.sent += len(batch)
                try:
                    status = http.post(f"{self.url}/collect", json=batch).status_code
                except httpx.HTTPError:
                    status = 0
                if 200 <= status < 300:
                    self.acked.update(e["event_id"] for e in batch)
                else:
                    self.refused += len(batch)
                    self.refused_at.append(time.monotonic())
                next_at += self.batch / self.rate
                time.sleep(max(0.0, next_at - time.monotonic()))
                if time.monotonic() - next_at > 5:  # cannot keep up: do not burst to catch up
                    next_at = time.monotonic()


class Freshness:
    """Samples, every second, how far the raw `events` table is behind the wall clock for
    the site (seconds; None while PostgreSQL does not answer)."""

    def __init__(self, settings: Settings, site: str):
        self.settings, self.site = settings, site
        self.samples: list[tuple[float, float | None]] = []
        self.halt = threading.Event()
        self._newest: float | None = None

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.halt.is_set():
            self.samples.append((time.monotonic(), self._sample()))
            time.sleep(1)

    def _sample(self) -> float | None:
        try:
            with psycopg.connect(self.settings.dsn("reader"), connect_timeout=2) as c:
                row = c.execute("select extract(epoch from max(event_time)) from events where site_id = %s",
                                (self.site,)).fetchone()
            self._newest = float(row[0]) if row and row[0] is not None else self._newest
        except psycopg.Error:
            pass
        return time.time() - self._newest if self._newest else None

    def latest(self) -> float | None:
        return self.samples[-1][1] if self.samples else None


@dataclass
class Scenario:
    name: str
    title: str
    inject: Callable[["Run"], None]
    mode: str = "any"  # "single", "multi" or "any"


@dataclass
class Run:
    settings: Settings
    load: Load
    fault_s: float


def _kill_taskmanager(r: Run) -> None:
    flink.kill_taskmanager(1)


def _restart_broker(r: Run) -> None:
    services.stop("kafka", r.settings)
    services.up(["kafka"])


def _kill_broker(r: Run) -> None:
    procs.kill9("kafka-2")


def _kill_collector_leader(r: Run) -> None:
    """The broker leading most of the events topic's partitions: the one most of the
    collector's in-flight batches wait on when it dies."""
    procs.kill9(f"kafka-{_busiest_leader(r.settings)}")


def _busiest_leader(settings: Settings) -> int:
    admin = AdminClient({"bootstrap.servers": services.kafka_bootstrap(settings)})
    partitions = admin.list_topics(settings.events_topic, timeout=10).topics[settings.events_topic].partitions
    leaders = Counter(p.leader for p in partitions.values())
    return leaders.most_common(1)[0][0]


def _kill_jobmanager(r: Run) -> None:
    flink.kill_jobmanager()


def _stop_postgres(r: Run) -> None:
    services.stop("postgres", r.settings)
    time.sleep(r.fault_s)
    services.up(["postgres"])


def _burst(r: Run) -> None:
    base = r.load.rate
    r.load.rate = base * 10
    time.sleep(r.fault_s)
    r.load.rate = base


SCENARIOS = [
    Scenario("taskmanager-kill", "kill -9 a TaskManager", _kill_taskmanager),
    Scenario("broker-restart", "restart the only Kafka broker", _restart_broker, "single"),
    Scenario("broker-kill", "kill -9 one of 3 Kafka brokers (collector under load)", _kill_broker, "multi"),
    Scenario("collector-leader-kill", "kill -9 the broker leading most partitions the collector writes to",
             _kill_collector_leader, "multi"),
    Scenario("jobmanager-kill", "kill -9 the JobManager (ZooKeeper HA)", _kill_jobmanager, "multi"),
    Scenario("postgres-stop", "stop PostgreSQL for FAULT seconds", _stop_postgres),
    Scenario("burst-10x", "10x the load for FAULT seconds", _burst),
]


def applicable(multi_node: bool) -> list[Scenario]:
    return [s for s in SCENARIOS if s.mode == "any" or (s.mode == "multi") == multi_node]


@dataclass
class Outcome:
    scenario: str
    title: str
    sent: int
    acked: int
    refused: int
    refused_s: float
    in_kafka: int
    acked_missing: int
    missing_rows: int
    different_rows: int
    extra_rows: int
    open_rows: int
    worst_freshness_s: float | None
    recovery_s: float | None
    acted: str
    freshness: list[tuple[float, float | None]]


def run_scenario(settings: Settings, scenario: Scenario, *, rate: float, warmup_s: float, fault_s: float,
                 target_s: float, timeout_s: float, status=lambda _: None) -> Outcome:
    site = f"faults-{scenario.name}-{uuid.uuid4().hex[:6]}"
    started_ms = int(time.time() * 1000)
    load = Load(f"http://{settings.collector_host}:{settings.collector_port}", site, rate)
    fresh = Freshness(settings, site)
    sender = load.start()
    fresh.start()
    status(f"{scenario.name}: warming up for {warmup_s:.0f} s at {rate:g} events/s")
    time.sleep(warmup_s)
    status(f"{scenario.name}: {scenario.title.replace('FAULT', f'{fault_s:.0f}')}")
    fault_at = time.monotonic()
    scenario.inject(Run(settings, load, fault_s))
    recovered_at, acted = _await_recovery(fresh, fault_at, target_s, timeout_s, status, scenario.name)
    time.sleep(5)
    halted_at = time.monotonic()
    load.halt.set()
    sender.join(timeout=30)
    time.sleep(max(5.0, settings.tick_after_ms / 1000))  # the last events reach the tables
    fresh.halt.set()
    ended_ms = int(time.time() * 1000)
    status(f"{scenario.name}: counting what Kafka holds and verifying the tables")
    found = _in_kafka(settings, site, started_ms)
    v = verify_run(settings, started_ms - started_ms % 60_000, ended_ms - ended_ms % 60_000, sites=[site],
                   wait_s=120, status=status)
    # from the fault until the load stopped: the fault and the recovery from it
    during = [f for t, f in fresh.samples if fault_at <= t <= halted_at and f is not None]
    return Outcome(
        scenario.name, scenario.title.replace("FAULT", f"{fault_s:.0f}"), load.sent, len(load.acked), load.refused,
        (load.refused_at[-1] - load.refused_at[0]) if load.refused_at else 0.0, len(found),
        len(load.acked - found),
        sum(len(r.missing) for r in v.results), sum(len(r.different) for r in v.results),
        sum(len(r.extra) for r in v.results), sum(r.open for r in v.results),
        max(during) if during else None, (recovered_at - fault_at) if recovered_at else None, acted,
        [(t - fault_at, f) for t, f in fresh.samples if t <= halted_at],  # after that no events come
    )


def _await_recovery(fresh: Freshness, fault_at: float, target_s: float, timeout_s: float, status, name: str):
    """When freshness was back under the target after the fault (the fault's time itself
    when it never fell behind within 30 s), or None; and whether the bench had to act
    (`stack up`) because nothing recovered by itself within the timeout."""
    acted = "no"
    for attempt in range(2):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            after = [(t, f) for t, f in fresh.samples if t >= fault_at]
            behind = [t for t, f in after if f is None or f >= target_s]
            latest = after[-1] if after else (0.0, None)
            if behind and latest[1] is not None and latest[1] < target_s:
                return latest[0], acted
            if not behind and time.monotonic() - fault_at > 30:
                return fault_at, acted
            time.sleep(1)
        if attempt == 0:
            status(f"{name}: not recovered after {timeout_s:.0f} s; running `clickpulse stack up`")
            acted = _repair()
    return None, f"{acted}, still not recovered"


def _repair() -> str:
    """`clickpulse stack up` for the services a fault touches; a repair that fails is a
    finding of the scenario, reported with its error, not the end of the bench."""
    try:
        services.up(["postgres", "kafka", "flink"])
    except ClickpulseError as e:
        return f"yes: `stack up` failed ({e})"
    return "yes: `stack up`"


def _in_kafka(settings: Settings, site: str, since_ms: int) -> set[str]:
    """event_ids of the site on the events topic from `since_ms` to the current end."""
    c = Consumer({"bootstrap.servers": services.kafka_bootstrap(settings), "group.id": f"faults-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    topic = settings.events_topic
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    starts = c.offsets_for_times([TopicPartition(topic, p, since_ms) for p in parts], timeout=10)
    ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
    c.assign([TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else ends[tp.partition])
              for tp in starts])
    pending = {tp.partition for tp in starts if 0 <= tp.offset < ends[tp.partition]}
    found: set[str] = set()
    needle = site.encode()
    deadline = time.monotonic() + 180
    while pending and time.monotonic() < deadline:
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                pending.discard(msg.partition())
            continue
        if msg.offset() >= ends[msg.partition()] - 1:
            pending.discard(msg.partition())
        value = msg.value() or b""
        if needle in value:
            try:
                event = json.loads(value)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("site_id") == site:
                found.add(str(event.get("event_id")))
    c.close()
    return found
