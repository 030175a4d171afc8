"""funnel_conversions and funnel_breakdown: users reaching each step, per hour of the first
step, and by country, device, plan and the promoted properties (sql/properties.yaml:
button, experiment) with their time to convert.

Default funnels (sql/funnels.yaml): signup = landing page view (/ or /landing/...) ->
signup -> purchase; product_purchase = /products/... view -> add_to_cart -> purchase;
both within 30 minutes of the first step. The module adds a third funnel whose step 2
tests an event property (cta = /docs view -> click with properties.target signup_cta or
docs_cta -> signup), in a funnels file of its own that the job and the reference both read."""

from __future__ import annotations

import json

import pytest

from clickpulse.errors import ClickpulseError
from clickpulse.paths import SQL_DIR
from clickpulse.runner import funnels as funnel_defs
from clickpulse.runner.funnels import load_funnels
from clickpulse.runner.properties import load_properties
from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records

CTA_FUNNEL = """
  - name: cta
    window: 30m
    steps:
      - name: docs
        event_type: page_view
        page: /docs
      - name: cta_click
        event_type: click
        properties: {target: [signup_cta, docs_cta]}
      - name: signup
        event_type: signup
"""

ITEMS = sorted([
    # u1 completes both funnels
    event("u1a", 0, user="u1", page="/"), event("u1p", 1 * SEC, user="u1", page="/products/1"),
    event("u1c", 1 * MIN, "add_to_cart", user="u1"), event("u1s", 5 * MIN, "signup", user="u1"),
    event("u1b", 10 * MIN, "purchase", user="u1"),
    # u2: purchase before signup does not count for step 3
    event("u2a", 1 * MIN, user="u2", page="/landing/spring"), event("u2b", 2 * MIN, "purchase", user="u2"),
    event("u2s", 3 * MIN, "signup", user="u2"),
    # u3: signup in the same millisecond as the landing view: not later, so not reached
    event("u3a", 2 * MIN, user="u3", page="/"), event("u3s", 2 * MIN, "signup", user="u3"),
    # u4: signup exactly 30 minutes after: outside the window
    event("u4a", 3 * MIN, user="u4", page="/"), event("u4s", 33 * MIN, "signup", user="u4"),
    # u5: signup 29:59.999 after: inside
    event("u5a", 4 * MIN, user="u5", page="/"), event("u5s", 34 * MIN - 1, "signup", user="u5"),
    # u6: two attempts, at 22:50 and 23:10; the signup at 23:15 completes both: the user
    # counts in both hours
    event("u6a", 50 * MIN, user="u6", page="/"), event("u6b", 70 * MIN, user="u6", page="/"),
    event("u6s", 75 * MIN, "signup", user="u6"),
    # u7 and u8 never start the funnel
    event("u7a", 5 * MIN, user="u7", page="/pricing"), event("u8s", 6 * MIN, "signup", user="u8"),
    # u9: the landing view is resent (same event_id): counted once
    event("u9a", 6 * MIN, user="u9", page="/"), event("u9a", 6 * MIN, user="u9", page="/"),
    event("u9s", 7 * MIN, "signup", user="u9"),
    # u10: purchase 35 minutes after the product view: steps 1 and 2 only
    event("u10p", 20 * MIN, user="u10", page="/products/2"), event("u10c", 25 * MIN, "add_to_cart", user="u10"),
    event("u10b", 55 * MIN, "purchase", user="u10"),
    # the same user id on another site is another user
    event("s2", 0 + 2, user="u1", site="s2", page="/"),

    # --- time to convert and segments, on site t (signup funnel, hour 22:00) ---
    # a: lands at 22:00 on desktop, again at 22:10 on mobile, signs up at 22:12 and buys at
    # 22:20: the second attempt is the faster (signup 2 min, purchase 10 min); a counts
    # under the first landing's segment (DE, desktop, free)
    event("a1", 0, user="a", site="t", page="/", country="DE", device="desktop", plan="free"),
    event("a2", 10 * MIN, user="a", site="t", page="/", country="DE", device="mobile", plan="free"),
    event("a3", 12 * MIN, "signup", user="a", site="t", country="DE", device="mobile", plan="free"),
    event("a4", 20 * MIN, "purchase", user="a", site="t", country="DE", device="mobile", plan="pro"),
    # b: signup 3 min after landing (US, mobile, pro)
    event("b1", 5 * MIN, user="b", site="t", page="/landing/spring", country="US", device="mobile", plan="pro"),
    event("b2", 8 * MIN, "signup", user="b", site="t", country="US", device="mobile", plan="pro"),
    # c: signup after 5 min; the purchase 31 min after the landing is outside the window
    event("c1", 20 * MIN, user="c", site="t", page="/", country="DE", device="mobile", plan="free"),
    event("c2", 25 * MIN, "signup", user="c", site="t", country="DE", device="mobile", plan="free"),
    event("c3", 51 * MIN, "purchase", user="c", site="t", country="DE", device="mobile", plan="free"),
    # d: two landings in the same millisecond, on a tablet and on a desktop: the segment is
    # the smaller (desktop); signup 1 ms later
    event("d1", 30 * MIN, user="d", site="t", page="/", country="DE", device="tablet", plan="free"),
    event("d2", 30 * MIN, user="d", site="t", page="/", country="DE", device="desktop", plan="free"),
    event("d3", 30 * MIN + 1, "signup", user="d", site="t", country="DE", device="desktop", plan="free"),

    # --- promoted properties as dimensions (signup funnel, site x, hour 22:00) ---
    # x1 lands in the control arm and signs up after 2 min; x2 in new_pricing, after 3 min
    event("x1a", 0, user="x1", site="x", page="/", properties={"experiment": "control"}),
    event("x1s", 2 * MIN, "signup", user="x1", site="x", properties={"experiment": "control"}),
    event("x2a", 1 * MIN, user="x2", site="x", page="/", properties={"experiment": "new_pricing"}),
    event("x2s", 4 * MIN, "signup", user="x2", site="x", properties={"experiment": "new_pricing"}),
    # x3: two landings in the same millisecond, new_pricing arriving first: the segment is
    # the smaller (control), not the first to arrive; signup 10 s later
    event("x3a", 5 * MIN, user="x3", site="x", page="/", properties={"experiment": "new_pricing"}),
    event("x3b", 5 * MIN, user="x3", site="x", page="/", properties={"experiment": "control"}),
    event("x3s", 5 * MIN + 10 * SEC, "signup", user="x3", site="x"),
    # x4: two landings in the same millisecond that differ in device and arm: device is
    # compared first, so x4 is (desktop, new_pricing), though control is the smaller arm
    event("x4a", 6 * MIN, user="x4", site="x", page="/", device="mobile", properties={"experiment": "control"}),
    event("x4b", 6 * MIN, user="x4", site="x", page="/", device="desktop", properties={"experiment": "new_pricing"}),
    # x5: the first landing has no arm ('none'), the second is in control: x5 counts under
    # 'none'; time to signup 60 s, from the second landing
    event("x5a", 7 * MIN, user="x5", site="x", page="/"),
    event("x5b", 8 * MIN, user="x5", site="x", page="/", properties={"experiment": "control", "button": 3}),
    event("x5s", 9 * MIN, "signup", user="x5", site="x"),

    # --- a funnel step on an event property (cta funnel, site p) ---
    # p1: docs -> click {target: docs_cta} -> signup: all three steps
    event("p1a", 0, user="p1", site="p", page="/docs"),
    event("p1b", 1 * MIN, "click", user="p1", site="p", page="/docs", properties={"target": "docs_cta"}),
    event("p1c", 2 * MIN, "signup", user="p1", site="p", page="/signup"),
    # p2: a click on another target, p3 a target that is a list, p4 a click without
    # properties: step 1 only (their signups do not count without step 2)
    event("p2a", 0, user="p2", site="p", page="/docs"),
    event("p2b", 1 * MIN, "click", user="p2", site="p", page="/docs", properties={"target": "nav"}),
    event("p2c", 2 * MIN, "signup", user="p2", site="p", page="/signup"),
    event("p3a", 0, user="p3", site="p", page="/docs"),
    event("p3b", 1 * MIN, "click", user="p3", site="p", page="/docs", properties={"target": ["signup_cta"]}),
    event("p4a", 0, user="p4", site="p", page="/docs"),
    event("p4b", 1 * MIN, "click", user="p4", site="p", page="/docs"),
    event("p4c", 2 * MIN, "signup", user="p4", site="p", page="/signup"),
], key=lambda e: e["ts"])
# e: its signup (4 s after the landing, US, tablet, no plan) arrives before the landing,
# within the watermark delay (the next event is at 22:50): time to signup 4 s all the same
_AT = next(i for i, e in enumerate(ITEMS) if e["ts"] > T0 + 40 * MIN + 4 * SEC)
ITEMS[_AT:_AT] = [event("e2", 40 * MIN + 4 * SEC, "signup", user="e", site="t", country="US", device="tablet"),
                  event("e1", 40 * MIN, user="e", site="t", page="/", country="US", device="tablet")]


def step(h: int, funnel: str, k: int, name: str, users: int, site: str = "s1") -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, funnel=funnel, step=k, step_name=name,
                users=users)


def seg(dimension: str, segment: str, k: int, name: str, users: int, median_s: float, p90_s: float) -> dict:
    """A funnel_breakdown row of the signup funnel on site t, hour 22:00."""
    return dict(hour_start=ts_utc(T0), site_id="t", funnel="signup", step=k, dimension=dimension, segment=segment,
                step_name=name, users=users, median_s=median_s, p90_s=p90_s)


@pytest.fixture(scope="module")
def funnels_file(tmp_path_factory):
    """The default funnels and the cta funnel, as the one definition file of this module."""
    path = tmp_path_factory.mktemp("funnels") / "funnels.yaml"
    path.write_text((SQL_DIR / "funnels.yaml").read_text().rstrip() + "\n" + CTA_FUNNEL)
    mp = pytest.MonkeyPatch()
    mp.setattr(funnel_defs, "FUNNELS_FILE", path)
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def tables(funnels_file):
    return run(records(ITEMS), "funnel_conversions", "funnel_breakdown")


def test_users_per_step_and_hour_of_first_step(tables):
    same_rows(tables["funnel_conversions"], [
        step(0, "signup", 1, "landing", 7),          # u1 u2 u3 u4 u5 u6 u9
        step(0, "signup", 2, "signup", 5),           # u1 u2 u5 u6 u9
        step(0, "signup", 3, "purchase", 1),         # u1
        step(1, "signup", 1, "landing", 1),          # u6's second attempt
        step(1, "signup", 2, "signup", 1),
        step(0, "product_purchase", 1, "product_view", 2),   # u1 u10
        step(0, "product_purchase", 2, "add_to_cart", 2),
        step(0, "product_purchase", 3, "purchase", 1),        # u1
        step(0, "signup", 1, "landing", 1, site="s2"),
        step(0, "signup", 1, "landing", 5, site="t"),         # a b c d e
        step(0, "signup", 2, "signup", 5, site="t"),
        step(0, "signup", 3, "purchase", 1, site="t"),        # a
        step(0, "signup", 1, "landing", 5, site="x"),         # x1 .. x5
        step(0, "signup", 2, "signup", 4, site="x"),          # all but x4
        step(0, "cta", 1, "docs", 4, site="p"),               # p1 p2 p3 p4
        step(0, "cta", 2, "cta_click", 1, site="p"),          # p1: the only matching target
        step(0, "cta", 3, "signup", 1, site="p"),
    ])


def test_time_to_convert_and_users_by_device(tables):
    rows = [r for r in tables["funnel_breakdown"] if r["site_id"] == "t" and r["dimension"] in ("all", "device")]
    same_rows(rows, [
        # times to signup: a 120 s, b 180 s, c 300 s, d 0.001 s, e 4 s; p90 = 180 + 0.6 x 120
        seg("all", "all", 1, "landing", 5, 0.0, 0.0),
        seg("all", "all", 2, "signup", 5, 120.0, 252.0),
        seg("all", "all", 3, "purchase", 1, 600.0, 600.0),            # a's second attempt
        seg("device", "desktop", 1, "landing", 2, 0.0, 0.0),          # a (first landing), d
        seg("device", "desktop", 2, "signup", 2, 60.0005, 108.0001),  # 0.001 s and 120 s
        seg("device", "desktop", 3, "purchase", 1, 600.0, 600.0),
        seg("device", "mobile", 1, "landing", 2, 0.0, 0.0),           # b, c
        seg("device", "mobile", 2, "signup", 2, 240.0, 288.0),        # 180 s and 300 s
        seg("device", "tablet", 1, "landing", 1, 0.0, 0.0),           # e
        seg("device", "tablet", 2, "signup", 1, 4.0, 4.0),
    ])


def xseg(dimension: str, segment: str, k: int, name: str, users: int, median_s: float, p90_s: float) -> dict:
    """A funnel_breakdown row of the signup funnel on site x, hour 22:00."""
    return {**seg(dimension, segment, k, name, users, median_s, p90_s), "site_id": "x"}


def test_users_by_promoted_property(tables):
    """Each promoted property is a dimension: a user counts under the values of their first
    step-1 event of the hour; ties in the same millisecond go to the smallest segment,
    compared country, device, plan, then the properties in sql/properties.yaml's order."""
    rows = [r for r in tables["funnel_breakdown"] if r["site_id"] == "x"
            and r["dimension"] in ("experiment", "button", "device")]
    same_rows(rows, [
        xseg("experiment", "control", 1, "landing", 2, 0.0, 0.0),          # x1, x3 (the tie)
        xseg("experiment", "control", 2, "signup", 2, 65.0, 109.0),        # 120 s and 10 s
        xseg("experiment", "new_pricing", 1, "landing", 2, 0.0, 0.0),      # x2, x4 (desktop first)
        xseg("experiment", "new_pricing", 2, "signup", 1, 180.0, 180.0),   # x2
        xseg("experiment", "none", 1, "landing", 1, 0.0, 0.0),             # x5's first landing
        xseg("experiment", "none", 2, "signup", 1, 60.0, 60.0),
        # no landing has a usable button (x5b's is a number): all 'none'
        xseg("button", "none", 1, "landing", 5, 0.0, 0.0),
        xseg("button", "none", 2, "signup", 4, 90.0, 162.0),               # 10, 60, 120, 180 s
        xseg("device", "unknown", 1, "landing", 4, 0.0, 0.0),
        xseg("device", "unknown", 2, "signup", 4, 90.0, 162.0),
        xseg("device", "desktop", 1, "landing", 1, 0.0, 0.0),              # x4
    ])


def test_segment_rows_add_up_to_the_site(tables):
    """One segment per user, funnel and hour: each dimension's users sum to the 'all' row."""
    rows = tables["funnel_breakdown"]
    total = {(r["hour_start"], r["site_id"], r["funnel"], r["step"]): r["users"]
             for r in rows if r["dimension"] == "all"}
    for dimension in ("country", "device", "plan", *(p.name for p in load_properties())):
        sums: dict = {}
        for r in rows:
            if r["dimension"] == dimension:
                key = (r["hour_start"], r["site_id"], r["funnel"], r["step"])
                sums[key] = sums.get(key, 0) + r["users"]
        assert sums == total, dimension


def test_matches_reference(tables, funnels_file):
    same_as_truth(tables, records(ITEMS))


def test_funnel_file_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "funnels.yaml"
    bad.write_text("funnels:\n  - name: f\n    steps:\n      - {name: a, event_type: page_view, pages: /}\n"
                   "      - {name: b, event_type: signup}\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:4: funnels\[0\] \(f\) steps\[0\]: unknown key\(s\) pages"):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n    window: 30 minutes\n    steps: []\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:3: .*window '30 minutes' must look like 30m"):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n   steps: [\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:\d+: "):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n    steps:\n      - {name: a, event_type: page_view}\n"
                   "      - name: b\n        event_type: click\n        properties:\n          price: '5'\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:8: .*steps\[1\]: property price: '5' must be text "
                                              r"that does not read as a number"):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n    steps:\n      - {name: a, event_type: page_view}\n"
                   "      - {name: b, event_type: click, properties: [button]}\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:5: .*properties must map property names"):
        load_funnels(bad)


def test_a_property_step_is_a_json_value_test():
    step_def = funnel_defs.Step("b", "click", properties={"target": ["signup_cta", "docs_cta"]})
    assert step_def.predicate() == ("event_type = 'click' AND "
                                    "JSON_VALUE(properties, '$.target') IN ('signup_cta', 'docs_cta')")
    assert step_def.matches("click", "/", json.loads('{"target": "docs_cta"}'))
    assert not step_def.matches("click", "/", json.loads('{"target": ["docs_cta"]}'))
    assert not step_def.matches("click", "/", None)
