"""`clickpulse dashboards sync` against the real Superset and PostgreSQL: the assets of
superset/assets/ land as they are written, a second run changes nothing, and every metric
table is chartable without hand work."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml

from clickpulse.dashboards import assets
from clickpulse.dashboards.client import Superset
from clickpulse.paths import METRICS_DIR, SQL_DIR
from clickpulse.stack import postgres

from conftest import run_cli

pytestmark = pytest.mark.integration


def _state(sp: Superset) -> dict:
    """What sync manages, by name, with Superset's ids (ids change only if an asset is recreated)."""
    return {
        "dashboards": sorted((d["id"], d["dashboard_title"]) for d in sp.list("dashboard", columns=["id", "dashboard_title"])),
        "charts": sorted((c["id"], c["slice_name"]) for c in sp.list("chart", columns=["id", "slice_name"])),
        "datasets": sorted((d["id"], d["table_name"]) for d in sp.list("dataset", columns=["id", "table_name"])),
        "databases": sorted((d["id"], d["database_name"]) for d in sp.list("database", columns=["id", "database_name"])),
        "roles": sorted((r["id"], r["name"]) for r in sp.list("security/roles")),
        "users": sorted((u["id"], u["username"]) for u in sp.list("security/users")),
        "rls": sorted((r["id"], r["name"], r["clause"]) for r in sp.list("rowlevelsecurity")),
    }


def test_sync_twice_changes_nothing_and_duplicates_nothing(synced, admin):
    before = _state(admin)
    res = run_cli("dashboards", "sync")
    after = _state(admin)
    assert after == before
    for kind in ("dashboards", "charts", "datasets", "databases", "roles", "users"):
        names = [row[1] for row in after[kind]]
        assert len(names) == len(set(names)), f"duplicate {kind}: {sorted(n for n in names if names.count(n) > 1)}"
    for line in res.stdout.splitlines():
        if any(w in line for w in ("role ", "user ", "rls ")):
            assert "unchanged" in line, f"second sync still changed something: {line.strip()}"


def test_every_asset_file_is_in_superset_under_its_uuid(admin, synced):
    files = assets.read_assets()
    for kind, resource, key in (("dashboards", "dashboard", "dashboard_title"), ("charts", "chart", "slice_name"),
                                ("datasets", "dataset", "table_name")):
        in_superset = {str(r["uuid"]): r for r in admin.list(resource, columns=["id", "uuid", key])}
        for name, cfg in files.items():
            if name.startswith(kind + "/"):
                assert str(cfg["uuid"]) in in_superset, f"superset/assets/{name} was not imported"
                assert in_superset[str(cfg["uuid"])][key] == cfg[key]


def test_live_dashboard_refreshes_every_5_seconds_for_every_viewer_all_charts_at_once(admin, synced):
    dash = admin.get("/api/v1/dashboard/live")["result"]
    meta = json.loads(dash["json_metadata"])
    assert meta["refresh_frequency"] == 5
    assert meta["stagger_refresh"] is False, "staggered refreshes spread one cycle over several seconds"
    assert dash["published"], "unpublished dashboards are hidden from viewers"


def test_database_password_is_not_in_the_assets(synced):
    cfg = assets.read_assets()[assets.DATABASE_FILE]
    assert "password" not in cfg
    assert ":XXXXXXXXXX@" in cfg["sqlalchemy_uri"]
    text = "\n".join(p.read_text() for p in assets.ASSETS_DIR.rglob("*.yaml"))
    for secret in (synced.postgres_reader_password, synced.postgres_admin_password, synced.postgres_writer_password):
        assert secret not in text


def test_superset_reaches_the_database_as_the_read_only_role(admin, synced):
    db = next(d for d in admin.list("database", columns=["id", "database_name"]) if d["database_name"] == "clickpulse")
    conn = admin.get(f"/api/v1/database/{db['id']}/connection")["result"]
    assert conn["sqlalchemy_uri"].startswith(f"postgresql+psycopg2://{synced.postgres_reader_user}:")
    assert not conn["allow_dml"]


def test_every_metric_table_has_a_dataset(admin, synced):
    datasets = {d["table_name"] for d in admin.list("dataset", columns=["table_name"])}
    for path in METRICS_DIR.glob("*.sql"):
        assert path.stem in datasets, f"no dataset for sql/metrics/{path.name}"
    for rollup in ("events_per_hour", "events_per_day", "sessions_1d", "pipeline_health"):
        assert rollup in datasets


def test_funnel_dataset_lists_the_steps_of_funnels_yaml(admin, synced):
    doc = yaml.safe_load((SQL_DIR / "funnels.yaml").read_text())
    ds = next(d for d in admin.list("dataset", columns=["id", "table_name"]) if d["table_name"] == "funnel_steps")
    sql = admin.get(f"/api/v1/dataset/{ds['id']}")["result"]["sql"]
    for f in doc["funnels"]:
        for k, step in enumerate(f["steps"], start=1):
            assert f"('{f['name']}', {k}, '{step['name']}', {len(f['steps'])})" in sql


def test_a_new_metric_table_is_chartable_after_sync(admin, synced):
    """A table a new metric's migration creates gets a dataset at the next sync, and the
    chart data API answers on it (what an analyst's chart would ask)."""
    table = f"test_metric_{uuid.uuid4().hex[:8]}"
    with postgres.connect(synced, "admin", autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (minute timestamptz NOT NULL, site_id text NOT NULL, "
                     f"signups bigint NOT NULL, PRIMARY KEY (minute, site_id))")
        conn.execute(f"GRANT SELECT ON {table} TO {synced.postgres_reader_user}")
        conn.execute(f"INSERT INTO {table} VALUES (now(), 'test-site', 42)")
    try:
        run_cli("dashboards", "sync")
        ds = [d for d in admin.list("dataset", columns=["id", "table_name"]) if d["table_name"] == table]
        assert len(ds) == 1, f"sync registered {len(ds)} datasets for {table}"
        detail = admin.get(f"/api/v1/dataset/{ds[0]['id']}")["result"]
        assert detail["main_dttm_col"] == "minute"
        assert {c["column_name"] for c in detail["columns"]} == {"minute", "site_id", "signups"}
        data = admin.post("/api/v1/chart/data", {
            "datasource": {"id": ds[0]["id"], "type": "table"}, "force": True,
            "queries": [{"columns": ["site_id"], "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(signups)",
                                                             "label": "signups"}], "row_limit": 10}],
            "result_format": "json", "result_type": "full"})
        assert data["result"][0]["data"] == [{"site_id": "test-site", "signups": 42}]
        run_cli("dashboards", "sync")
        again = [d for d in admin.list("dataset", columns=["id", "table_name"]) if d["table_name"] == table]
        assert [d["id"] for d in again] == [ds[0]["id"]], "a second sync recreated the generated dataset"
    finally:
        for d in admin.list("dataset", columns=["id", "table_name"]):
            if d["table_name"] == table:
                admin.delete(f"/api/v1/dataset/{d['id']}")
        with postgres.connect(synced, "admin", autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def test_every_chart_carries_the_query_its_params_build():
    """The saved query (query_context) is what the chart-data API, reports and the bench run;
    it must not drift from the params the dashboards render (re-record it with
    `clickpulse dashboards capture-queries` after editing a chart)."""
    for name, cfg in assets.read_assets().items():
        if not name.startswith("charts/"):
            continue
        assert cfg.get("query_context"), f"superset/assets/{name} has no query_context"
        form_data = json.loads(cfg["query_context"])["form_data"]
        for key in ("viz_type", "metrics", "metric", "groupby", "x_axis", "time_grain_sqla", "adhoc_filters",
                    "all_columns", "row_limit"):
            if key in cfg["params"]:
                assert form_data.get(key) == cfg["params"][key], f"superset/assets/{name}: query_context.{key} differs"


def test_trends_event_datasets_answer_the_same_from_either_rollup(admin, synced, seeded):
    """events_daily reads the per-type rollup unless a query filters or groups by a
    segment; both give the same totals."""
    ds = next(d for d in admin.list("dataset", columns=["id", "table_name"]) if d["table_name"] == "events_daily")
    site = seeded[0].site_id

    def events_by_type(extra_filters: list[dict]) -> tuple[dict, str]:
        body = {"datasource": {"id": ds["id"], "type": "table"}, "force": True,
                "queries": [{"columns": ["event_type"], "row_limit": 100,
                             "metrics": [{"expressionType": "SQL", "sqlExpression": "SUM(events)", "label": "n"}],
                             "filters": [{"col": "site_id", "op": "IN", "val": [site]}] + extra_filters}],
                "result_format": "json", "result_type": "full"}
        data = admin.post("/api/v1/chart/data", body)["result"][0]
        return {r["event_type"]: r["n"] for r in data["data"]}, data["query"]

    by_type, sql = events_by_type([])
    assert "FROM events_per_day_by_type" in sql
    countries = sorted({r[0] for r in postgres.connect(synced, "reader", autocommit=True).execute(
        "SELECT DISTINCT country FROM events_per_day WHERE site_id = %s", (site,)).fetchall()})
    full, sql = events_by_type([{"col": "country", "op": "IN", "val": countries}])
    assert re.search(r"FROM events_per_day\b(?!_)", sql), sql
    assert by_type == full and sum(by_type.values()) > 0


def test_live_charts_share_cached_results_for_about_one_refresh(admin, synced):
    """Every dataset behind the Live dashboard keeps a result for about its refresh period,
    so viewers share one query per period instead of each running their own."""
    dash = json.loads(admin.get("/api/v1/dashboard/live")["result"]["json_metadata"])
    for chart in admin.get("/api/v1/dashboard/live/charts")["result"]:
        detail = admin.get(f"/api/v1/chart/{chart['id']}")["result"]
        ds = json.loads(detail["query_context"])["datasource"]
        dataset = admin.get(f"/api/v1/dataset/{ds['id']}")["result"]
        assert 0 < (dataset["cache_timeout"] or 0) <= dash["refresh_frequency"], \
            f"{chart['slice_name']}: dataset {dataset['table_name']} caches for {dataset['cache_timeout']} s"
