"""Sends a stream of records to Kafka at a paced or unbounded speed, mixing in the faults
of faults.py, and keeps the exact sequence sent when asked (for the ground truth)."""

from __future__ import annotations

import heapq
import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

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

    def send_many(self, records: list) -> None:
        """Send (key, value, ts) records as they are: the fast path, one produce() each."""
        self.room(len(records))
        produce, topic = self.producer.produce, self.topic
        for key, value, _ in records:
            produce(topic, value, key)

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


class Pacer:
    """Holds a sender to `speed` event-time seconds per wall-clock second, counted from the
    first record (0: no pacing, as fast as possible)."""

    def __init__(self, speed: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.speed, self.clock, self.sleep = speed, clock, sleep
        self.first_ts: int | None = None
        self.started = clock()

    def start(self, first_ts: int) -> None:
        self.first_ts, self.started = first_ts, self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def ahead(self, ts: int) -> float:
        """Wall-clock seconds by which event time `ts` is early (negative: late)."""
        if not self.speed or self.first_ts is None:
            return 0.0
        return (ts - self.first_ts) / 1000 / self.speed - self.elapsed()

    def wait(self, ts: int, before_sleep: Callable[[], None] = lambda: None) -> None:
        """Sleep until event time `ts` is due; `before_sleep` runs only when there is a wait."""
        ahead = self.ahead(ts)
        if ahead > 0.002:
            before_sleep()
            self.sleep(ahead)


class FaultInjector:
    """Decides which records get one of faults.py's imperfections and applies it. Records to
    send now come back from `process`; out-of-order records and duplicate copies are held
    until the stream has passed their release time (`due`) or ends (`drain`).

    Records without a fault (nearly all) cost nothing: the number of clean records before
    the next faulty one is drawn from the geometric distribution, not decided record by
    record, and `clean_ahead` lets a sender pass the runs between faults through in bulk."""

    def __init__(self, rates: FaultRates, *, watermark_delay_ms: int, seed: int, slice_ms: int, stats: Stats):
        self.rates, self.delay_ms, self.stats = rates, watermark_delay_ms, stats
        self.rng = random.Random(f"{seed}-faults")
        p_any = rates.total
        self._p_any = p_any
        self._log_clean = math.log(1.0 - p_any) if 0 < p_any < 1 else None
        # Held records are released at chunk boundaries, so they may wait one slice longer
        # than their jitter: the jitter leaves room for it (see faults.py for the bound).
        self.jitter = max(0, watermark_delay_ms // 2 - slice_ms)
        self._held: list = []  # heap of (release ts, seq, key, value)
        self._seq = 0
        self.clean_ahead: float = self._gap()  # records before the next faulty one

    def _gap(self) -> float:
        if self._p_any <= 0:
            return math.inf
        if self._log_clean is None:
            return 0
        return int(math.log(1.0 - self.rng.random()) / self._log_clean)

    @property
    def pending(self) -> int:
        """Records held for later."""
        return len(self._held)

    def pass_clean(self, count: int) -> None:
        """`count` records (no more than clean_ahead) went out untouched."""
        self.clean_ahead -= count

    def process(self, key, value: str, ts: int, *, sent: int, newest: int | None, room: int | None) -> list[tuple]:
        """The records to send now for this one, as (key, value, event time), the time None
        when it must not count towards the newest event time sent on time. `sent`: records
        sent so far; `newest`: that newest event time; `room`: how many more records may be
        sent (None: no limit), which a duplicate's held copy must fit in."""
        if self.clean_ahead > 0:
            self.clean_ahead -= 1
            return [(key, value, ts)]
        self.clean_ahead = self._gap()
        rates, u = self.rates, self.rng.random() * self._p_any
        if u < rates.out_of_order:
            self._hold(ts + 1 + int(self.rng.random() * self.jitter), key, value)
            self.stats.out_of_order += 1
            return []
        u -= rates.out_of_order
        if u < rates.duplicates:
            # a copy that would overshoot the record limit is not sent
            if room is None or room > 1:
                self._hold(ts + int(self.rng.random() * self.jitter), key, value)
                self.stats.duplicates += 1
            return [(key, value, ts)]
        u -= rates.duplicates
        if u < rates.late:
            if sent < WARMUP_RECORDS or newest is None:
                return [(key, value, ts)]  # still warming up: sent on time
            self.stats.late += 1
            return [(key, restamp(value, late_ts(newest, self.delay_ms, self.rng)), None)]
        broken, kind = malform(value, ts, self.rng)
        self.stats.malformed += 1
        self.stats.malformed_kinds[kind] = self.stats.malformed_kinds.get(kind, 0) + 1
        return [(key, broken, None)]

    def _hold(self, release_ts: int, key, value: str) -> None:
        self._seq += 1
        heapq.heappush(self._held, (release_ts, self._seq, key, value))

    def due(self, stream_ts: int) -> Iterator[tuple]:
        """Held (key, value) whose release time the stream, now at `stream_ts`, has passed."""
        while self._held and self._held[0][0] < stream_ts:
            _, _, key, value = heapq.heappop(self._held)
            yield key, value

    def drain(self) -> Iterator[tuple]:
        """Every held (key, value), in release order: the stream has ended."""
        return self.due(math.inf)


class _Sender:
    """Sends one `pump` run's records: counts them, keeps them when asked, and tracks the
    newest event time sent on time."""

    def __init__(self, out: KafkaOut, faults: FaultInjector, limit: int | None, keep: list | None):
        self.out, self.faults, self.limit, self.keep = out, faults, limit, keep
        self.sent = 0
        self.newest: int | None = None

    def emit(self, key, value: str, ts: int | None = None) -> None:
        self.out.send(key, value)
        self.sent += 1
        if self.keep is not None:
            self.keep.append((key, value))
        if ts is not None and (self.newest is None or ts > self.newest):
            self.newest = ts

    def room(self) -> int | None:
        return None if self.limit is None else self.limit - self.sent - self.faults.pending

    def send_clean(self, records: list) -> None:
        self.out.send_many(records)
        self.faults.pass_clean(len(records))
        self.sent += len(records)
        if self.keep is not None:
            self.keep.extend((key, value) for key, value, _ in records)
        newest = max(ts for _, _, ts in records)
        if self.newest is None or newest > self.newest:
            self.newest = newest

    def send_chunk(self, chunk: list) -> bool:
        """Send one chunk through the fault injector, the runs of clean records between faults
        in bulk; True when the record limit is reached."""
        i, size = 0, len(chunk)
        while i < size:
            room = self.room()
            if room is not None and room <= 0:
                return True
            clean = min(self.faults.clean_ahead, size - i, size if room is None else room)
            if clean > 0:
                self.send_clean(chunk[i:i + clean])
                i += clean
                continue
            key, value, ts = chunk[i]
            i += 1
            for record in self.faults.process(key, value, ts, sent=self.sent, newest=self.newest, room=room):
                self.emit(*record)
        return False


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
    stream, or `stop()`, with `rates` of faults mixed in (FaultInjector) at `speed`
    event-time seconds per wall-clock second (Pacer; 0: no pacing). Returns what was sent."""
    stats = out.stats
    faults = FaultInjector(rates, watermark_delay_ms=watermark_delay_ms, seed=seed, slice_ms=slice_ms, stats=stats)
    pacer = Pacer(speed)
    run = _Sender(out, faults, limit, keep)
    last_report = pacer.clock()
    for chunk in chunks:
        if not chunk:
            continue
        first = chunk[0][2]
        if pacer.first_ts is None:
            # the clock starts with the first record: a simulation's warm-up is not sending
            pacer.start(first)
            stats.first_ts, stats.started_at, last_report = first, time.time(), pacer.clock()
        final = end_ts is not None and chunk[-1][2] >= end_ts
        if final:
            chunk = [r for r in chunk if r[2] < end_ts]
        for key, value in faults.due(first):
            run.emit(key, value)
        final = run.send_chunk(chunk) or final
        if not final:
            pacer.wait(first, before_sleep=out.poll)
        if pacer.clock() - last_report >= 0.25:
            last_report = pacer.clock()
            out.poll()
            stats.records, stats.newest_ts, stats.seconds = run.sent, run.newest, pacer.elapsed()
            if progress:
                progress(stats)
        if final or stop():
            break
    for key, value in faults.drain():
        run.emit(key, value)
    stats.records, stats.newest_ts = run.sent, run.newest
    out.close()
    stats.seconds = pacer.elapsed()
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
