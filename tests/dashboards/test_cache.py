"""Superset's shared cache in Redis: viewers of the same chart share one query. Two
different users ask for the same Live chart; the second answer comes from the cache that
the first one filled, and the entry is in the stack's Redis (not in one worker's memory or
one machine's disk)."""

from __future__ import annotations

import copy
import json

import pytest
import redis

from clickpulse.dashboards.client import Superset
from clickpulse.dashboards.roles import require_login

pytestmark = pytest.mark.integration

DATA_PREFIX = "clickpulse_data_"  # DATA_CACHE_CONFIG's CACHE_KEY_PREFIX in superset_config.py


def _live_charts(sp: Superset) -> list[tuple[str, dict]]:
    charts = sp.get("/api/v1/dashboard/live/charts")["result"]
    out = []
    for c in sorted(charts, key=lambda c: c["slice_name"]):
        detail = sp.get(f"/api/v1/chart/{c['id']}")["result"]
        out.append((c["slice_name"], json.loads(detail["query_context"])))
    return out


def _for_site(query_context: dict, site: str) -> dict:
    """The chart's saved query narrowed to one test site: a query nobody asked before."""
    qc = copy.deepcopy(query_context)
    for q in qc["queries"]:
        q.setdefault("filters", []).append({"col": "site_id", "op": "IN", "val": [site]})
    return {**qc, "force": False, "result_format": "json", "result_type": "full"}


def _chart_data(sp: Superset, body: dict) -> list[dict]:
    return sp.request("POST", "/api/v1/chart/data", json=body, ok=(200,)).json()["result"]


@pytest.fixture(scope="module")
def two_users(synced):
    users = []
    for prefix in ("analyst", "viewer"):
        name, password = require_login(synced, prefix)
        users.append(Superset(synced.superset_url, name, password))
    yield users
    for sp in users:
        sp.close()


def test_second_viewer_of_a_live_chart_gets_the_first_viewers_cached_result(synced, seeded, admin, two_users):
    first, second = two_users
    cache = redis.Redis.from_url(synced.redis_url)
    site = seeded[0].site_id
    charts = _live_charts(admin)
    assert charts, "the Live dashboard has no charts"
    for name, qc in charts:
        body = _for_site(qc, site)
        a = _chart_data(first, body)
        b = _chart_data(second, body)
        assert not any(r["is_cached"] for r in a), f"{name}: the first request was already cached (not a new query)"
        assert all(r["is_cached"] for r in b), f"{name}: {second.username} re-ran the query of {first.username}"
        assert [r["data"] for r in a] == [r["data"] for r in b], f"{name}: the cached answer differs"
        for r in b:
            assert cache.exists(DATA_PREFIX + r["cache_key"]), f"{name}: result {r['cache_key']} is not in Redis"
