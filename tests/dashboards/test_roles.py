"""Who may do what, through Superset's API as each demo user: analysts query and build,
viewers only look, and row-level security keeps a site-bound viewer on its site."""

from __future__ import annotations

import uuid

import pytest

from clickpulse.dashboards.client import Superset, SupersetError
from clickpulse.dashboards.rls import clause, rule_name
from clickpulse.stack import postgres

pytestmark = pytest.mark.integration


def _login(settings, prefix: str) -> Superset:
    return Superset(settings.superset_url, getattr(settings, f"superset_{prefix}_user"),
                    getattr(settings, f"superset_{prefix}_password"))


def _database_id(sp: Superset) -> int:
    return next(d["id"] for d in sp.list("database", columns=["id", "database_name"])
                if d["database_name"] == "clickpulse")


def _dataset_id(sp: Superset, table: str) -> int:
    return next(d["id"] for d in sp.list("dataset", columns=["id", "table_name"]) if d["table_name"] == table)


def _sql(sp: Superset, database_id: int, sql: str) -> dict:
    return sp.post("/api/v1/sqllab/execute/", {"database_id": database_id, "sql": sql, "runAsync": False,
                                                "schema": "public", "tab": "test", "client_id": uuid.uuid4().hex[:10]},
                   ok=(200, 201, 202, 400, 403, 422, 500))


def _sites_seen(sp: Superset, dataset_id: int) -> set[str]:
    data = sp.post("/api/v1/chart/data", {
        "datasource": {"id": dataset_id, "type": "table"}, "force": True,
        "queries": [{"columns": ["site_id"], "row_limit": 10000,
                     "metrics": [{"expressionType": "SQL", "sqlExpression": "COUNT(*)", "label": "rows"}]}],
        "result_format": "json", "result_type": "full"})
    return {row["site_id"] for row in data["result"][0]["data"]}


def test_every_demo_user_can_log_in_with_the_configured_password(synced):
    for prefix in ("admin", "analyst", "viewer", "site_viewer"):
        with _login(synced, prefix) as sp:
            me = sp.get("/api/v1/me/")["result"]
            assert me["username"] == getattr(synced, f"superset_{prefix}_user")


def test_analyst_queries_the_analytics_database_in_sql_lab_read_only(synced, seeded):
    with _login(synced, "analyst") as sp:
        db = _database_id(sp)
        ok = _sql(sp, db, f"SELECT count(*) AS n FROM events_per_minute WHERE site_id = '{seeded[0].site_id}'")
        assert ok.get("status") == "success", ok
        assert ok["data"][0]["n"] > 0
        denied = _sql(sp, db, f"DELETE FROM events_per_minute WHERE site_id = '{seeded[0].site_id}'")
        assert denied.get("status") != "success", "the analyst could delete metric rows"
    # the rows are still there, whatever Superset answered
    with postgres.connect(synced, "admin") as conn:
        n = conn.execute("SELECT count(*) FROM events_per_minute WHERE site_id = %s", (seeded[0].site_id,)).fetchone()[0]
    assert n > 0


def test_analyst_creates_a_dataset_and_a_chart(synced):
    with _login(synced, "analyst") as sp:
        db = _database_id(sp)
        name = f"test_analyst_{uuid.uuid4().hex[:8]}"
        ds = sp.post("/api/v1/dataset/", {"database": db, "schema": "public", "table_name": name,
                                          "sql": "SELECT site_id, sum(events) AS events FROM events_per_day GROUP BY 1"})
        try:
            chart = sp.post("/api/v1/chart/", {"slice_name": name, "viz_type": "table", "datasource_id": ds["id"],
                                               "datasource_type": "table", "params": "{}"})
            sp.delete(f"/api/v1/chart/{chart['id']}")
        finally:
            sp.delete(f"/api/v1/dataset/{ds['id']}")


def test_viewer_can_neither_query_sql_nor_create_charts(synced, admin):
    db = _database_id(admin)
    with _login(synced, "viewer") as sp:
        res = sp.request("POST", "/api/v1/sqllab/execute/", ok=(200, 201, 202, 401, 403, 404),
                         json={"database_id": db, "sql": "SELECT 1", "runAsync": False})
        assert res.status_code in (401, 403, 404), f"viewer ran SQL: HTTP {res.status_code}"
        with pytest.raises(SupersetError) as e:
            sp.post("/api/v1/chart/", {"slice_name": "nope", "viz_type": "table", "datasource_id": 1,
                                       "datasource_type": "table"})
        assert e.value.status in (401, 403)
        with pytest.raises(SupersetError) as e:
            sp.post("/api/v1/dataset/", {"database": db, "schema": "public", "table_name": "events"})
        assert e.value.status in (401, 403)


def test_viewer_sees_every_site(synced, seeded, admin):
    with _login(synced, "viewer") as sp:
        seen = _sites_seen(sp, _dataset_id(admin, "events_per_minute"))
    assert {s.site_id for s in seeded} <= seen


def test_site_bound_viewer_sees_only_its_site_in_every_site_dataset(synced, seeded, site_viewer, admin):
    username, password, site = site_viewer
    with Superset(synced.superset_url, username, password) as sp:
        for table in ("events_per_minute", "active_users_live", "live_top_pages", "funnel_steps",
                      "active_users_daily", "sessions_1d", "pipeline_events_per_minute"):
            seen = _sites_seen(sp, _dataset_id(admin, table))
            assert seen == {site}, f"{username} sees {seen} in {table}"


def test_configured_site_viewer_is_bound_to_its_site(synced, admin):
    rules = [r for r in admin.list("rowlevelsecurity") if r["name"] == rule_name(synced.superset_site_viewer_site)]
    assert len(rules) == 1
    assert rules[0]["clause"] == clause(synced.superset_site_viewer_site)
    user = next(u for u in admin.list("security/users") if u["username"] == synced.superset_site_viewer_user)
    assert {r["name"] for r in user["roles"]} == {"Site viewer", f"Site {synced.superset_site_viewer_site}"}
