"""Row-level security by site: a user holding the role `Site <site_id>` sees only that
site's rows in every dataset that has a `site_id` column (physical and virtual), in
dashboards, charts and native filter values.

One rule per site, named `clickpulse site <site_id>`, with group key `site_id` (Superset ORs
rules of the same group key, so a user bound to two sites sees both). `dashboards sync`
re-applies each rule to the current datasets, so a dataset added later is covered too.
"""

from __future__ import annotations

from .client import Superset
from .roles import Change, Security, site_role

RULE_PREFIX = "clickpulse site "


def rule_name(site_id: str) -> str:
    return RULE_PREFIX + site_id


def clause(site_id: str) -> str:
    return "site_id = '" + site_id.replace("'", "''") + "'"


def database_datasets(sp: Superset, database_id: int) -> dict[int, tuple[str, bool]]:
    """Every dataset of the analytics database: id -> (table name, has a site_id column)."""
    out = {}
    for ds in sp.list("dataset", filters=[{"col": "database", "opr": "rel_o_m", "value": database_id}],
                      columns=["id", "table_name"]):
        cols = sp.get(f"/api/v1/dataset/{ds['id']}", params={"q": "(columns:!(columns.column_name))"})
        names = {c["column_name"] for c in cols["result"].get("columns", [])}
        out[ds["id"]] = (ds["table_name"], "site_id" in names)
    return out


def ensure_site_rule(sp: Superset, sec: Security, site_id: str, tables: list[int]) -> tuple[int, list[Change]]:
    """The role `Site <site_id>` and its rule over `tables`. Returns the role id."""
    role_id, role_change = sec.ensure_role(site_role(site_id), None)
    name = rule_name(site_id)
    body = {"name": name, "description": f"Users with the role {site_role(site_id)!r} see only site {site_id}.",
            "filter_type": "Regular", "tables": tables, "roles": [role_id], "group_key": "site_id",
            "clause": clause(site_id)}
    existing = [r for r in sp.list("rowlevelsecurity", filters=[{"col": "name", "opr": "eq", "value": name}])
                if r["name"] == name]
    if not existing:
        sp.post("/api/v1/rowlevelsecurity/", body)
        return role_id, [role_change, Change("rls", name, "created")]
    rule = existing[0]
    same = (sorted(t["id"] for t in rule.get("tables", [])) == tables
            and [r["id"] for r in rule.get("roles", [])] == [role_id]
            and rule.get("clause") == body["clause"] and rule.get("filter_type") == "Regular"
            and rule.get("group_key") == "site_id")
    if same:
        return role_id, [role_change, Change("rls", name, "unchanged")]
    sp.put(f"/api/v1/rowlevelsecurity/{rule['id']}", body)
    return role_id, [role_change, Change("rls", name, "updated")]


def delete_site_rule(sp: Superset, sec: Security, site_id: str) -> None:
    name = rule_name(site_id)
    for r in sp.list("rowlevelsecurity", filters=[{"col": "name", "opr": "eq", "value": name}]):
        if r["name"] == name:
            sp.delete(f"/api/v1/rowlevelsecurity/{r['id']}")
    sec.delete_role(site_role(site_id))


def refresh_all_rules(sp: Superset, tables: list[int]) -> list[Change]:
    """Every clickpulse site rule (also those created for other site-bound users) covers
    the current datasets."""
    changes = []
    for rule in sp.list("rowlevelsecurity"):
        if not rule["name"].startswith(RULE_PREFIX):
            continue
        if sorted(t["id"] for t in rule.get("tables", [])) == tables:
            continue
        body = {"name": rule["name"], "filter_type": rule["filter_type"], "tables": tables,
                "roles": [r["id"] for r in rule.get("roles", [])], "group_key": rule.get("group_key"),
                "clause": rule["clause"]}
        sp.put(f"/api/v1/rowlevelsecurity/{rule['id']}", body)
        changes.append(Change("rls", rule["name"], "updated"))
    return changes
