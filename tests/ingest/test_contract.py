"""The event contract: schema/event.v1.json, the collector's validator and the pipeline's
decoder (EventContract.java, run for real through a probe) agree on every event, valid or
not, and word their reasons the same way."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from pathlib import Path

import orjson
import pyflink
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from clickpulse.errors import ClickpulseError
from clickpulse.ingest.schema import EventSchema, default_schema
from clickpulse.paths import CONNECTORS_DIR, SCHEMA_DIR
from clickpulse.truth import referrer_domain

HERE = Path(__file__).resolve().parent
from clickpulse.ingest.schema import MAX_FUTURE_MS  # noqa: E402  the allowance the pipeline applies too
MAX_TS = 32503680000000


def event(**changes) -> dict:
    base = {"event_id": "e-1", "event_type": "page_view", "site_id": "site-1", "user_id": "u-1",
            "ts": 1_790_000_000_000, "page": "/pricing"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


# --- the schema file states the contract -------------------------------------------------------

def test_schema_states_the_contract():
    schema = json.loads((SCHEMA_DIR / "event.v1.json").read_text())
    props = schema["properties"]
    assert schema["required"] == ["event_id", "event_type", "site_id", "user_id", "ts", "page"]
    expected_lengths = {"event_id": (1, 128), "event_type": (1, 64), "site_id": (1, 128), "user_id": (1, 256),
                        "page": (1, 2048), "session_id": (None, 256), "referrer": (None, 2048), "plan": (None, 64)}
    for field, (lo, hi) in expected_lengths.items():
        assert props[field].get("minLength") == lo, field
        assert props[field]["maxLength"] == hi, field
    assert props["ts"]["type"] == "integer" and (props["ts"]["minimum"], props["ts"]["maximum"]) == (0, MAX_TS)
    assert props["schema_version"]["minimum"] == 1
    assert props["properties"]["type"] == ["object", "null"]
    assert schema["additionalProperties"] is True


@pytest.mark.parametrize("changes,reason", [
    ({}, None),
    ({"event_id": ...}, "event_id: missing"),
    ({"event_id": None}, "event_id: missing"),
    ({"event_id": ""}, "event_id: empty"),
    ({"event_id": 7}, "event_id: expected string"),
    ({"event_id": "x" * 129}, "event_id: longer than 128"),
    ({"event_id": "😀" * 64}, None),
    ({"event_id": "😀" * 65}, "event_id: longer than 128"),  # UTF-16: an emoji counts 2
    ({"event_type": "sign up"}, "event_type: only letters, digits and _ . : - allowed"),
    ({"event_type": "signup\n"}, "event_type: only letters, digits and _ . : - allowed"),
    ({"event_type": "a.b:c-d_e"}, None),
    ({"site_id": "s" * 129}, "site_id: longer than 128"),
    ({"user_id": "u" * 257}, "user_id: longer than 256"),
    ({"ts": "1790000000000"}, "ts: expected integer epoch milliseconds"),
    ({"ts": 1.0}, "ts: expected integer epoch milliseconds"),
    ({"ts": True}, "ts: expected integer epoch milliseconds"),
    ({"ts": -1}, "ts: out of range"),
    ({"ts": MAX_TS + 1}, "ts: out of range"),
    ({"ts": 2**63}, "ts: expected integer epoch milliseconds"),
    ({"page": ""}, "page: empty"),
    ({"page": "/" * 2049}, "page: longer than 2048"),
    ({"session_id": ""}, None),
    ({"session_id": None}, None),
    ({"referrer": 5}, "referrer: expected string"),
    ({"country": "de"}, None),
    ({"country": "DEU"}, "country: longer than 2"),
    ({"country": "D1"}, "country: expected ISO 3166-1 alpha-2"),
    ({"country": "ÄÖ"}, "country: expected ISO 3166-1 alpha-2"),
    ({"device": "Mobile"}, None),
    ({"device": "phone"}, "device: expected desktop, mobile or tablet"),
    ({"device": "desktop\n"}, "device: expected desktop, mobile or tablet"),
    ({"plan": "p" * 65}, "plan: longer than 64"),
    ({"properties": []}, "properties: expected object"),
    ({"properties": {"a": {"b": [1, 2]}}}, None),
    ({"schema_version": 0}, "schema_version: expected integer >= 1"),
    ({"schema_version": 2}, None),
    ({"schema_version": 2**31}, "schema_version: expected integer >= 1"),
    ({"bot": "rate"}, None),
    ({"bot": 1}, "bot: expected string"),
    ({"bot": "b" * 65}, "bot: longer than 64"),
    ({"unknown": {"anything": [1]}}, None),
    ({"event_id": ..., "page": 5}, "event_id: missing"),  # the first broken rule, in the pipeline's order
])
def test_rules_and_reasons(changes, reason):
    schema = default_schema()
    ev = event(**changes)
    assert schema.reason(ev) == reason
    assert schema.reference_reason(ev) == reason


def test_normalized_event_is_what_the_pipeline_stores():
    out = default_schema().normalize(event(country="de", device="TABLET", session_id="", plan=None, referrer=""))
    assert out["country"] == "DE" and out["device"] == "tablet"
    assert "session_id" not in out and "plan" not in out and "referrer" not in out


def test_future_events_are_refused_relative_to_arrival():
    now = int(time.time() * 1000)
    schema = default_schema()
    assert schema.reason(event(ts=now + MAX_FUTURE_MS - 1_000), now) is None
    assert schema.reason(event(ts=now + MAX_FUTURE_MS + 1_000), now) == "ts: too far in the future"


def test_an_unsupported_schema_keyword_is_refused(tmp_path):
    """The collector's fast validator applies a fixed set of keywords; a schema using any
    other one must fail loudly instead of being half applied."""
    schema = json.loads((SCHEMA_DIR / "event.v1.json").read_text())
    schema["properties"]["page"]["format"] = "uri-reference"
    (tmp_path / "event.v1.json").write_text(json.dumps(schema))

    with pytest.raises(ClickpulseError, match="format"):
        EventSchema(tmp_path)


# --- generated events: the collector agrees with jsonschema and with the pipeline --------------

# Field values near the rules' edges, right and wrong. Characters the JVM and Python read
# differently on purpose are left out (see the schema's description): lone surrogates
# (not valid JSON for the collector), and letters like the Kelvin sign that Java
# lower-cases to ASCII.
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters="\u212a\u0130\u0131"),
                max_size=6)
_wrong = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.floats(allow_nan=False, allow_infinity=False),
                   st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from("ab"), st.integers(), max_size=2))


def _string(limit: int):
    return st.one_of(
        _text, st.just(""), st.just("x" * limit), st.just("x" * (limit + 1)),
        st.just("😀" * (limit // 2)), st.just("😀" * (limit // 2) + "x"), _wrong)


def _now() -> int:
    return int(time.time() * 1000)


# referrers around referrer_domain's edges: ports, user info, IPv6, case, no scheme, no host
REFERRERS = ["https://www.Google.com/search?q=x", "http://user:pw@WWW.example.org:8080/a#b", "https://t.co",
             "android-app://com.slack/", "http://[::1]:80/x", "google.com/x", "https://?q", "https://www.",
             "ftp://host:port/", "https://exa:mple.com:/", "https://İ.example/"]

FIELDS = {
    "event_id": _string(128),
    "event_type": st.one_of(st.sampled_from(["page_view", "a.b:c-d_e", "sign up", "signup\n", "ü", "x" * 64,
                                             "x" * 65, ""]), _text, _wrong),
    "site_id": _string(128),
    "user_id": _string(256),
    "session_id": _string(256),
    "ts": st.one_of(st.integers(0, MAX_TS), st.sampled_from([-1, 0, MAX_TS, MAX_TS + 1, 2**63 - 1, 2**63, 2**64, -(2**63)]),
                    st.just("future"), st.just("past-future"), _wrong),
    "page": _string(2048),
    "referrer": st.one_of(_string(2048), st.sampled_from(REFERRERS)),
    "utm_source": st.one_of(_string(256), st.sampled_from(["Google", "NEWSLETTER", "ÄÖ", "İstanbul"])),
    "utm_medium": _string(256),
    "utm_campaign": st.one_of(_string(256), st.just("Spring Sale")),
    "country": st.one_of(st.sampled_from(["US", "de", "gB", "D1", "ÄÖ", "DEU", "d", "", "U\n"]), _wrong),
    "device": st.one_of(st.sampled_from(["desktop", "MOBILE", "Tablet", "phone", "", "desktop\n", "x" * 17]),
                        _wrong),
    "plan": _string(64),
    "properties": st.one_of(st.dictionaries(st.text(max_size=3), st.recursive(
        st.integers() | st.text(max_size=3), lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=2), c, max_size=2),
        max_leaves=5), max_size=3), _wrong),
    "schema_version": st.one_of(st.sampled_from([1, 2, 0, -1, 2**31 - 1, 2**31]), _wrong),
    "extra": _wrong,
}


@st.composite
def events(draw) -> dict:
    ev = {"event_id": "e-1", "event_type": "page_view", "site_id": "site-1", "user_id": "u-1",
          "ts": 1_790_000_000_000, "page": "/"}
    for field in draw(st.lists(st.sampled_from(sorted(FIELDS)), max_size=4, unique=True)):
        choice = draw(st.one_of(st.just("drop"), FIELDS[field]))
        if choice == "drop":
            ev.pop(field, None)
        else:
            ev[field] = choice
    if ev.get("ts") == "future":
        ev["ts"] = _now() + MAX_FUTURE_MS + 3_600_000
    elif ev.get("ts") == "past-future":
        ev["ts"] = _now() + MAX_FUTURE_MS // 2
    return ev


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_fast_validator_agrees_with_jsonschema(ev):
    schema = default_schema()
    now = _now()
    assert schema.reason(ev, now) == schema.reference_reason(ev, now)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The pipeline's decoder in a JVM, compiled from connectors/event-parser with the probe."""
    lib = Path(pyflink.__file__).parent / "lib"
    out = tmp_path_factory.mktemp("probe")
    sources = [str(p) for p in (CONNECTORS_DIR / "event-parser" / "src" / "main" / "java").rglob("*.java")]
    cp = f"{lib}/*"
    res = subprocess.run(["javac", "-nowarn", "-cp", cp, "-d", str(out), *sources, str(HERE / "ContractProbe.java")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    proc = subprocess.Popen(["java", "-cp", f"{out}{os.pathsep}{cp}", "dev.clickpulse.flink.ContractProbe",
                             str(MAX_FUTURE_MS)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def verdict(record: bytes) -> dict:
        proc.stdin.write(base64.b64encode(record).decode() + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    yield verdict
    proc.stdin.close()
    proc.wait(timeout=10)


def _collector_view(record: bytes) -> tuple[str | None, dict | None]:
    ev = orjson.loads(record)
    schema = default_schema()
    reason = schema.reason(ev, _now())
    return reason, (None if reason else schema.normalized(ev))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_collector_and_pipeline_agree(pipeline, ev):
    record = json.dumps(ev, ensure_ascii=False).encode()
    reason, normalized = _collector_view(record)
    seen = pipeline(record)
    assert seen["error"] == reason, record
    if reason is None:
        assert seen["country"] == normalized.get("country")
        assert seen["device"] == normalized.get("device")
        for tag in ("utm_source", "utm_medium", "utm_campaign"):
            assert seen[tag] == normalized.get(tag), tag
        assert seen["referrer_domain"] == referrer_domain(normalized.get("referrer"))


@pytest.mark.parametrize("record", [
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":1e3,"page":"/"}',
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":1700000000000.0,"page":"/"}',
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":-0,"page":"/"}',
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":1,"page":"/","schema_version":1.0}',
    b'{"event_id":5,"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":1,"page":"/"}',
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":1,"page":"/","event_type":7}',
    b'{"event_id":"a","event_type":"t","site_id":"s","user_id":"u","ts":18446744073709551615,"page":"/"}',
    b'{"event_id":"a\\u0000b","event_type":"t","site_id":"s","user_id":"u","ts":1,"page":"\\/x"}',
])
def test_raw_json_corner_cases_agree(pipeline, record):
    reason, _ = _collector_view(record)
    assert pipeline(record)["error"] == reason
