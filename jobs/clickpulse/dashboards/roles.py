"""The Superset roles and users of clickpulse.

- Admin: Superset's own role (the admin user is created by `clickpulse stack up` /
  `clickpulse stack superset-init`).
- Analyst: everything a Viewer has, plus SQL Lab and creating charts, dashboards and
  datasets on the analytics database. Superset connects to that database as the
  read-only PostgreSQL role, so nothing an analyst runs can write.
- Viewer: opens dashboards and changes their filters; no Explore, no SQL Lab, no editing.
- Site viewer + `Site <site_id>`: a viewer bound to one site. Instead of the whole
  database it may read only the datasets that existed at the last `dashboards sync`,
  each of which row-level security restricts to its site when it has a site_id column
  (rls.py); a dataset an analyst adds later stays invisible to it until the next sync
  has put it under the rule.

Permissions are listed by name, not copied from Superset's built-in roles, so what each
role may do is reviewable here and does not change when Superset's defaults do.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from ..errors import ClickpulseError
from .client import Superset, SupersetError

ANALYST = "Analyst"
VIEWER = "Viewer"
SITE_VIEWER = "Site viewer"

# What a dashboard needs to open, render its charts and apply native filters.
VIEWER_PERMISSIONS = {
    ("can_read", "Dashboard"), ("menu_access", "Dashboards"), ("can_dashboard", "Superset"),
    ("can_dashboard_permalink", "Superset"), ("can_share_dashboard", "Superset"),
    ("can_read", "DashboardFilterStateRestApi"), ("can_write", "DashboardFilterStateRestApi"),
    ("can_read", "DashboardPermalinkRestApi"), ("can_write", "DashboardPermalinkRestApi"),
    # chart data of the dashboards' charts and the native filters' values
    ("can_read", "Chart"), ("can_time_range", "Api"),
    # the application shell: home page, menu, own profile, theme
    ("menu_access", "Home"), ("can_read", "CurrentUserRestApi"), ("can_recent_activity", "Log"),
    ("can_log", "Superset"), ("can_get", "MenuApi"), ("can_read", "Theme"), ("can_read", "CssTemplate"),
    ("can_read", "AvailableDomains"), ("can_list", "AsyncEventsRestApi"), ("can_language_pack", "Superset"),
    ("can_read", "SecurityRestApi"),  # the CSRF token every state-changing request carries
    ("can_userinfo", "UserDBModelView"), ("resetmypassword", "UserDBModelView"),
    ("can_this_form_get", "ResetMyPasswordView"), ("can_this_form_post", "ResetMyPasswordView"),
}

# Exploring, building charts/dashboards, and datasets (physical or from a SQL Lab query).
AUTHORING_PERMISSIONS = {
    ("can_read", "Explore"), ("can_explore", "Superset"), ("can_explore_json", "Superset"), ("can_slice", "Superset"),
    ("can_write", "Chart"), ("can_export", "Chart"), ("menu_access", "Charts"), ("can_share_chart", "Superset"),
    ("can_write", "Dashboard"), ("can_export", "Dashboard"), ("can_drill", "Dashboard"),
    ("can_view_chart_as_table", "Dashboard"), ("can_view_query", "Dashboard"),
    ("can_read", "ExploreFormDataRestApi"), ("can_write", "ExploreFormDataRestApi"),
    ("can_read", "ExplorePermalinkRestApi"), ("can_write", "ExplorePermalinkRestApi"),
    ("can_query", "Api"), ("can_query_form_data", "Api"), ("can_fetch_datasource_metadata", "Superset"),
    ("can_get", "Datasource"), ("can_external_metadata", "Datasource"), ("can_external_metadata_by_name", "Datasource"),
    ("can_csv", "Superset"), ("can_get_drill_info", "Dataset"),
    ("can_read", "Dataset"), ("can_write", "Dataset"), ("menu_access", "Datasets"), ("menu_access", "Data"),
    ("can_read", "Database"),
}

# SQL Lab, as Superset's built-in `sql_lab` role grants it.
SQL_LAB_PERMISSIONS = {
    ("can_read", "Query"), ("menu_access", "Query Search"), ("menu_access", "SQL Editor"), ("menu_access", "SQL Lab"),
    ("can_estimate_query_cost", "SQLLab"), ("can_execute_sql_query", "SQLLab"), ("can_export_csv", "SQLLab"),
    ("can_format_sql", "SQLLab"), ("can_get_results", "SQLLab"), ("can_read", "SQLLab"),
    ("menu_access", "Saved Queries"), ("can_export", "SavedQuery"), ("can_read", "SavedQuery"),
    ("can_write", "SavedQuery"), ("can_read", "SqlLabPermalinkRestApi"), ("can_write", "SqlLabPermalinkRestApi"),
    ("can_sqllab", "Superset"), ("can_sqllab_history", "Superset"), ("can_activate", "TabStateView"),
    ("can_delete", "TabStateView"), ("can_delete_query", "TabStateView"), ("can_get", "TabStateView"),
    ("can_migrate_query", "TabStateView"), ("can_post", "TabStateView"), ("can_put", "TabStateView"),
    ("can_delete", "TableSchemaView"), ("can_expanded", "TableSchemaView"), ("can_post", "TableSchemaView"),
}


def site_role(site_id: str) -> str:
    return f"Site {site_id}"


@dataclass
class Change:
    kind: str     # role, user, rls
    name: str
    action: str   # created, updated, unchanged

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {self.action}"


class Security:
    """Roles, permissions and users through Superset's security API."""

    def __init__(self, sp: Superset):
        self.sp = sp
        self._pvms: dict[tuple[str, str], int] | None = None

    # --- permissions ---------------------------------------------------------------------
    def pvms(self, refresh: bool = False) -> dict[tuple[str, str], int]:
        if self._pvms is None or refresh:
            rows = self.sp.list("security/permissions-resources", page_size=100, order_column="id")
            self._pvms = {(r["permission"]["name"], r["view_menu"]["name"]): r["id"] for r in rows}
        return self._pvms

    def database_access(self, database_name: str, database_id: int) -> tuple[str, str]:
        return ("database_access", f"[{database_name}].(id:{database_id})")

    def permission_ids(self, wanted: set[tuple[str, str]]) -> list[int]:
        pvms = self.pvms()
        missing = sorted(w for w in wanted if w not in pvms)
        if missing:
            pvms = self.pvms(refresh=True)
            missing = sorted(w for w in wanted if w not in pvms)
        if missing:
            names = ", ".join(f"{p} on {v}" for p, v in missing[:5])
            raise ClickpulseError(f"Superset has no permission {names} ({len(missing)} missing): run "
                                  "`clickpulse stack superset-init`; if they are still missing, update the "
                                  "lists in jobs/clickpulse/dashboards/roles.py for this Superset version")
        return sorted(pvms[w] for w in wanted)

    # --- roles ---------------------------------------------------------------------------
    def roles(self) -> dict[str, int]:
        return {r["name"]: r["id"] for r in self.sp.list("security/roles")}

    def ensure_role(self, name: str, permissions: set[tuple[str, str]] | None) -> tuple[int, Change]:
        """Create the role if missing; set exactly `permissions` (None: leave them)."""
        roles = self.roles()
        action = "unchanged"
        if name not in roles:
            rid = self.sp.post("/api/v1/security/roles/", {"name": name})["id"]
            action = "created"
        else:
            rid = roles[name]
        if permissions is not None:
            want = self.permission_ids(permissions)
            have = sorted(p["id"] for p in self.sp.get(f"/api/v1/security/roles/{rid}/permissions/")["result"])
            if want != have:
                self.sp.post(f"/api/v1/security/roles/{rid}/permissions", {"permission_view_menu_ids": want})
                action = "updated" if action == "unchanged" else action
        return rid, Change("role", name, action)

    def delete_role(self, name: str) -> None:
        roles = self.roles()
        if name in roles:
            self.sp.delete(f"/api/v1/security/roles/{roles[name]}")

    # --- users ---------------------------------------------------------------------------
    def find_user(self, username: str) -> dict | None:
        rows = self.sp.list("security/users", filters=[{"col": "username", "opr": "eq", "value": username}])
        return rows[0] if rows else None

    def ensure_user(self, username: str, password: str, role_ids: list[int], first_name: str) -> Change:
        """The user with exactly these roles and this password (set only when the current
        one no longer works, so a re-run changes nothing)."""
        user = self.find_user(username)
        if user is None:
            self.sp.post("/api/v1/security/users/", {
                "username": username, "password": password, "first_name": first_name, "last_name": "(clickpulse)",
                "email": f"{username}@clickpulse.local", "active": True, "roles": sorted(role_ids)})
            return Change("user", username, "created")
        update: dict = {}
        if sorted(r["id"] for r in user.get("roles", [])) != sorted(role_ids):
            update["roles"] = sorted(role_ids)
        if not user.get("active", True):
            update["active"] = True
        if not _can_login(self.sp.url, username, password):
            update["password"] = password
        if update:
            self.sp.put(f"/api/v1/security/users/{user['id']}", update)
            return Change("user", username, "updated")
        return Change("user", username, "unchanged")

    def delete_user(self, username: str) -> None:
        user = self.find_user(username)
        if user:
            self.sp.delete(f"/api/v1/security/users/{user['id']}")


def _can_login(url: str, username: str, password: str) -> bool:
    r = httpx.post(url.rstrip("/") + "/api/v1/security/login",
                   json={"username": username, "password": password, "provider": "db"}, timeout=30)
    return r.status_code == 200


def ensure_roles(sec: Security, database_name: str, database_id: int,
                 datasets: dict[int, str]) -> tuple[dict[str, int], list[Change]]:
    """Viewer, Analyst and Site viewer; `datasets` (id -> table name) are the datasets of
    the analytics database a site viewer may read."""
    db = {sec.database_access(database_name, database_id)}
    viewer = VIEWER_PERMISSIONS | db
    analyst = viewer | AUTHORING_PERMISSIONS | SQL_LAB_PERMISSIONS
    site_viewer = VIEWER_PERMISSIONS | {
        ("datasource_access", f"[{database_name}].[{table}](id:{ds_id})") for ds_id, table in datasets.items()}
    ids, changes = {}, []
    for name, perms in ((VIEWER, viewer), (ANALYST, analyst), (SITE_VIEWER, site_viewer)):
        ids[name], change = sec.ensure_role(name, perms)
        changes.append(change)
    return ids, changes


def require_login(settings, prefix: str) -> tuple[str, str]:
    user = getattr(settings, f"superset_{prefix}_user")
    password = getattr(settings, f"superset_{prefix}_password")
    if not password:
        settings.require(f"superset_{prefix}_password")
    return user, password


__all__ = ["ANALYST", "SITE_VIEWER", "VIEWER", "Change", "Security", "SupersetError", "ensure_roles", "site_role"]
