"""Bad input loses nothing: malformed records are counted by reason (their payloads go to
the dead-letter topic), late events are counted per minute of arrival, and the job's
parser agrees with the contract's reference on every record."""

from __future__ import annotations

import json
import random

import pytest

from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records

GOOD = event("x", 0)

# (payload, reason) — one per rule of the contract
INVALID = [
    ("", "empty payload"),
    ("   ", "empty payload"),
    ("{'single': 'quotes'}", "not JSON"),
    ('{"event_id": "a"} trailing', "not JSON"),
    ('{"ts": NaN}', "not JSON"),
    ("[1, 2]", "not a JSON object"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "event_id"}), "event_id: missing"),
    (json.dumps({**GOOD, "event_id": 7}), "event_id: expected string"),
    (json.dumps({**GOOD, "event_id": ""}), "event_id: empty"),
    (json.dumps({**GOOD, "event_id": "x" * 129}), "event_id: longer than 128"),
    (json.dumps({**GOOD, "event_type": "page view"}), "event_type: only letters, digits and _ . : - allowed"),
    (json.dumps({**GOOD, "site_id": None}), "site_id: missing"),
    (json.dumps({**GOOD, "user_id": ["u"]}), "user_id: expected string"),
    (json.dumps({**GOOD, "ts": "1700000000000"}), "ts: expected integer epoch milliseconds"),
    (json.dumps({**GOOD, "ts": 1.7e12}), "ts: expected integer epoch milliseconds"),
    (json.dumps({**GOOD, "ts": True}), "ts: expected integer epoch milliseconds"),
    (json.dumps({**GOOD, "ts": -1}), "ts: out of range"),
    (json.dumps({**GOOD, "ts": 4102444800000}), "ts: too far in the future"),   # 2100-01-01
    (json.dumps({k: v for k, v in GOOD.items() if k != "page"}), "page: missing"),
    (json.dumps({**GOOD, "country": "Germany"}), "country: longer than 2"),
    (json.dumps({**GOOD, "country": "D1"}), "country: expected ISO 3166-1 alpha-2"),
    (json.dumps({**GOOD, "device": "watch"}), "device: expected desktop, mobile or tablet"),
    (json.dumps({**GOOD, "properties": [1]}), "properties: expected object"),
    (json.dumps({**GOOD, "schema_version": 0}), "schema_version: expected integer >= 1"),
    (json.dumps({**GOOD, "bot": 1}), "bot: expected string"),
    (json.dumps({**GOOD, "bot": "b" * 65}), "bot: longer than 64"),
]


@pytest.fixture(scope="module")
def invalid_tables():
    # each record arrives in a minute of its own, so each reason is one row
    recs = records([p for p, _ in INVALID], arrival_step=MIN)
    return recs, run(recs, "invalid_events", "events")


def test_each_rule_has_its_reason(invalid_tables):
    recs, tables = invalid_tables
    same_rows(tables["invalid_events"], [
        dict(minute=ts_utc(T0 + i * MIN), site_id="s1" if '"site_id": "s1"' in p else "unknown", reason=reason,
             events=1)
        for i, (p, reason) in enumerate(INVALID)])
    assert tables["events"] == []


LATE_ITEMS = [
    event("e1", 10 * MIN),
    event("e2", 5 * MIN),                  # LATE: 5 min behind; arrives in minute 0
    event("e3", 10 * MIN + 1 * SEC),
    event("e2", 5 * MIN),                  # the late event resent: late again (only on-time events are
                                           # remembered: a copy of one is dropped while it is on time)
    event("e4", 9 * MIN + 56 * SEC),       # exactly 5 s behind the newest (10:01): LATE
    event("e5", 9 * MIN + 57 * SEC),       # 4 s behind: on time
    event("e6", 1 * MIN, site="s2"),       # LATE, site s2 (the watermark is global)
]


@pytest.fixture(scope="module")
def late_tables():
    recs = records(LATE_ITEMS, arrival_step=20 * SEC)   # minutes of arrival: 0,0,0,1,1,1,2
    return recs, run(recs, "late_events", "events_per_minute")


def test_late_events_per_minute_of_arrival(late_tables):
    _, tables = late_tables
    same_rows(tables["late_events"], [
        dict(minute=ts_utc(T0), site_id="s1", events=1),              # e2
        dict(minute=ts_utc(T0 + MIN), site_id="s1", events=2),        # e2 again, e4
        dict(minute=ts_utc(T0 + 2 * MIN), site_id="s2", events=1),    # e6
    ])
    assert sum(r["events"] for r in tables["events_per_minute"]) == 3   # e1, e3, e5


def test_late_matches_reference(late_tables):
    recs, tables = late_tables
    same_as_truth(tables, recs)


COPY_ITEMS = [  # (Kafka partition, event)
    (0, event("c1", 0)),
    (0, event("c1", 0)),             # a copy while it could be on time: dropped
    (1, event("c1", 0)),             # the same id in another partition: not a copy of partition 0's
    (0, event("c2", 10 * SEC)),      # partition 0's time moves 10 s on: c1's copies would now be late
    (0, event("c1", 0)),             # so c1 is forgotten, and this copy is counted as a late event
    (1, event("c1", 0)),             # partition 1 is still at 0 s: a copy, dropped
]


def test_copies_count_once_while_they_could_be_on_time():
    recs = [{"payload": json.dumps(ev), "kafka_ts_ms": T0 + i * SEC, "kafka_partition": part, "kafka_offset": i}
            for i, (part, ev) in enumerate(COPY_ITEMS)]
    tables = run(recs, "late_events", "events_per_minute")
    assert [r["events"] for r in tables["events_per_minute"]] == [3]   # c1 in each partition, c2
    same_rows(tables["late_events"], [dict(minute=ts_utc(T0), site_id="s1", events=1)])
    same_as_truth(tables, recs)


def _mutations(seed: int, n: int) -> list[str]:
    """Payloads around the contract's edges: each starts from a valid event and breaks or
    stretches one thing."""
    rng = random.Random(seed)
    values = [None, "", " ", "x", "é", "😀" * 64, "😀" * 65, "a" * 128, "a" * 129, "a" * 2049, 0, -1, 1, 2**63,
              2**64, 1.5, 1e300, True, False, [], {}, {"a": [1, {"b": None}]}, "DE", "de", "D", "Mobile", "TABLET",
              "a" * 256, "a" * 257, "😀" * 128, "😀" * 129, "https://WWW.Example.com:8080/x", "http://a@b:c/", "HTTPS://İ.x",
              "desktop ", 1_700_000_000_000, 32503680000000, 32503680000001]
    fields = ["event_id", "event_type", "site_id", "user_id", "session_id", "ts", "page", "referrer", "country",
              "device", "plan", "properties", "schema_version", "bot", "utm_source", "utm_medium", "utm_campaign",
              "unknown_field"]
    out = []
    for i in range(n):
        ev = event(f"m{i}", rng.randint(0, 5 * MIN), site=rng.choice(["s1", "s2"]))
        for _ in range(rng.choice([0, 1, 1, 2])):
            f = rng.choice(fields)
            if rng.random() < 0.2:
                ev.pop(f, None)
            else:
                ev[f] = rng.choice(values)
        text = json.dumps(ev, ensure_ascii=rng.random() < 0.5)
        if rng.random() < 0.05:
            text = rng.choice([text[:-1], text + "x", " " + text + "\n", text.replace('"', "'", 2)])
        out.append(text)
    return out


@pytest.fixture(scope="module")
def mutation_records():
    return records(_mutations(seed=20231114, n=400), arrival_step=MIN)


def test_parser_agrees_with_the_reference_on_edge_cases(mutation_records):
    tables = run(mutation_records, "invalid_events", "events")
    same_as_truth(tables, mutation_records)
    assert tables["events"] and tables["invalid_events"], "the corpus must hold both kinds"


def test_lateness_is_judged_within_each_partition():
    """A partition read after another has moved far ahead is not late for that: each
    event is compared with the newest event time of its own partition only."""
    items = [
        (0, event("p0a", 10 * MIN)),
        (0, event("p0b", 11 * MIN)),
        (1, event("p1a", 2 * MIN, user="u2")),          # on time: partition 1 has seen nothing newer
        (1, event("p1b", 2 * MIN + 30 * SEC, user="u2")),
        (1, event("p1c", 2 * MIN + 20 * SEC, user="u2")),  # 10 s behind p1b: LATE in partition 1
        (0, event("p0c", 10 * MIN + 57 * SEC)),          # 3 s behind p0b (22:11:00): within the 5 s delay
    ]
    recs = []
    for i, (part, ev) in enumerate(items):
        recs.append({"payload": json.dumps(ev), "kafka_ts_ms": T0 + i * 100, "kafka_partition": part, "kafka_offset": i})
    tables = run(recs, "events", "late_events")
    assert sorted(r["event_id"] for r in tables["events"]) == ["p0a", "p0b", "p0c", "p1a", "p1b"]
    assert [r["events"] for r in tables["late_events"]] == [1]
    same_as_truth(tables, recs)
