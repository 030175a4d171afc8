"""funnel_conversions: users reaching each step, per hour of the first step.

Default funnels (sql/funnels.yaml): signup = landing page view (/ or /landing/...) ->
signup -> purchase; product_purchase = /products/... view -> add_to_cart -> purchase;
both within 30 minutes of the first step."""

from __future__ import annotations

import pytest

from clickpulse.errors import ClickpulseError
from clickpulse.runner.funnels import load_funnels
from clickpulse.truth import ts_utc
from harness import run, same_as_truth, same_rows
from scenarios import MIN, SEC, T0, event, records

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
], key=lambda e: e["ts"])


def step(h: int, funnel: str, k: int, name: str, users: int, site: str = "s1") -> dict:
    return dict(hour_start=ts_utc(T0 + h * 60 * MIN), site_id=site, funnel=funnel, step=k, step_name=name,
                users=users)


@pytest.fixture(scope="module")
def tables():
    return run(records(ITEMS), "funnel_conversions")


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
    ])


def test_matches_reference(tables):
    same_as_truth(tables, records(ITEMS))


def test_funnel_file_errors_name_the_funnel_and_step(tmp_path):
    bad = tmp_path / "funnels.yaml"
    bad.write_text("funnels:\n  - name: f\n    steps:\n      - {name: a, event_type: page_view, pages: /}\n"
                   "      - {name: b, event_type: signup}\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml: funnels\[0\] \(f\) steps\[0\]: unknown key\(s\) pages"):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n    window: 30 minutes\n    steps: []\n")
    with pytest.raises(ClickpulseError, match=r"window '30 minutes' must look like 30m"):
        load_funnels(bad)
    bad.write_text("funnels:\n  - name: f\n   steps: [\n")
    with pytest.raises(ClickpulseError, match=r"funnels.yaml:\d+: "):
        load_funnels(bad)
