"""The two halves of `clickpulse generate`'s sender, each on its own: the pacer keeps event
time in step with the wall clock, and the fault injector mixes in exactly the imperfections
faults.py promises. (The whole sender, with real Kafka, is in test_generator.py.)"""

from __future__ import annotations

import orjson

from clickpulse.ingest.faults import DEMO_RATES, LATE_MAX_MS, LATE_MIN_MS, MALFORMED_KINDS, WARMUP_RECORDS, FaultRates
from clickpulse.ingest.sender import FaultInjector, Pacer, Stats

DELAY_MS, SLICE_MS = 5000, 100
T0 = 1_700_000_000_000


class FakeClock:
    """Wall-clock time that moves only when slept through or advanced."""

    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def record(i: int, ts: int) -> tuple[bytes, str, int]:
    """A record as the simulation writes it: site_id first, ts last."""
    value = orjson.dumps({"site_id": "s1", "user_id": f"u{i % 7}", "event_id": f"e{i}", "event_type": "page_view",
                          "page": "/", "ts": ts}).decode()
    return f"u{i % 7}".encode(), value, ts


def injector(rates: FaultRates, seed: int = 1) -> FaultInjector:
    return FaultInjector(rates, watermark_delay_ms=DELAY_MS, seed=seed, slice_ms=SLICE_MS, stats=Stats())


# --- pacer -------------------------------------------------------------------------------------

def test_the_pacer_waits_until_event_time_is_due_at_the_given_speed():
    clock = FakeClock()
    pacer = Pacer(2.0, clock=clock, sleep=clock.sleep)
    pacer.start(T0)
    clock.now += 1.0
    polled = []
    pacer.wait(T0 + 10_000, before_sleep=lambda: polled.append(clock.now))
    # 10 s of event time at speed 2 is due 5 s after the start; 1 s has passed
    assert clock.slept == [4.0] and polled == [101.0]
    assert pacer.elapsed() == 5.0


def test_the_pacer_does_not_wait_when_behind_or_unpaced():
    clock = FakeClock()
    behind = Pacer(1.0, clock=clock, sleep=clock.sleep)
    behind.start(T0)
    clock.now += 3.0
    behind.wait(T0 + 2_000, before_sleep=lambda: clock.slept.append(-1))
    assert behind.ahead(T0 + 2_000) == -1.0
    unpaced = Pacer(0, clock=clock, sleep=clock.sleep)
    unpaced.start(T0)
    unpaced.wait(T0 + 3_600_000)
    assert clock.slept == []


# --- fault injector ----------------------------------------------------------------------------

def test_without_faults_every_record_goes_out_unchanged():
    faults = injector(FaultRates())
    for i in range(1000):
        key, value, ts = record(i, T0 + i)
        assert faults.process(key, value, ts, sent=i, newest=ts, room=None) == [(key, value, ts)]
    assert faults.pending == 0 and faults.clean_ahead == float("inf")
    assert list(faults.drain()) == []


def test_out_of_order_records_are_held_less_than_half_the_delay_and_never_late():
    faults = injector(FaultRates(out_of_order=1.0))
    records = [record(i, T0 + i * 50) for i in range(400)]
    for i, (key, value, ts) in enumerate(records):
        assert faults.process(key, value, ts, sent=0, newest=None, room=None) == []
    assert faults.stats.out_of_order == 400 and faults.pending == 400
    released_by = {}
    for stream_ts in range(T0, T0 + 400 * 50 + DELAY_MS, SLICE_MS):
        for _, value in faults.due(stream_ts):
            released_by[value] = stream_ts
    assert faults.pending == 0
    for _, value, ts in records:
        # after its own time, within half the watermark delay (one more slice at a chunk boundary)
        assert ts + 1 < released_by[value] <= ts + DELAY_MS // 2 + SLICE_MS


def test_a_duplicate_is_sent_now_and_again_later_unless_the_limit_leaves_no_room():
    faults = injector(FaultRates(duplicates=1.0))
    key, value, ts = record(1, T0)
    assert faults.process(key, value, ts, sent=0, newest=None, room=None) == [(key, value, ts)]
    assert list(faults.drain()) == [(key, value)]
    key, value, ts = record(2, T0 + 10)
    assert faults.process(key, value, ts, sent=9, newest=T0, room=1) == [(key, value, ts)]
    assert faults.pending == 0 and faults.stats.duplicates == 1


def test_late_records_come_after_the_warm_up_far_behind_the_watermark():
    faults = injector(FaultRates(late=1.0))
    newest = T0 + 3_600_000
    key, value, ts = record(1, newest)
    assert faults.process(key, value, ts, sent=WARMUP_RECORDS - 1, newest=newest, room=None) == [(key, value, ts)]
    assert faults.stats.late == 0
    for i in range(200):
        key, value, ts = record(i, newest)
        [(k, late, counted_ts)] = faults.process(key, value, ts, sent=WARMUP_RECORDS + i, newest=newest, room=None)
        late_ts = orjson.loads(late)["ts"]
        assert k == key and counted_ts is None
        assert newest - DELAY_MS - LATE_MAX_MS <= late_ts <= newest - DELAY_MS - LATE_MIN_MS
        assert orjson.loads(late)["event_id"] == f"e{i}"
    assert faults.stats.late == 200


def test_malformed_records_keep_their_site_and_are_counted_by_kind():
    faults = injector(FaultRates(malformed=1.0))
    for i in range(300):
        key, value, ts = record(i, T0 + i)
        [(_, broken, counted_ts)] = faults.process(key, value, ts, sent=i, newest=None, room=None)
        assert broken != value and counted_ts is None and '"site_id":"s1"' in broken
    assert faults.stats.malformed == 300
    assert set(faults.stats.malformed_kinds) == set(MALFORMED_KINDS)
    assert sum(faults.stats.malformed_kinds.values()) == 300


def test_the_demo_rates_come_out_as_configured_and_the_seed_fixes_every_decision():
    n = 200_000
    records = [record(i, T0 + i) for i in range(n)]

    def run(seed: int) -> tuple[list, Stats]:
        faults, out = injector(DEMO_RATES, seed), []
        for i, (key, value, ts) in enumerate(records):
            out += faults.process(key, value, ts, sent=i, newest=ts, room=None)
        return out + list(faults.drain()), faults.stats

    sent, stats = run(7)
    for name in ("out_of_order", "duplicates", "late", "malformed"):
        expected = getattr(DEMO_RATES, name) * n
        assert abs(getattr(stats, name) - expected) < 0.15 * expected, name
    assert len(sent) == n + stats.duplicates
    assert run(7)[0] == sent and run(8)[0] != sent
