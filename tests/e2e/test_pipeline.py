"""End to end: `clickpulse generate` -> Kafka -> the metric suite on the Flink session
cluster -> PostgreSQL, compared table by table with clickpulse.truth over the very records
the generator sent. Halfway through, the TaskManager is killed with SIGKILL and nobody
restarts it: the stack's supervisor must start it again, the job must come back from its
last checkpoint by Flink's restart strategy and still count every event exactly once.

The suite runs here as a second job with its own topics, consumer group and database,
so it neither disturbs nor is disturbed by a demo running on the same stack."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition

from clickpulse import truth
from clickpulse.runner.funnels import load_funnels
from clickpulse.stack import flink as fl
from clickpulse.stack import supervisor
from conftest import run_cli
from suites import isolated_suite

TABLES = ["events_per_minute", "active_users_1m", "active_users_live", "active_users_daily", "top_pages_1m",
          "top_pages_1h", "sessions_1h", "funnel_conversions", "funnel_breakdown", "events", "late_events",
          "invalid_events"]


@pytest.fixture(scope="module")
def suite(flink, tmp_path_factory, request):
    """An isolated deployment of the suite; torn down (job, topics, database) afterwards."""
    env, tag = isolated_suite(flink, request, "e2e", CLICKPULSE_CHECKPOINT_INTERVAL_MS="3000")
    return {"env": env, "tag": tag, "dir": tmp_path_factory.mktemp("e2e"), "settings": flink}


def generate(suite, name: str, seed: int, start: str, events: int) -> list[str]:
    """Run the generator into the suite's topic; the records it sent, in order."""
    truth_file = suite["dir"] / f"{name}.json"
    run_cli("generate", "--topic", suite["env"]["CLICKPULSE_EVENTS_TOPIC"], "--seed", str(seed), "--start", start,
            "--events", str(events), "--rate", "20", "--speed", "0", "--sites", "2",
            "--site-prefix", f"e2e-{suite['tag']}", "--late", "0.01", "--duplicates", "0.01", "--malformed", "0.01",
            "--out-of-order", "0.05", "--truth", str(truth_file), "--quiet", env=suite["env"], timeout=600)
    sent = truth_file.with_name(f"{name}.records.jsonl")
    return [json.loads(line)["value"] for line in sent.read_text().splitlines()]


def read_topic(settings, topic: str) -> list[dict]:
    """Every record of `topic`, partition by partition in offset order, as the job read them
    (ticks included): the reference's input."""
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"read-{uuid.uuid4().hex}",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    parts = sorted(c.list_topics(topic, timeout=10).topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    out: dict[int, list] = {p: [] for p in parts}
    done: set[int] = set()
    deadline = time.monotonic() + 120
    while len(done) < len(parts) and time.monotonic() < deadline:
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                done.add(msg.partition())
            continue
        out[msg.partition()].append({"payload": msg.value().decode("utf-8", "replace"),
                                     "kafka_ts_ms": msg.timestamp()[1], "kafka_partition": msg.partition(),
                                     "kafka_offset": msg.offset()})
    c.close()
    return [r for p in parts for r in out[p]]


def _value(v):
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dict):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    return v


def table_rows(settings, db: str, table: str) -> list[dict]:
    with psycopg.connect(settings.dsn("reader", db)) as c:
        cur = c.execute(f"select * from {table}")
        names = [d.name for d in cur.description]
        return [{n: _value(v) for n, v in zip(names, row)} for row in cur.fetchall()]


def _norm(rows: list[dict]) -> set:
    return {tuple(sorted((k, round(v, 9) if isinstance(v, float) else v) for k, v in r.items())) for r in rows}


def expected_tables(records: list[dict]) -> dict[str, list[dict]]:
    want = truth.compute(records, funnels=load_funnels())
    for r in want["events"]:
        if r["properties"] is not None:
            r["properties"] = json.dumps(json.loads(r["properties"]), separators=(",", ":"), sort_keys=True)
    return want


def differences(settings, db: str, want: dict) -> dict[str, str]:
    diffs = {}
    for t in TABLES:
        got = _norm(table_rows(settings, db, t))
        exp = _norm(want[t])
        if got != exp:
            diffs[t] = (f"{len(got)} rows vs {len(exp)} expected; only in the table: {[dict(x) for x in list(got - exp)[:2]]}"
                        f"; missing: {[dict(x) for x in list(exp - got)[:2]]}")
    return diffs


def wait_for_equal(settings, db: str, want: dict, timeout: float = 240) -> dict:
    deadline = time.monotonic() + timeout
    diffs = differences(settings, db, want)
    while diffs and time.monotonic() < deadline:
        time.sleep(5)
        diffs = differences(settings, db, want)
    return diffs


def test_generator_to_tables_survives_a_taskmanager_crash(suite):
    settings, env, db = suite["settings"], suite["env"], suite["env"]["POSTGRES_DB"]
    # Yesterday evening (UTC): `jobs flush` can move event time only up to about now (events
    # more than a minute ahead of the clock are invalid), so today's cumulating day window
    # would stay open while the reference closes every window.
    yesterday = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    start = dt.datetime.combine(yesterday, dt.time(20, 0), dt.timezone.utc)
    # first half: 6000 events, sent as fast as the generator can
    first = generate(suite, "first", seed=11, start=start.isoformat(), events=6000)
    # let the job checkpoint some of it (every 3 s here), then crash its TaskManager
    time.sleep(8)
    killed_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    assert fl.kill_taskmanager(), "no TaskManager to kill"
    # second half, while the job recovers: it continues where the first left off in event time
    last_ts = max(t for t in map(_ts, first) if isinstance(t, int))
    generate(suite, "second", seed=12, start=dt.datetime.fromtimestamp(last_ts / 1000, dt.timezone.utc).isoformat(),
             events=6000)
    restart = wait_for_restart("flink-taskmanager-1", since=killed_at, timeout=240)
    assert "SIGKILL" in restart["died"]["reason"], restart
    wait_for_job_state(settings, env["CLICKPULSE_JOB_NAME"], "RUNNING", timeout=180)
    run_cli("jobs", "flush", env=env)     # close every window: sessions, hours, the day
    want = expected_tables(read_topic(settings, env["CLICKPULSE_EVENTS_TOPIC"]))
    assert all(want[t] for t in ("sessions_1h", "funnel_conversions", "late_events", "invalid_events"))
    diffs = wait_for_equal(settings, db, want)
    assert not diffs, "\n".join(f"{t}: {d}" for t, d in diffs.items())


def wait_for_restart(unit: str, since: dt.datetime, timeout: float) -> dict:
    """The supervisor's log entries for `unit` dying and being restarted after `since`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        events = [e for e in supervisor.history()
                  if e["unit"] == unit and dt.datetime.fromisoformat(e["time"]) >= since]
        died = next((e for e in events if e["event"] == "died"), None)
        restarted = next((e for e in events if e["event"] == "restarted"), None)
        if died and restarted:
            return {"died": died, "restarted": restarted}
        time.sleep(1)
    raise AssertionError(f"the supervisor did not restart {unit} within {timeout:.0f}s: "
                         f"{supervisor.history()[-5:]}")


def wait_for_job_state(settings, name: str, state: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = [j["state"] for j in fl.jobs(settings) if j["name"] == name]
        if seen == [state] and _all_tasks_running(settings, name):
            return
        time.sleep(2)
    raise AssertionError(f"job {name} is {seen}, not {state}, {timeout:.0f}s after the crash")


def _all_tasks_running(settings, name: str) -> bool:
    jid = next(j["jid"] for j in fl.jobs(settings) if j["name"] == name)
    vertices = fl.rest(settings, f"/jobs/{jid}")["vertices"]
    return all(v["status"] == "RUNNING" for v in vertices)


def _ts(payload: str):
    try:
        return json.loads(payload).get("ts")
    except (ValueError, AttributeError, TypeError):
        return None


def test_dead_letters_carry_payload_and_reason(suite):
    """Every malformed record is on the dead-letter topic with its payload and reason
    (at least once: a record may appear twice after a recovery)."""
    settings, env = suite["settings"], suite["env"]
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"e2e-{suite['tag']}-dlq",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    topic = env["CLICKPULSE_DEAD_LETTER_TOPIC"]
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    letters, idle = [], 0
    while idle < 5:
        msg = c.poll(1.0)
        if msg is None:
            idle += 1
            continue
        if not msg.error():
            letters.append(json.loads(msg.value()))
    c.close()
    invalid = sum(r["events"] for r in table_rows(settings, env["POSTGRES_DB"], "invalid_events"))
    assert letters and invalid
    assert len({(d["kafka_partition"], d["kafka_offset"]) for d in letters}) == invalid
    assert all(d["reason"] and d["payload"] is not None and d["source"] == "flink" for d in letters)
