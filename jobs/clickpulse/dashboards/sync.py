"""`clickpulse dashboards sync`: the assets of superset/assets/, the roles, the demo users
and row-level security, into the Superset at SUPERSET_URL. Idempotent.

Assets go through Superset's own importer (`/api/v1/assets/import/`), which matches every
asset by its UUID and overwrites it in place: a second run updates the same database,
datasets, charts and dashboards and never adds copies. Roles, users and rules are
compared first and written only when they differ.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..errors import ClickpulseError
from ..settings import Settings
from ..stack import postgres
from . import assets, reports, rls
from .client import Superset, SupersetError, admin_session
from .roles import ANALYST, SITE_VIEWER, VIEWER, Change, Security, ensure_roles, require_login


@dataclass
class SyncResult:
    databases: int = 0
    datasets: int = 0
    charts: int = 0
    dashboards: int = 0
    generated: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def import_bundle(sp: Superset, bundle: assets.Bundle, password: str) -> None:
    files = {"bundle": ("clickpulse_assets.zip", bundle.zip(), "application/zip")}
    data = {"passwords": json.dumps({assets.DATABASE_FILE: password}), "sparse": "false"}
    try:
        sp.request("POST", "/api/v1/assets/import/", files=files, data=data)
    except SupersetError as e:
        raise ClickpulseError(f"Superset refused the assets of superset/assets/: {e}") from None


def database_id(sp: Superset, uuid: str, name: str) -> int:
    for db in sp.list("database", columns=["id", "database_name", "uuid"]):
        if str(db.get("uuid")) == uuid or db["database_name"] == name:
            return db["id"]
    raise ClickpulseError(f"database {name!r} is not in Superset after the import of {assets.DATABASE_FILE}")


def ensure_users(settings: Settings, sec: Security, role_ids: dict[str, int], site_role_id: int) -> list[Change]:
    changes = []
    for prefix, roles, first in (("analyst", [role_ids[ANALYST]], "Analyst"),
                                 ("viewer", [role_ids[VIEWER]], "Viewer"),
                                 ("site_viewer", [role_ids[SITE_VIEWER], site_role_id], "Site viewer")):
        user, password = require_login(settings, prefix)
        changes.append(sec.ensure_user(user, password, roles, first))
    return changes


def bind_site_viewer(sp: Superset, username: str, password: str, site_id: str,
                     role_ids: dict[str, int] | None = None) -> list[Change]:
    """A viewer who sees only `site_id` (also used by the tests for their own sites)."""
    sec = Security(sp)
    if role_ids is None:
        role_ids = sec.roles()
        if SITE_VIEWER not in role_ids:
            raise ClickpulseError("role 'Site viewer' does not exist yet: run `clickpulse dashboards sync` first")
    db_id = _analytics_database(sp)
    tables = sorted(i for i, (_, has_site) in rls.database_datasets(sp, db_id).items() if has_site)
    site_role_id, changes = rls.ensure_site_rule(sp, sec, site_id, tables)
    changes.append(sec.ensure_user(username, password, [role_ids[SITE_VIEWER], site_role_id], "Site viewer"))
    return changes


def _analytics_database(sp: Superset) -> int:
    cfg = assets.read_assets()[assets.DATABASE_FILE]
    return database_id(sp, str(cfg["uuid"]), cfg["database_name"])


def sync(settings: Settings, progress=None) -> SyncResult:
    settings.require("postgres_reader_password", "superset_admin_password")
    steps = ["read the assets and the database", "import into Superset", "roles", "users and row-level security"]
    task = progress.add_task(steps[0], total=len(steps)) if progress else None

    def step(i: int) -> None:
        if task is not None:
            progress.update(task, completed=i, description=steps[i] if i < len(steps) else "done")

    try:
        conn = postgres.connect(settings, "reader", autocommit=True)
    except Exception as e:  # noqa: BLE001 - psycopg's errors, one line for the user
        raise ClickpulseError(
            f"cannot read the analytics database {settings.postgres_db} at {settings.postgres_host}:"
            f"{settings.postgres_port} as {settings.postgres_reader_user}: {str(e).strip().splitlines()[-1]} "
            "(check POSTGRES_HOST, POSTGRES_PORT, POSTGRES_READER_PASSWORD; run `clickpulse db migrate`)") from None
    with conn:
        bundle = assets.build(settings, conn)
    result = SyncResult(
        databases=len(bundle.of_kind("databases")), datasets=len(bundle.of_kind("datasets")),
        charts=len(bundle.of_kind("charts")), dashboards=len(bundle.of_kind("dashboards")),
        generated=bundle.generated, missing_tables=bundle.missing_tables)

    step(1)
    with admin_session(settings) as sp:
        import_bundle(sp, bundle, settings.postgres_reader_password)
        step(2)
        db_cfg = bundle.database
        db_id = database_id(sp, str(db_cfg["uuid"]), db_cfg["database_name"])
        datasets = rls.database_datasets(sp, db_id)
        sec = Security(sp)
        role_ids, changes = ensure_roles(sec, db_cfg["database_name"], db_id,
                                         {i: name for i, (name, _) in datasets.items()})
        step(3)
        site_tables = sorted(i for i, (_, has_site) in datasets.items() if has_site)
        site_role_id, rule_changes = rls.ensure_site_rule(sp, sec, settings.superset_site_viewer_site, site_tables)
        changes += rule_changes
        changes += ensure_users(settings, sec, role_ids, site_role_id)
        changes += rls.refresh_all_rules(sp, site_tables)
        changes.append(reports.ensure_trends_report(sp, settings))
        step(4)
    result.changes = changes
    return result
