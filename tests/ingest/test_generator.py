"""The traffic generator: what it sends is exactly what it says it sent (and what the ground
truth is computed from), its imperfections are unambiguous, its traffic has the shape the
funnels and dashboards need, and it is repeatable."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import orjson
import pytest

from clickpulse import bots, truth as reference
from clickpulse.ingest.bottraffic import BURST, DECLARED_USER_AGENTS
from clickpulse.ingest.simulation import Simulation
from clickpulse.ingest.schema import default_schema
from clickpulse.ingest.traffic import Profile
from conftest import CLI, ROOT, run_cli

from .support import KafkaTail, funnel_length, funnel_steps_reached

DAY = 86_400_000


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def events_tail(kafka):
    tail = KafkaTail(kafka.kafka_bootstrap_servers, kafka.events_topic)
    yield tail
    tail.close()


def generate(*args: str, env: dict | None = None, check: bool = True):
    return run_cli("generate", "--quiet", *args, env={**os.environ, **(env or {})}, check=check, timeout=300)


def read_records(path: Path) -> list[tuple[str | None, str]]:
    return [(r["key"], r["value"]) for r in map(json.loads, path.read_text().splitlines())]


def read_partitions(path: Path) -> list[int]:
    return [r["partition"] for r in map(json.loads, path.read_text().splitlines())]


def events_of(records) -> list[dict]:
    out = []
    for _, value in records:
        try:
            out.append(orjson.loads(value))
        except orjson.JSONDecodeError:
            pass
    return out


# --- what is sent is what is recorded -------------------------------------------------------------

def test_a_bounded_run_sends_exactly_the_records_it_writes_down(kafka, events_tail, prefix, tmp_path):
    truth = tmp_path / "truth.json"
    res = generate("--events", "5000", "--speed", "0", "--sites", "2", "--site-prefix", prefix, "--seed", "11",
                   "--truth", str(truth))
    records = read_records(tmp_path / "truth.records.jsonl")
    assert len(records) == 5000
    assert "sent 5,000 records" in res.stderr and "all acknowledged by Kafka" in res.stderr
    ours = [(k, v) for k, v in records if prefix in v]
    got = events_tail.read(prefix, count=len(ours), timeout=60)
    assert sorted(r.value.decode() for r in got) == sorted(v for _, v in ours)
    # per key (user), Kafka keeps the order in which they were produced
    by_key_sent, by_key_kafka = defaultdict(list), defaultdict(list)
    for k, v in ours:
        by_key_sent[k].append(v)
    for r in sorted(got, key=lambda r: (r.partition, r.offset)):
        by_key_kafka[r.key.decode() if r.key else None].append(r.value.decode())
    assert by_key_kafka == by_key_sent
    # the partition written down for each record (the reference judges lateness by it) is
    # the one Kafka put it in
    partition_of = dict(zip((v for _, v in records), read_partitions(tmp_path / "truth.records.jsonl")))
    assert all(partition_of[r.value.decode()] == r.partition for r in got)
    tables = json.loads(truth.read_text())
    parts = read_partitions(tmp_path / "truth.records.jsonl")
    expected = json.loads(orjson.dumps(reference.compute(
        [{"payload": v, "kafka_partition": p} for (_, v), p in zip(records, parts)],
        watermark_delay_ms=kafka.watermark_delay_ms), option=orjson.OPT_NON_STR_KEYS, default=str))
    assert tables == expected and tables and all(isinstance(rows, list) for rows in tables.values())


def test_the_same_seed_gives_the_same_traffic(kafka, prefix, tmp_path):
    start = str(int(time.time()) * 1000)
    runs = {}
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        generate("--events", "3000", "--speed", "0", "--site-prefix", prefix, "--seed", seed, "--start", start,
                 "--truth", str(tmp_path / f"{name}.json"))
        runs[name] = (tmp_path / f"{name}.records.jsonl").read_bytes()
    assert runs["a"] == runs["b"]
    assert runs["a"] != runs["c"]


# --- imperfections ---------------------------------------------------------------------------

@pytest.mark.parametrize("delay_ms", [5000, 2000])
def test_imperfections_are_unambiguous(kafka, prefix, tmp_path, delay_ms):
    truth = tmp_path / "t.json"
    res = generate("--events", "20000", "--speed", "0", "--site-prefix", prefix, "--seed", "5", "--rate", "400",
                   "--out-of-order", "0.1", "--late", "0.02", "--duplicates", "0.05", "--malformed", "0.02",
                   "--truth", str(truth), env={"CLICKPULSE_WATERMARK_DELAY_MS": str(delay_ms)})
    records = read_records(tmp_path / "t.records.jsonl")
    schema = default_schema()
    newest = None
    seen: dict[str, str] = {}
    kinds = Counter()
    for i, (key, value) in enumerate(records):
        try:
            ev = orjson.loads(value)
        except orjson.JSONDecodeError:
            kinds["not JSON"] += 1
            continue
        reason = schema.reason(ev)
        if reason:
            kinds[reason] += 1
            assert ev["site_id"].startswith(prefix), "malformed records keep their site"
            continue
        if newest is not None and ev["ts"] < newest:
            behind = newest - ev["ts"]
            if behind <= delay_ms // 2:
                kinds["out of order"] += 1
            else:
                assert behind >= delay_ms + 60_000, f"record {i} is {behind} ms behind: neither on time nor late"
                assert behind <= delay_ms + 600_000
                assert i >= 1000, "late events only after the warm-up"
                kinds["late"] += 1
        if ev["event_id"] in seen:
            assert seen[ev["event_id"]] == value, "a duplicate is the identical payload"
            kinds["duplicate"] += 1
        seen[ev["event_id"]] = value
        newest = ev["ts"] if newest is None else max(newest, ev["ts"])
    summary = res.stderr
    assert f"{kinds['late']:,} late" in summary and f"{kinds['duplicate']:,} duplicates" in summary
    malformed = kinds["not JSON"] + sum(n for k, n in kinds.items() if ":" in k)
    assert f"{malformed:,} malformed" in summary
    assert kinds["not JSON"] > 0 and kinds["ts: expected integer epoch milliseconds"] > 0
    assert any(k.endswith(": missing") for k in kinds)
    assert 0.015 * 20000 < kinds["late"] < 0.025 * 20000
    assert kinds["out of order"] > 0.05 * 20000


# --- the shape of the traffic ----------------------------------------------------------------

def simulate(n: int, rate: float = 50, profile: Profile | None = None, start: int = 1_790_000_000_000,
             sites: int = 3, until: int | None = None) -> list[dict]:
    """The first `n` events (or those before `until`) of a simulation, parsed."""
    sim = Simulation(profile or Profile(), [f"site-{i}" for i in range(1, sites + 1)], rate, start, 1, "t")
    out = []
    for _, value, ts in sim:
        if until is not None and ts >= until:
            break
        out.append(orjson.loads(value))
        if len(out) >= n:
            break
    return out


def test_pages_and_events_fit_the_funnel_definitions():
    events = simulate(60_000)
    pages = Counter(e["page"].split("/")[1] if e["page"].count("/") > 1 else e["page"] for e in events)
    for page in ("/", "landing", "products", "/pricing", "blog", "/cart", "/checkout", "/signup"):
        assert pages[page] > 0, page
    types = Counter(e["event_type"] for e in events)
    for t in ("page_view", "click", "form_submit", "signup", "add_to_cart", "purchase", "video_play",
              "newsletter_subscribe"):
        assert types[t] > 0, t
    by_user = defaultdict(list)
    for e in events:
        by_user[e["user_id"]].append(e)
    completed = Counter()
    for user_events in by_user.values():
        for funnel, reached in funnel_steps_reached(sorted(user_events, key=lambda e: e["ts"])).items():
            if reached == funnel_length(funnel):
                completed[funnel] += 1
    assert completed["signup"] > 50 and completed["product_purchase"] > 50
    schema = default_schema()
    assert all(schema.reason(e) is None for e in events)


def test_the_promoted_properties_have_data():
    """Every promoted property of sql/properties.yaml (button, experiment) takes real values
    in the generated traffic, so the dimensions of events_per_minute are not all 'none';
    every event, page views included, carries its session's arm, so funnel_breakdown's
    experiment rows (segment of the first step, a page view) are not all 'none' either."""
    from clickpulse.runner.properties import load_properties

    events = simulate(20_000)
    for p in load_properties():
        values = Counter(p.value(e.get("properties")) for e in events)
        assert len(set(values) - {"none"}) >= 2, (p.name, values)
    clicks = [e for e in events if e["event_type"] == "click"]
    assert clicks and all(isinstance(e["properties"].get("button"), str) for e in clicks)
    assert {e["properties"]["experiment"] for e in events} == {"control", "new_pricing"}
    sessions = defaultdict(set)
    for e in events:
        sessions[(e["site_id"], e["session_id"])].add(e["properties"]["experiment"])
    assert all(len(arms) == 1 for arms in sessions.values()), "a session is in one arm"


def test_conversion_rates_are_what_was_asked_for():
    def rate(events, page_prefix: str, then: str, followed_only: bool = False) -> float:
        """Of the views of matching pages, the share whose next event in the session is `then`
        (`followed_only`: of those views followed by anything; the stream is cut off at the end)."""
        sessions = defaultdict(list)
        for e in events:
            sessions[e["session_id"]].append(e)
        views = converted = 0
        for s in sessions.values():
            for a, b in zip(s, s[1:] + [None]):
                if a["event_type"] == "page_view" and a["page"].startswith(page_prefix) and (b or not followed_only):
                    views += 1
                    converted += b is not None and b["event_type"] == then
        return converted / views

    events = simulate(80_000, profile=Profile(funnels={"signup": [0.25, 0.3], "product_purchase": [0.5, 0.4]}))
    assert 0.46 < rate(events, "/products/", "add_to_cart") < 0.54
    assert 0.37 < rate(events, "/cart", "click") < 0.43  # cart -> checkout click -> purchase
    never = simulate(20_000, profile=Profile(funnels={"signup": [1.0, 1.0], "product_purchase": [0.0, 0.0]}))
    assert not any(e["event_type"] == "add_to_cart" for e in never)
    assert rate(never, "/landing/", "click", followed_only=True) == 1.0
    assert rate(never, "/signup", "form_submit", followed_only=True) == 1.0


def test_segments_follow_the_profile():
    profile = Profile(countries={"US": 0.6, "DE": 0.3, None: 0.1}, devices={"mobile": 0.5, "desktop": 0.5},
                      plans={"pro": 1.0})
    users = {e["user_id"]: e for e in simulate(60_000, profile=profile)}
    countries = Counter(u.get("country") for u in users.values())
    n = len(users)
    assert abs(countries["US"] / n - 0.6) < 0.05 and abs(countries["DE"] / n - 0.3) < 0.05
    assert abs(countries[None] / n - 0.1) < 0.04
    assert {u["device"] for u in users.values()} == {"mobile", "desktop"}
    assert {u["plan"] for u in users.values()} == {"pro"}
    # over a few hours; in the first hour few users have been away long enough to come back
    events = simulate(60_000, rate=4, profile=profile)
    session_start, user_start = {}, {}
    for e in events:
        session_start.setdefault(e["session_id"], (e["ts"], e["user_id"]))
        user_start.setdefault(e["user_id"], e["ts"])
    after = events[0]["ts"] + 3_600_000
    sessions = [(ts, user) for ts, user in session_start.values() if ts > after]
    returning = sum(1 for ts, user in sessions if user_start[user] < ts) / len(sessions)
    assert 0.25 < returning < 0.4, "about returning_share (0.35) of the sessions are a returning user's"


def test_sites_share_traffic_unevenly():
    sites = Counter(e["site_id"] for e in simulate(30_000, sites=4))
    assert set(sites) == {"site-1", "site-2", "site-3", "site-4"}
    assert sites["site-1"] > sites["site-2"] > sites["site-4"]


def test_arrivals_follow_a_daily_cycle():
    midnight = 1_789_948_800_000  # 00:00 UTC
    per_hour = Counter((e["ts"] - midnight) // 3_600_000
                       for e in simulate(10**9, rate=1.5, start=midnight, until=midnight + DAY))
    peak = sum(per_hour[h] for h in (13, 14, 15, 16, 17))
    trough = sum(per_hour[h] for h in (1, 2, 3, 4, 5))
    assert peak > 2 * trough
    flat = Counter((e["ts"] - midnight) // 3_600_000
                   for e in simulate(10**9, rate=1.5, start=midnight, until=midnight + DAY,
                                     profile=Profile(daily_amplitude=0.0)))
    assert 0.8 < sum(flat[h] for h in (13, 14, 15, 16, 17)) / sum(flat[h] for h in (1, 2, 3, 4, 5)) < 1.25


def test_events_stay_in_time_order_per_session_and_ids_are_unique():
    events = simulate(30_000)
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)
    assert len({e["event_id"] for e in events}) == len(events)


# --- the command line ------------------------------------------------------------------------

def test_rate_duration_and_sites_from_the_command_line(kafka, events_tail, prefix, tmp_path):
    started = time.time() * 1000
    # flat traffic: with the default daily cycle the rate is up to 1.5x --rate near the
    # peak hour (15:00 UTC), which is not what this test is about
    res = generate("--rate", "300", "--duration", "4s", "--sites", "4", "--site-prefix", prefix,
                   "--daily-amplitude", "0",
                   "--out-of-order", "0", "--late", "0", "--duplicates", "0", "--malformed", "0",
                   "--truth", str(tmp_path / "t.json"))
    took = time.time() * 1000 - started
    records = read_records(tmp_path / "t.records.jsonl")
    events = events_of(records)
    assert 3500 < took < 30_000
    assert 300 * 4 * 0.6 < len(records) < 300 * 4 * 1.5, res.stderr
    assert {e["site_id"] for e in events} == {f"{prefix}-{i}" for i in range(1, 5)}
    # event time starts when the command does and spans --duration (however long it took to start)
    first, last = min(e["ts"] for e in events), max(e["ts"] for e in events)
    assert started - 1000 <= first and last <= started + took and last - first <= 4000
    assert len(events_tail.read(prefix, count=len(records), timeout=60)) == len(records)


def test_options_on_top_of_a_profile_file(kafka, prefix, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text("countries: {JP: 1}\ndevices: {tablet: 1}\nfunnels: {product_purchase: [0.0, 0.0]}\n")
    generate("--events", "3000", "--speed", "0", "--site-prefix", prefix, "--profile", str(profile),
             "--funnel", "signup=1,1", "--malformed", "0", "--truth", str(tmp_path / "t.json"))
    events = events_of(read_records(tmp_path / "t.records.jsonl"))
    assert {e.get("country") for e in events} == {"JP"} and {e["device"] for e in events} == {"tablet"}
    assert not any(e["event_type"] == "add_to_cart" for e in events)
    assert any(e["event_type"] == "signup" for e in events)


def test_progress_bar_shows_the_achieved_rate(kafka, prefix):
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal user running the generator
        os.chdir(ROOT)
        os.execv(CLI[0], [CLI[0], "generate", "--rate", "500", "--duration", "3s", "--site-prefix", prefix])
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "records" in text and "/s" in text and "event time" in text and "sent" in text


def test_an_unbounded_run_stops_cleanly_when_terminated(kafka, events_tail, prefix):
    proc = subprocess.Popen([*CLI, "generate", "--rate", "400", "--site-prefix", prefix], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert len(events_tail.read(prefix, count=200, timeout=60, settle=0)) >= 200
    assert proc.poll() is None, "it runs until stopped"
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    sent = int(err.split("sent ")[1].split(" records")[0].replace(",", ""))
    assert sent >= 200 and "all acknowledged by Kafka" in err
    got = events_tail.read(prefix, count=sent, timeout=60)
    # truncated (not-JSON) records may have lost the site id; everything else is there
    assert sent * 0.99 <= len(got) <= sent


def test_replay_of_a_recorded_csv_with_a_column_mapping(kafka, events_tail, prefix, tmp_path):
    log = tmp_path / "events.csv"
    log.write_text("timestamp,visitorid,event,itemid,transactionid\n"
                   "1433221332117,257597,view,355908,\n"
                   "1433224214164,992329,view,248676,\n"
                   "1433221999827,111016,addtocart,318965,\n"
                   "1433221955914,483717,transaction,253185,42\n")
    res = generate("--replay", str(log), "--speed", "0", "--site", prefix,
                   "--map", "ts=timestamp,user_id=visitorid,event_type=event,page=/products/{itemid}",
                   "--event-names", "view=page_view,addtocart=add_to_cart,transaction=purchase")
    assert "sent 4 records" in res.stderr
    got = [r.event for r in sorted(events_tail.read(prefix, count=4), key=lambda r: r.event["event_id"])]
    assert [(e["event_type"], e["user_id"], e["page"]) for e in got] == [
        ("page_view", "257597", "/products/355908"), ("page_view", "992329", "/products/248676"),
        ("add_to_cart", "111016", "/products/318965"), ("purchase", "483717", "/products/253185")]
    assert got[3]["properties"] == {"itemid": "253185", "transactionid": "42"}
    now = time.time() * 1000
    assert abs(got[0]["ts"] - now) < 60_000, "moved to now"
    assert got[1]["ts"] - got[0]["ts"] == 1433224214164 - 1433221332117, "gaps kept"
    assert default_schema().reason(got[0]) is None


def test_replay_of_json_lines_keeping_recorded_time(kafka, events_tail, prefix, tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"time": "2026-11-20T10:00:00Z", "visitor": "a", "url": "/pricing", "kind": "page_view", "plan": "pro"},
        {"time": "2026-11-20T10:00:05.250Z", "visitor": "a", "url": "/signup", "kind": "signup", "extra": 1},
    ]) + "\n")
    generate("--replay", str(log), "--speed", "0", "--keep-time", "--site", prefix,
             "--map", "ts=time,user_id=visitor,page=url,event_type=kind")
    got = sorted((r.event for r in events_tail.read(prefix, count=2)), key=lambda e: e["ts"])
    assert [e["ts"] for e in got] == [1795168800000, 1795168805250]
    assert got[0]["plan"] == "pro" and got[1]["extra"] == 1 and got[1]["event_type"] == "signup"


@pytest.mark.parametrize("args,env,needle", [
    (["--replay", "{csv}", "--map", "ts=nope"], {}, "nope"),
    (["--events", "10", "--funnel", "bogus=1,1"], {}, "bogus"),
    (["--events", "10", "--funnel", "signup=2,1"], {}, "signup"),
    (["--truth", "{tmp}/t.json"], {}, "--duration or --events"),
    (["--events", "10", "--duration", "ten minutes"], {}, "--duration"),
    (["--events", "10"], {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, "KAFKA_BOOTSTRAP_SERVERS"),
    (["--events", "10", "--topic", "no.such.topic"], {}, "no.such.topic"),
])
def test_mistakes_are_one_line_errors(kafka, tmp_path, args, env, needle):
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("timestamp,user\n1,2\n")
    args = [a.replace("{csv}", str(csv_file)).replace("{tmp}", str(tmp_path)) for a in args]
    res = generate(*args, env=env, check=False)
    assert res.returncode != 0
    lines = [line for line in res.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr


# --- bot traffic -------------------------------------------------------------------------------

def test_bot_traffic_is_marked_by_the_collectors_rules_and_left_out_of_user_metrics(kafka, prefix, tmp_path):
    """--bots 0.2: about a fifth of the records are bots' (crawlers with declared User-Agents,
    scrapers' bursts); they carry the reason the collector would give, the rate rule lets
    the first COLLECTOR_BOT_RATE events of a second through, and the ground truth counts
    marked events only in bot_events."""
    truth = tmp_path / "truth.json"
    generate("--events", "20000", "--speed", "0", "--sites", "2", "--site-prefix", prefix, "--seed", "5",
             "--bots", "0.2", "--out-of-order", "0", "--late", "0", "--duplicates", "0", "--malformed", "0",
             "--truth", str(truth))
    events = [json.loads(v) for _, v in read_records(tmp_path / "truth.records.jsonl")]
    crawled = [e for e in events if e["user_id"].startswith("crawler-")]
    scraped = [e for e in events if e["user_id"].startswith("scraper-")]
    assert 0.17 < (len(crawled) + len(scraped)) / len(events) < 0.23
    assert all(bots.user_agent_reason(ua) == bots.USER_AGENT for ua in DECLARED_USER_AGENTS)
    assert crawled and all(e["bot"] == "user_agent" for e in crawled)
    per_second = defaultdict(lambda: [0, 0])  # (scraper, second) -> [passed, marked]
    for e in scraped:
        per_second[(e["user_id"], e["ts"] // 1000)][1 if e.get("bot") == "rate" else 0] += 1
    limit = kafka.collector_bot_rate
    assert all(passed == min(passed + marked, limit) for passed, marked in per_second.values())
    assert sum(m for _, m in per_second.values()) >= len(scraped) // BURST * (BURST - 2 * limit)
    assert not any("bot" in e for e in events if not e["user_id"].startswith(("crawler-", "scraper-")))

    tables = json.loads(truth.read_text())
    marked = [e for e in events if e.get("bot")]
    assert sum(r["events"] for r in tables["bot_events"]) == len(marked)
    assert sum(r["events"] for r in tables["events_per_minute"]) == len(events) - len(marked)
    assert not any(r["user_id"].startswith("crawler-") for r in tables["events"])
