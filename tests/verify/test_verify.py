"""`clickpulse verify` against the real thing: generated traffic in Kafka, the metric suite
on the Flink session cluster, its tables in PostgreSQL.

The traffic is produced as a live topic holds it: each record stamped with the time it
would have arrived (the newest event time so far), so that reading a range by Kafka time
really leaves records out, and the context verify reads before a range matters. verify
reads the tables through DATABASE_URL alone (no POSTGRES_DB), as against another cluster.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic

from clickpulse import truth
from clickpulse.stack.kafka import admin
from clickpulse.stack.postgres import connect
from conftest import run_cli
from suites import isolated_suite

DAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
START = dt.datetime.combine(DAY, dt.time(10, 0), dt.timezone.utc)   # two hours of traffic from here


def at(hh_mm_ss: str) -> str:
    return f"{DAY.isoformat()}T{hh_mm_ss}Z"


def produce_as_live(settings, topic: str, records_file) -> int:
    """The generator's records, in order and in their partitions, each stamped with its
    arrival: the newest event time sent so far (late events arrive after newer ones)."""
    p = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 20})
    newest, n = 0, 0
    for line in records_file.read_text().splitlines():
        rec = json.loads(line)
        ts = truth.event_time(rec["value"], 2**62)
        newest = max(newest, ts or 0)
        p.produce(topic, rec["value"].encode(), rec["key"].encode() if rec["key"] else None,
                  partition=rec["partition"], timestamp=newest)
        n += 1
    assert p.flush(30) == 0
    return n


@pytest.fixture(scope="module")
def suite(flink, tmp_path_factory, request):
    env, tag = isolated_suite(flink, request, "verify")
    scratch = f"verify-{tag}-generated"
    a = admin(flink)   # kept: a destroyed client fails its futures
    a.create_topics([NewTopic(scratch, flink.events_partitions, 1)])[scratch].result(30)
    request.addfinalizer(lambda: admin(flink).delete_topics([scratch]))
    out = tmp_path_factory.mktemp("verify")
    run_cli("generate", "--topic", scratch, "--seed", "21", "--start", START.isoformat(), "--duration", "2h",
            "--rate", "1", "--daily-amplitude", "0", "--speed", "0", "--sites", "2", "--site-prefix", f"vf-{tag}",
            "--late", "0.01", "--duplicates", "0.01", "--malformed", "0.01", "--out-of-order", "0.05",
            # bots too: every final table, bot_events included, must have rows to compare
            "--bots", "0.02", "--truth", str(out / "truth.json"), "--quiet", env=env, timeout=300)
    produce_as_live(flink, env["CLICKPULSE_EVENTS_TOPIC"], out / "truth.records.jsonl")
    run_cli("jobs", "flush", env=env)   # close every window of that day
    verify_env = {k: v for k, v in env.items() if k != "POSTGRES_DB"}
    verify_env["DATABASE_URL"] = flink.dsn("reader", env["POSTGRES_DB"])
    s = {"env": verify_env, "db": env["POSTGRES_DB"], "sites": [f"vf-{tag}-1", f"vf-{tag}-2"], "dir": out,
         "settings": flink}
    # the first check waits until the job has written what the topic holds
    s["clean"] = verify(s, "--from", at("00:00:00"), "--to", (DAY + dt.timedelta(days=1)).isoformat(),
                        "--wait", "240")
    return s


def verify(suite, *args: str) -> tuple[int, dict]:
    """Run `clickpulse verify ARGS`; (exit code, its JSON report)."""
    where = suite["dir"] / f"report-{uuid.uuid4().hex[:6]}"
    res = run_cli("verify", *args, "--report-dir", str(where), env=suite["env"], check=False, timeout=600)
    reports = list(where.glob("verify-*.json"))
    assert len(reports) == 1, f"exit {res.returncode}, no report:\n{res.stdout}\n{res.stderr}"
    return res.returncode, json.loads(reports[0].read_text())


def admin_sql(suite, query: str, params=()) -> list:
    with connect(suite["settings"], "admin", suite["db"], autocommit=True) as c:
        cur = c.execute(query, params)
        return cur.fetchall() if cur.description else []


def counts(report: dict, table: str) -> dict:
    return {k: report["tables"][table][k] for k in ("equal", "missing", "different", "extra", "open")}


def test_a_correct_pipeline_shows_no_difference(suite):
    code, report = suite["clean"]
    assert code == 0, json.dumps(report["tables"], indent=1, default=str)[:4000]
    for table in truth.FINAL_TABLES:
        c = counts(report, table)
        if table == "retention_weekly":   # an ISO week is not wholly inside the day's range: nothing compared
            assert sum(c.values()) == 0, (table, c)
            continue
        assert c["equal"] > 0 and c["missing"] == c["different"] == c["extra"] == 0, (table, c)
        assert c["open"] == 0, (table, c)   # the flush closed every window of the day
    assert report["ok"] is True


def test_windows_cut_by_the_range_are_left_out(suite):
    """From 11:30:30 to 11:50:30: reading starts the deduplication interval (1 h) and a
    minute before, so the first records read are judged with the lead-in's event time;
    the minutes 11:31..11:49 are compared, the hour and the day are not."""
    code, report = verify(suite, "--from", at("11:30:30"), "--to", at("11:50:30"), "--wait", "0")
    assert code == 0, json.dumps(report["tables"], indent=1, default=str)[:4000]
    settings = suite["settings"]
    context_ms = max(settings.dedup_ttl_ms, truth.SESSION_GAP) + settings.max_future_ms   # 1 h + 1 min by default
    start = dt.datetime.fromisoformat(at("11:30:30")) - dt.timedelta(milliseconds=context_ms)
    assert report["read"]["from_kafka_time"] == start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert any(p["start_offset"] > 0 and p["newest_before"] for p in report["read"]["partitions"])
    for table in ("events_per_minute", "active_users_1m", "top_pages_1m", "active_users_live", "events"):
        assert counts(report, table)["equal"] > 0, table
    for table in ("top_pages_1h", "sessions_1h", "funnel_conversions", "active_users_daily"):
        assert sum(counts(report, table).values()) == 0, table


def test_a_changed_count_is_reported_as_different(suite):
    site = suite["sites"][0]
    (start, event_type, country, device, plan, events), = admin_sql(
        suite, "select window_start, event_type, country, device, plan, events from events_per_minute "
               "where site_id = %s order by events desc, window_start limit 1", (site,))
    key = "window_start = %s and site_id = %s and event_type = %s and country = %s and device = %s and plan = %s"
    params = (start, site, event_type, country, device, plan)
    admin_sql(suite, f"update events_per_minute set events = events + 1 where {key}", params)
    try:
        code, report = verify(suite, "--from", at("00:00:00"), "--to", at("23:59:00"), "--wait", "0",
                              "--tables", "events_per_minute,active_users_1m")
        other_code, other_site = verify(suite, "--from", at("00:00:00"), "--to", at("23:59:00"), "--wait", "0",
                                        "--tables", "events_per_minute", "--sites", suite["sites"][1])
    finally:
        admin_sql(suite, f"update events_per_minute set events = events - 1 where {key}", params)
    assert code == 1
    assert counts(report, "events_per_minute")["different"] == 1
    assert counts(report, "events_per_minute")["missing"] == counts(report, "events_per_minute")["extra"] == 0
    example = report["tables"]["events_per_minute"]["examples"]["different"][0]
    assert example["key"]["site_id"] == site and example["key"]["event_type"] == event_type
    assert example["columns"] == {"events": {"expected": events, "actual": events + 1}}
    assert counts(report, "active_users_1m")["different"] == 0 and set(report["tables"]) == {
        "events_per_minute", "active_users_1m"}
    assert other_code == 0 and counts(other_site, "events_per_minute")["equal"] > 0


def test_a_deleted_row_is_reported_as_missing(suite):
    site = suite["sites"][1]
    rows = admin_sql(suite, "delete from sessions_1h where site_id = %s and hour_start = %s returning *",
                     (site, START + dt.timedelta(hours=1)))
    assert len(rows) == 1
    try:
        code, report = verify(suite, "--from", at("00:00:00"), "--to", at("23:00:00"), "--wait", "0",
                              "--tables", "sessions_1h")
    finally:
        admin_sql(suite, "insert into sessions_1h values (" + ", ".join(["%s"] * len(rows[0])) + ")", rows[0])
    assert code == 1
    before = counts(suite["clean"][1], "sessions_1h")["equal"]
    assert counts(report, "sessions_1h") == {"equal": before - 1, "missing": 1, "different": 0, "extra": 0, "open": 0}
    missing = report["tables"]["sessions_1h"]["examples"]["missing"][0]
    assert missing["site_id"] == site and missing["hour_start"].startswith(at("11:00:00")[:-1])


def test_a_row_the_topic_does_not_explain_is_extra(suite):
    site = suite["sites"][0]
    admin_sql(suite, "insert into late_events (minute, site_id, events) values (%s, %s, 7)",
              (START + dt.timedelta(hours=3), site))
    try:
        code, report = verify(suite, "--from", at("00:00:00"), "--to", at("23:00:00"), "--wait", "0",
                              "--tables", "late_events")
    finally:
        admin_sql(suite, "delete from late_events where minute = %s and site_id = %s",
                  (START + dt.timedelta(hours=3), site))
    assert code == 1
    assert counts(report, "late_events")["extra"] == 1 and counts(report, "late_events")["equal"] > 0
    assert report["tables"]["late_events"]["examples"]["extra"][0]["events"] == 7
