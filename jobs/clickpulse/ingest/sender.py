"""Sends a stream of records to Kafka at a paced or unbounded speed, mixing in the faults
of faults.py, and keeps the exact sequence sent when asked (for the ground truth)."""

from __future__ import annotations

import heapq
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from confluent_kafka import Producer

from ..errors import ClickpulseError
from ..settings import Settings
from .faults import WARMUP_RECORDS, FaultRates, late_ts, malform, restamp
from .producer import producer_config, quiet_logger


QUEUE_MAX = 2_000_000


@dataclass
class Stats:
    records: int = 0  # everything produced, dead or alive
    out_of_order: int = 0
    late: int = 0
    duplicates: int = 0
    malformed: int = 0
    failed: int = 0  # not acknowledged by Kafka
    first_error: str | None = None
    seconds: float = 0.0
    first_ts: int | None = None
    newest_ts: int | None = None
    # wall clock (epoch s) of the first record and of the last acknowledgement: workers'
    # runs are combined from these
    started_at: float | None = None
    ended_at: float | None = None
    malformed_kinds: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def add(self, other: "Stats") -> None:
        for name in ("records", "out_of_order", "late", "duplicates", "malformed", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_error = self.first_error or other.first_error
        if other.started_at is not None:
            self.started_at = min(self.started_at or other.started_at, other.started_at)
            self.ended_at = max(self.ended_at or other.ended_at, other.ended_at)
            self.seconds = self.ended_at - self.started_at
        else:
            self.seconds = max(self.seconds, other.seconds)
        for k, v in other.malformed_kinds.items():
            self.malformed_kinds[k] = self.malformed_kinds.get(k, 0) + v


class KafkaOut:
    """A producer tuned for throughput (big lz4 batches, errors-only delivery reports) that
    keeps acks=all and idempotence: the ground truth must be exactly what Kafka holds."""

    def __init__(self, settings: Settings, topic: str, stats: Stats):
        self.topic = topic
        self.stats = stats
        self.producer = Producer(producer_config(
            settings, "clickpulse-generator",
            **{
                "linger.ms": 50,
                "batch.size": 1_000_000,
                "batch.num.messages": 10_000,
                "queue.buffering.max.messages": QUEUE_MAX,
                "queue.buffering.max.kbytes": 1_048_576,
                "delivery.report.only.error": True,
                "on_delivery": self._failed,
                "error_cb": self._error,
                "logger": quiet_logger("clickpulse.generator.kafka"),
            },
        ))
        self._produce = self.producer.produce

    def _failed(self, err, _msg) -> None:
        if err is not None:
            self.stats.failed += 1
            self.stats.first_error = self.stats.first_error or err.str()

    def _error(self, err) -> None:
        if err.fatal():
            self.stats.first_error = self.stats.first_error or err.str()

    def send(self, key: bytes | None, value: str) -> None:
        try:
            self._produce(self.topic, value, key)
        except BufferError:
            # the local queue is full: let librdkafka drain it, then go on
            while True:
                self.producer.poll(0.05)
                try:
                    self._produce(self.topic, value, key)
                    return
                except BufferError:
                    continue

    def poll(self) -> None:
        self.producer.poll(0)

    def room(self, n: int) -> None:
        """Wait until `n` more records fit in the local queue (then produce() cannot fail)."""
        while len(self.producer) + n > QUEUE_MAX:
            self.producer.poll(0.05)

    def close(self, timeout: float = 60.0) -> None:
        left = self.producer.flush(timeout)
        if left:
            self.stats.failed += left
            self.stats.first_error = self.stats.first_error or f"{left} records still queued after {timeout:.0f}s"


def pump(
    chunks: Iterable[list[tuple[bytes | None, str, int]]],
    out: KafkaOut,
    *,
    rates: FaultRates,
    watermark_delay_ms: int,
    seed: int,
    limit: int | None = None,
    end_ts: int | None = None,
    speed: float = 1.0,
    slice_ms: int = 100,
    progress: Callable[[Stats], None] | None = None,
    keep: list | None = None,
    stop: Callable[[], bool] = lambda: False,
) -> Stats:
    """Send `chunks` of records (key, value, event time), each chunk about `slice_ms` of
    event time in time order, until `limit` records, event time `end_ts`, the end of the
    stream, or `stop()`. Returns what was sent.

    `speed` is event-time seconds per wall-clock second (0: no pacing). Records without a
    fault (nearly all) take a fast path: one produce() call each. The gap to the next
    faulty record is drawn from the geometric distribution, not decided record by record.
    """
    stats = out.stats
    rng = random.Random(f"{seed}-faults")
    rand = rng.random
    p_any = rates.total
    log_clean = math.log(1.0 - p_any) if 0 < p_any < 1 else None

    def gap() -> float:
        if p_any <= 0:
            return math.inf
        if log_clean is None:
            return 0
        return int(math.log(1.0 - rand()) / log_clean)

    # Held records are released at chunk boundaries, so they may wait one slice longer
    # than their jitter: the jitter leaves room for it (see faults.py for the bound).
    jitter = max(0, watermark_delay_ms // 2 - slice_ms)
    held: list = []  # (release ts, seq, key, value): out-of-order events and duplicates
    seq = 0
    produce, topic = out.producer.produce, out.topic
    send = out.send
    newest = None
    started = last_report = time.monotonic()
    t0 = None
    n = 0
    skip = gap()

    def emit(key, value):
        nonlocal n
        send(key, value)
        n += 1
        if keep is not None:
            keep.append((key, value))

    def fault(key, value, ts) -> None:
        nonlocal newest, seq
        u = rand() * p_any
        if u < rates.out_of_order:
            seq += 1
            heapq.heappush(held, (ts + 1 + int(rand() * jitter), seq, key, value))
            stats.out_of_order += 1
            return
        u -= rates.out_of_order
        if u < rates.duplicates:
            emit(key, value)
            newest = ts if newest is None or ts > newest else newest
            # a copy that would overshoot the record limit is not sent
            if limit is None or n + len(held) < limit:
                seq += 1
                heapq.heappush(held, (ts + int(rand() * jitter), seq, key, value))
                stats.duplicates += 1
            return
        u -= rates.duplicates
        if u < rates.late:
            if n >= WARMUP_RECORDS and newest is not None:
                emit(key, restamp(value, late_ts(newest, watermark_delay_ms, rng)))
                stats.late += 1
            else:  # still warming up: sent on time
                emit(key, value)
                newest = ts if newest is None or ts > newest else newest
            return
        broken, kind = malform(value, ts, rng)
        emit(key, broken)
        stats.malformed += 1
        stats.malformed_kinds[kind] = stats.malformed_kinds.get(kind, 0) + 1

    for chunk in chunks:
        if not chunk:
            continue
        first = chunk[0][2]
        if t0 is None:
            # the clock starts with the first record: a simulation's warm-up is not sending
            t0 = stats.first_ts = first
            started = last_report = time.monotonic()
            stats.started_at = time.time()
        final = False
        if end_ts is not None and chunk[-1][2] >= end_ts:
            chunk = [r for r in chunk if r[2] < end_ts]
            final = True
        # a held record goes out once the stream has passed its release time
        while held and held[0][0] < first:
            _, _, hk, hv = heapq.heappop(held)
            emit(hk, hv)
        if skip >= len(chunk) and (limit is None or n + len(held) + len(chunk) < limit):
            out.room(len(chunk))
            for key, value, _ in chunk:
                produce(topic, value, key)
            n += len(chunk)
            skip -= len(chunk)
            if keep is not None:
                keep.extend((key, value) for key, value, _ in chunk)
            if chunk and (newest is None or chunk[-1][2] > newest):
                newest = chunk[-1][2]
        else:
            for key, value, ts in chunk:
                if limit is not None and n + len(held) >= limit:
                    final = True
                    break
                if skip > 0:
                    skip -= 1
                    emit(key, value)
                    if newest is None or ts > newest:
                        newest = ts
                else:
                    skip = gap()
                    fault(key, value, ts)
        now = time.monotonic()
        if speed and not final:
            ahead = (first - t0) / 1000 / speed - (now - started)
            if ahead > 0.002:
                out.poll()
                time.sleep(ahead)
                now = time.monotonic()
        if now - last_report >= 0.25:
            last_report = now
            out.poll()
            stats.records, stats.newest_ts, stats.seconds = n, newest, now - started
            if progress:
                progress(stats)
        if final or stop():
            break
    while held:
        _, _, hk, hv = heapq.heappop(held)
        emit(hk, hv)
    stats.records, stats.newest_ts = n, newest
    out.close()
    stats.seconds = time.monotonic() - started
    stats.ended_at = time.time()
    stats.started_at = stats.started_at or stats.ended_at
    if progress:
        progress(stats)
    return stats


def check_delivered(stats: Stats, topic: str, bootstrap: str) -> None:
    if stats.failed:
        raise ClickpulseError(
            f"{stats.failed} of {stats.records} records were not acknowledged by Kafka at {bootstrap} "
            f"(topic {topic}): {stats.first_error} — check KAFKA_BOOTSTRAP_SERVERS and `clickpulse stack status`")
