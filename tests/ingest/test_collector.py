"""The collector, as browsers and servers use it, against the real Kafka: what a client is
told, and what ends up in the events and dead-letter topics."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from conftest import run_cli

from .support import KafkaTail, collector_process, event

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.0 Mobile/15E148 Safari/604.1")
DESKTOP_CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
                  "Safari/537.36")
SHOP = "https://shop.example"
HMAC_KEY = "test-pseudonym-key"


@pytest.fixture(scope="module")
def collector(kafka, tmp_path_factory):
    with collector_process(tmp_path_factory.mktemp("collector")) as c:
        yield c


@pytest.fixture(scope="module")
def strict_sites():
    tag = uuid.uuid4().hex[:8]
    return {"a": f"test-{tag}-a", "b": f"test-{tag}-b"}


@pytest.fixture(scope="module")
def geoip_db(tmp_path_factory):
    w = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-Country")
    w.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"}})
    w.insert_network(IPSet(["2a00:1450::/32"]), {"country": {"iso_code": "DE"}})
    path = tmp_path_factory.mktemp("geoip") / "country.mmdb"
    w.to_db_file(str(path))
    return path


@pytest.fixture(scope="module")
def strict(kafka, tmp_path_factory, strict_sites, geoip_db):
    """Every protection switched on: write keys, one allowed origin, pseudonymous user ids,
    GeoIP behind a trusted proxy, small body and batch limits."""
    env = {
        "COLLECTOR_WRITE_KEYS": f"{strict_sites['a']}:key-a,{strict_sites['b']}:key-b",
        "COLLECTOR_ALLOWED_ORIGINS": SHOP,
        "COLLECTOR_USER_ID_KEY": HMAC_KEY,
        "COLLECTOR_GEOIP_DB": str(geoip_db),
        "COLLECTOR_TRUST_FORWARDED_FOR": "true",
        "COLLECTOR_MAX_BODY_BYTES": "20000",
        "COLLECTOR_MAX_BATCH": "5",
    }
    with collector_process(tmp_path_factory.mktemp("strict"), env) as c:
        yield c


@pytest.fixture
def events_tail(kafka):
    tail = KafkaTail(kafka.kafka_bootstrap_servers, kafka.events_topic)
    yield tail
    tail.close()


@pytest.fixture
def dead_letters(kafka):
    tail = KafkaTail(kafka.kafka_bootstrap_servers, kafka.dead_letter_topic)
    yield tail
    tail.close()


# --- accepted events ------------------------------------------------------------------------

def test_an_event_is_acknowledged_only_once_it_is_in_kafka(collector, events_tail, site_id):
    ev = event(site_id, user_id="visitor-7", country="de", device=None)
    sent_at = int(time.time() * 1000)
    r = collector.post(ev, headers={"User-Agent": IPHONE})
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1}
    [rec] = events_tail.read(site_id, count=1)
    got = rec.event
    assert rec.key == b"visitor-7"
    assert got["event_id"] == ev["event_id"] and got["page"] == "/" and got["ts"] == ev["ts"]
    assert got["country"] == "DE"
    assert got["device"] == "mobile" and got["browser"] == "Safari"
    assert sent_at - 1000 <= got["received_at"] <= int(time.time() * 1000)
    assert "device" in got and got.get("ip") is None and b"127.0.0.1" not in rec.value


def test_batches_as_array_envelope_and_beacon_text(collector, events_tail, site_id):
    batch = [event(site_id, user_id=f"u{i}") for i in range(3)]
    envelope = {"events": [event(site_id, user_id=f"v{i}") for i in range(2)]}
    beacon = [event(site_id, user_id="w0", event_type="click")]
    assert collector.post(batch).json() == {"accepted": 3}
    assert collector.post(envelope).json() == {"accepted": 2}
    r = collector.post(json.dumps(beacon), content_type="text/plain;charset=UTF-8")
    assert r.status_code == 200 and r.json() == {"accepted": 1}
    got = events_tail.read(site_id, count=6)
    assert sorted(r.event["event_id"] for r in got) == sorted(
        e["event_id"] for e in batch + envelope["events"] + beacon)
    assert all(r.key == r.event["user_id"].encode() for r in got)


def test_device_in_the_event_wins_over_the_user_agent(collector, events_tail, site_id):
    collector.post(event(site_id, device="Tablet", event_id="with-device"), headers={"User-Agent": IPHONE})
    collector.post(event(site_id, event_id="without-device"), headers={"User-Agent": DESKTOP_CHROME})
    got = {r.event["event_id"]: r.event for r in events_tail.read(site_id, count=2)}
    assert got["with-device"]["device"] == "tablet"
    assert got["without-device"]["device"] == "desktop" and got["without-device"]["browser"] == "Chrome"


def test_clients_cannot_set_what_only_the_collector_sets(collector, events_tail, site_id):
    ev = event(site_id, received_at=1, browser="Netscape", ip="203.0.113.9", **{"$clickpulse": "tick"})
    assert collector.post(ev, headers={"User-Agent": DESKTOP_CHROME}).status_code == 200
    [rec] = events_tail.read(site_id, count=1)
    got = rec.event
    assert got["received_at"] > 1 and got["browser"] == "Chrome"
    assert "ip" not in got and "$clickpulse" not in got and b"203.0.113.9" not in rec.value


def test_campaign_tags_in_the_page_query_are_kept_as_fields(collector, events_tail, site_id):
    page = "/landing/spring?utm_source=Google&utm_medium=CPC&utm_campaign=Spring+Sale&utm_term=x#top"
    collector.post(event(site_id, event_id="from-query", page=page))
    # the event's own tag wins over the query's
    collector.post(event(site_id, event_id="own-tag", page=page, utm_campaign="own", utm_source=""))
    got = {r.event["event_id"]: r.event for r in events_tail.read(site_id, count=2)}
    assert {k: v for k, v in got["from-query"].items() if k.startswith("utm_")} == {
        "utm_source": "google", "utm_medium": "cpc", "utm_campaign": "Spring Sale"}
    assert got["own-tag"]["utm_campaign"] == "own" and got["own-tag"]["utm_source"] == "google"
    assert got["from-query"]["page"] == page, "the page is kept as sent"


# --- invalid events -------------------------------------------------------------------------

def test_an_invalid_event_gets_400_with_its_reason_and_goes_to_dead_letters(collector, events_tail, dead_letters,
                                                                          site_id):
    ev = event(site_id)
    del ev["page"]
    r = collector.post(ev)
    assert r.status_code == 400
    assert r.json()["error"] == "page: missing"
    [dl] = dead_letters.read(site_id, count=1)
    letter = dl.event
    assert letter["reason"] == "page: missing" and letter["site_id"] == site_id and letter["source"] == "collector"
    assert json.loads(letter["payload"])["event_id"] == ev["event_id"]
    assert events_tail.read(site_id, timeout=2) == []


def test_a_batch_reports_each_invalid_event_and_keeps_the_valid_ones(collector, events_tail, dead_letters, site_id):
    batch = [event(site_id, event_id="ok-1"), event(site_id, ts=str(int(time.time() * 1000))),
             event(site_id, event_id="ok-2"), event(site_id, country="Germany")]
    r = collector.post(batch)
    assert r.status_code == 400
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [{"index": 1, "reason": "ts: expected integer epoch milliseconds"},
                                {"index": 3, "reason": "country: longer than 2"}]
    assert sorted(r.event["event_id"] for r in events_tail.read(site_id, count=2)) == ["ok-1", "ok-2"]
    assert sorted(d.event["reason"] for d in dead_letters.read(site_id, count=2)) == [
        "country: longer than 2", "ts: expected integer epoch milliseconds"]


def test_an_unparseable_body_goes_to_dead_letters_whole(collector, dead_letters, site_id):
    body = f'{{"event_id": "x", "site_id": "{site_id}", '.encode()
    r = collector.post(body)
    assert r.status_code == 400 and r.json()["error"].startswith("body is not valid JSON")
    [dl] = dead_letters.read(site_id, count=1)
    assert dl.event["payload"] == body.decode() and dl.event["reason"].startswith("body is not valid JSON")


# --- hostile input: always a clean 4xx, never a 5xx or a crash -----------------------------

DEEP = b'{"a":' * 5000 + b"1" + b"}" * 5000
HOSTILE = [
    ("deep nesting", "application/json", DEEP, 400),
    ("deep properties", "application/json",
     b'{"event_id":"e","event_type":"t","site_id":"hostile","user_id":"u","ts":1,"page":"/","properties":'
     + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}", 400),
    ("deep array", "application/json", b"[" * 100_000 + b"]" * 100_000, 400),
    ("over the body limit", "application/json", b"[" + b" " * 1_100_000 + b"]", 413),
    ("huge string", "application/json", orjson.dumps(event("hostile", page="/" + "x" * 900_000)), 400),
    ("invalid UTF-8", "application/json", b'{"event_id":"\xff\xfe"}', 400),
    ("lone surrogate", "application/json", b'{"event_id":"\\ud800","site_id":"hostile"}', 400),
    ("NaN", "application/json", b'{"ts":NaN}', 400),
    ("huge number", "application/json", b'{"ts":1' + b"0" * 5000 + b"}", 400),
    ("empty body", "application/json", b"", 400),
    ("whitespace", "application/json", b"  \n ", 400),
    ("a scalar", "application/json", b"42", 400),
    ("a string", "application/json", b'"hello"', 400),
    ("empty batch", "application/json", b"[]", 400),
    ("batch of scalars", "application/json", b"[1, null, true]", 400),
    ("form", "application/x-www-form-urlencoded", b"event_id=1", 415),
    ("xml", "application/xml", b"<e/>", 415),
    ("no content type", None, b"{}", 415),
    ("latin-1 charset", "text/plain; charset=latin-1", b"{}", 415),
    ("multipart", "multipart/form-data; boundary=x", b"--x--", 415),
    ("NUL bytes", "application/json", b"\x00" * 100, 400),
    ("trailing garbage", "application/json", orjson.dumps(event("hostile")) + b" trailing", 400),
]


@pytest.mark.parametrize("content_type,body,status", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_input_gets_a_clean_4xx(collector, content_type, body, status):
    r = collector.post(body, content_type=content_type)
    assert r.status_code == status, r.text
    assert "error" in r.json()
    assert collector.alive()


def test_oversized_headers_and_bad_methods_are_refused(collector):
    assert httpx.get(f"{collector.url}/collect").status_code == 405
    assert httpx.put(f"{collector.url}/collect", content=b"{}").status_code == 405
    assert httpx.get(f"{collector.url}/no-such-page").status_code == 404
    r = httpx.post(f"{collector.url}/collect", content=b"{}", headers={"X-Big": "x" * 20_000,
                                                                        "Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    assert httpx.get(f"{collector.url}/health").status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                 lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                 max_leaves=20).map(lambda v: json.dumps(v).encode()),
), content_type=st.sampled_from(["application/json", "text/plain", "text/plain;charset=UTF-8", "image/png"]))
def test_no_body_makes_the_collector_fail(collector, body, content_type):
    r = collector.post(body, content_type=content_type)
    assert r.status_code < 500, r.text


def test_health_and_metrics(collector, site_id):
    def counters() -> dict:
        text = httpx.get(f"{collector.url}/metrics").text
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}

    health = httpx.get(f"{collector.url}/health")
    assert health.status_code == 200 and health.json() == {"status": "ok", "kafka": "up"}
    before = counters()
    collector.post([event(site_id), event(site_id)])
    collector.post(event(site_id, ts="soon"))
    after = counters()

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    assert delta('clickpulse_collector_events_total{outcome="accepted"}') == 2
    assert delta('clickpulse_collector_events_total{outcome="invalid"}') == 1
    assert delta('clickpulse_collector_requests_total{code="200",route="/collect"}') == 1
    assert delta('clickpulse_collector_requests_total{code="400",route="/collect"}') == 1
    assert delta("clickpulse_collector_dead_letters_total") == 1
    assert delta("clickpulse_collector_request_duration_seconds_count") == 2
    assert after["clickpulse_collector_kafka_up"] == 1


def test_cors_for_any_origin_by_default(collector):
    pre = httpx.options(f"{collector.url}/collect", headers={
        "Origin": "https://anywhere.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert pre.status_code == 204
    assert "POST" in pre.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"]
    r = collector.post(b"[]", headers={"Origin": "https://anywhere.example"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"


# --- protections: write keys, origins, pseudonyms, GeoIP, limits -----------------------------

def test_write_keys(strict, strict_sites, events_tail):
    a, b = strict_sites["a"], strict_sites["b"]
    assert strict.post(event(a)).status_code == 401
    assert strict.post(event(a), headers={"X-Clickpulse-Key": "nope"}).status_code == 401
    wrong_site = strict.post(event(b), headers={"X-Clickpulse-Key": "key-a"})
    assert wrong_site.status_code == 403 and b in wrong_site.json()["error"]
    mixed = strict.post([event(a), event(b)], headers={"X-Clickpulse-Key": "key-a"})
    assert mixed.status_code == 403  # nothing of a request with a foreign site is taken
    assert strict.post(event(a, event_id="by-header"), headers={"X-Clickpulse-Key": "key-a"}).status_code == 200
    assert strict.post(event(b, event_id="by-query"), params={"key": "key-b"}).status_code == 200
    assert sorted(r.event["event_id"] for r in events_tail.read(strict_sites["a"][:-2], count=2)) == [
        "by-header", "by-query"]


def test_allowed_origins(strict, strict_sites):
    a = strict_sites["a"]
    ok = httpx.options(f"{strict.url}/collect", headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert ok.status_code == 204
    bad = httpx.options(f"{strict.url}/collect", headers={"Origin": "https://evil.example",
                                                          "Access-Control-Request-Method": "POST"})
    assert bad.status_code == 403 and "Access-Control-Allow-Origin" not in bad.headers
    # sendBeacon's text/plain POST needs no preflight, so the POST itself is checked too
    denied = strict.post(event(a), headers={"Origin": "https://evil.example", "X-Clickpulse-Key": "key-a"},
                         content_type="text/plain")
    assert denied.status_code == 403
    allowed = strict.post(event(a), headers={"Origin": SHOP, "X-Clickpulse-Key": "key-a"}, content_type="text/plain")
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == SHOP


def test_user_ids_are_pseudonymized_and_ips_never_stored(strict, strict_sites, events_tail):
    a = strict_sites["a"]
    r = strict.post([event(a, user_id="alice@example.com", event_id="geo-v4"),
                     event(a, user_id="alice@example.com", event_id="geo-told", country="fr")],
                    headers={"X-Clickpulse-Key": "key-a", "X-Forwarded-For": "81.2.69.160, 10.0.0.1"})
    assert r.status_code == 200, r.text
    r = strict.post(event(a, user_id="bob", event_id="geo-v6"),
                    headers={"X-Clickpulse-Key": "key-a", "X-Forwarded-For": "2a00:1450:4001::1"})
    assert r.status_code == 200
    r = strict.post(event(a, user_id="carol", event_id="geo-none"), headers={"X-Clickpulse-Key": "key-a"})
    assert r.status_code == 200
    got = {rec.event["event_id"]: rec for rec in events_tail.read(a, count=4)}
    expected = hmac.new(HMAC_KEY.encode(), b"alice@example.com", hashlib.sha256).hexdigest()
    assert got["geo-v4"].event["user_id"] == expected and got["geo-v4"].key == expected.encode()
    assert got["geo-v4"].event["country"] == "GB"
    assert got["geo-told"].event["country"] == "FR"  # the event's own country wins
    assert got["geo-v6"].event["country"] == "DE"
    assert "country" not in got["geo-none"].event  # loopback: no country
    for rec in got.values():
        for raw in (b"81.2.69", b"2a00:1450", b"127.0.0.1", b"alice", b"bob", b"carol"):
            assert raw not in rec.value


def test_forwarded_for_is_ignored_unless_trusted(collector, events_tail, site_id, tmp_path, geoip_db):
    with collector_process(tmp_path, {"COLLECTOR_GEOIP_DB": str(geoip_db)}) as c:
        assert c.post(event(site_id), headers={"X-Forwarded-For": "81.2.69.160"}).status_code == 200
    [rec] = events_tail.read(site_id, count=1)
    assert "country" not in rec.event


def test_body_and_batch_limits(strict, strict_sites):
    a = strict_sites["a"]
    key = {"X-Clickpulse-Key": "key-a"}
    big = strict.post(event(a, page="/" + "x" * 30_000), headers=key)
    assert big.status_code == 413 and "COLLECTOR_MAX_BODY_BYTES" in big.json()["error"]
    chunked = httpx.post(f"{strict.url}/collect", content=iter([b"[" + b" " * 15_000, b" " * 15_000 + b"]"]),
                         headers={"Content-Type": "application/json", **key})
    assert chunked.status_code == 413
    many = strict.post([event(a) for _ in range(6)], headers=key)
    assert many.status_code == 413 and "COLLECTOR_MAX_BATCH" in many.json()["error"]
    assert strict.post([event(a) for _ in range(5)], headers=key).status_code == 200


def test_bad_settings_are_one_line_errors(kafka, tmp_path):
    res = run_cli("collect", "--port", "1", env={**os.environ, "COLLECTOR_WRITE_KEYS": "site-1"},
                  check=False, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "COLLECTOR_WRITE_KEYS" in res.stderr
    res = run_cli("collect", env={**os.environ, "COLLECTOR_GEOIP_DB": str(tmp_path / "missing.mmdb")},
                  check=False, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "COLLECTOR_GEOIP_DB" in res.stderr


# --- bots -------------------------------------------------------------------------------------

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def test_a_known_crawler_is_marked_not_dropped(collector, events_tail, site_id):
    r = collector.post(event(site_id, event_id="crawled"), headers={"User-Agent": GOOGLEBOT})
    assert r.status_code == 200 and r.json() == {"accepted": 1}
    [rec] = events_tail.read(site_id, count=1)
    assert rec.event["event_id"] == "crawled" and rec.event["bot"] == "user_agent"


def test_a_person_is_not_marked_and_clients_cannot_mark_themselves(collector, events_tail, site_id):
    collector.post(event(site_id, event_id="person", bot="user_agent"), headers={"User-Agent": DESKTOP_CHROME})
    collector.post(event(site_id, event_id="server", user_id="server-user"))  # an HTTP library: a server
    got = {r.event["event_id"]: r.event for r in events_tail.read(site_id, count=2)}
    assert "bot" not in got["person"] and "bot" not in got["server"]


def test_events_past_the_rate_limit_of_one_user_are_marked_rate(collector, events_tail, site_id):
    """COLLECTOR_BOT_RATE (20) events of one user within a second are a person's; the rest
    of that second are a bot's. One request is one receive time, so one second."""
    batch = [event(site_id, user_id="too-fast", event_id=f"fast-{i:02d}") for i in range(25)]
    assert collector.post(batch).json() == {"accepted": 25}
    got = sorted(events_tail.read(site_id, count=25), key=lambda r: r.event["event_id"])
    assert [r.event.get("bot") for r in got] == [None] * 20 + ["rate"] * 5
