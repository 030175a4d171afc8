"""Recorded-record scenarios for the metric tests: a fixed start time, events at offsets,
and helpers to turn them into the Kafka records the job reads."""

from __future__ import annotations

import json
import random

# Tuesday 2023-11-14 22:00:00 UTC: an hour boundary, two hours before a day boundary.
T0 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000
SEC = 1000
MIN = 60 * SEC


def event(eid: str, at: int, type_: str = "page_view", user: str = "u1", site: str = "s1", page: str = "/",
          **extra) -> dict:
    """One event `at` ms after T0."""
    return {"event_id": eid, "event_type": type_, "site_id": site, "user_id": user, "ts": T0 + at, "page": page,
            **extra}


def records(items: list, arrival_step: int = 100) -> list[dict]:
    """Kafka records in arrival order; each arrives `arrival_step` ms after the previous,
    starting at T0 (arrival time only decides the minute of late/invalid counts)."""
    out = []
    for i, item in enumerate(items):
        payload = item if isinstance(item, str) else json.dumps(item)
        out.append({"payload": payload, "kafka_ts_ms": T0 + i * arrival_step, "kafka_partition": 0,
                    "kafka_offset": i})
    return out


PAGES = ["/", "/landing/spring", "/pricing", "/blog/flink", "/products/1", "/products/2", "/products/3", "/cart",
         "/checkout", "/signup"]
REFERRERS = [None, None, "https://www.google.com/search?q=x", "https://t.co/abc", "https://partner.io:8443/p",
             "android-app://com.slack/", "not a url"]
CAMPAIGNS = [{}, {}, {}, {"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "spring"},
             {"utm_source": "Google", "utm_medium": "CPC"}, {"utm_campaign": "launch"}]
TYPES = ["page_view"] * 6 + ["click", "form_submit", "signup", "add_to_cart", "purchase", "video_play"]
# properties, among them the promoted ones (sql/properties.yaml) with good and unusable values
PROPERTIES = [None, None, None, {"button": "signup_cta"}, {"button": "buy_plan", "experiment": "control"},
              {"experiment": "new_pricing", "product_id": 7}, {"button": 5, "experiment": True}, {"button": "null"}, {}]


def random_traffic(seed: int, n: int, sites: int = 3, users: int = 40, span_ms: int = 3 * 3_600_000,
                   late: float = 0.02, dup: float = 0.02, bad: float = 0.02, disorder_ms: int = 2_000) -> list:
    """`n` items in arrival order over `span_ms` of event time: mostly in order, some up to
    `disorder_ms` out of order (within the watermark delay), some late by minutes,
    some resent (same event_id), some malformed."""
    rng = random.Random(seed)
    items, sent = [], []
    for i in range(n):
        base = int(span_ms * i / n)
        r = rng.random()
        if r < bad:
            items.append(rng.choice(['{"event_id": "x"', "not json", json.dumps({"event_id": f"b{i}", "ts": "soon"}),
                                     json.dumps({"event_id": f"b{i}", "event_type": "click", "site_id": "s1",
                                                 "user_id": "u", "ts": T0, "page": "/", "device": "watch"})]))
            continue
        if r < bad + dup and sent:
            items.append(rng.choice(sent))
            continue
        at = base - rng.randint(0, disorder_ms)
        if r < bad + dup + late and base > 10 * MIN:
            at = base - rng.randint(2 * MIN, 10 * MIN)
        user = f"u{rng.randint(1, users)}"
        site = f"s{rng.randint(1, sites)}"
        ev = event(f"e{i}", max(at, 0), rng.choice(TYPES), user, site, rng.choice(PAGES),
                   country=rng.choice(["DE", "US", "fr", None]), device=rng.choice(["desktop", "Mobile", None]),
                   plan=rng.choice(["free", "pro", None]), referrer=rng.choice(REFERRERS), **rng.choice(CAMPAIGNS))
        props = rng.choice(PROPERTIES)
        if props is not None:
            ev["properties"] = props
        items.append(ev)
        sent.append(ev)
    return items
