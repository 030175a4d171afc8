"""The scheduled reports of Superset's Alerts & Reports, as code: `dashboards sync` creates or
updates them through `/api/v1/report/` (reports are not part of Superset's asset bundle).

One report today: the Trends dashboard as a PNG, e-mailed to CLICKPULSE_REPORT_EMAIL_TO on
CLICKPULSE_REPORT_CRONTAB (Mondays 07:00 UTC). It is found again by its name, so a second
sync updates it in place; with no recipient set, a report made by an earlier sync is deleted
(the report is what the settings say).
"""

from __future__ import annotations

import json

from ..errors import ClickpulseError
from ..settings import Settings
from .client import Superset, SupersetError
from .roles import Change

TRENDS_REPORT = "Trends weekly"
TRENDS_SLUG = "trends"
# wide enough for the Trends grid's two columns of charts
SCREENSHOT_WIDTH = 1600


def dashboard_id(sp: Superset, slug: str) -> int:
    rows = sp.list("dashboard", filters=[{"col": "slug", "opr": "eq", "value": slug}], columns=["id", "slug"])
    if not rows:
        raise ClickpulseError(f"dashboard {slug!r} is not in Superset: the assets import must run first")
    return rows[0]["id"]


def trends_report(settings: Settings, dashboard: int) -> dict:
    """The report's fields as `/api/v1/report/` takes them."""
    return {
        "type": "Report",
        "name": TRENDS_REPORT,
        "description": "The Trends dashboard, every week (clickpulse dashboards sync; CLICKPULSE_REPORT_*)",
        "email_subject": "Trends: the week",
        "crontab": settings.report_crontab,
        "timezone": settings.report_timezone,
        "dashboard": dashboard,
        "creation_method": "alerts_reports",
        "report_format": "PNG",
        "force_screenshot": True,
        "custom_width": SCREENSHOT_WIDTH,
        "active": True,
        "working_timeout": 600,
        "log_retention": 90,
        "recipients": [{"type": "Email", "recipient_config_json": {"target": settings.report_email_to.strip()}}],
    }


def _existing(sp: Superset, name: str) -> dict | None:
    rows = sp.list("report", filters=[{"col": "name", "opr": "eq", "value": name}], columns=["id", "name"])
    return sp.get(f"/api/v1/report/{rows[0]['id']}")["result"] if rows else None


def _same(current: dict, want: dict) -> bool:
    have = {
        **{k: current.get(k) for k in want if k not in ("dashboard", "recipients")},
        "dashboard": (current.get("dashboard") or {}).get("id"),
        "recipients": [{"type": r["type"], "recipient_config_json": _json(r["recipient_config_json"])}
                       for r in current.get("recipients", [])],
    }
    return have == want


def _json(value):
    # the API shows recipient_config_json as a JSON string
    return json.loads(value) if isinstance(value, str) else value


def ensure_trends_report(sp: Superset, settings: Settings) -> Change:
    current = _existing(sp, TRENDS_REPORT)
    if not (settings.report_email_to or "").strip():
        if current:
            sp.delete(f"/api/v1/report/{current['id']}")
            return Change("report", TRENDS_REPORT, "deleted (CLICKPULSE_REPORT_EMAIL_TO is unset)")
        return Change("report", TRENDS_REPORT, "not created (set CLICKPULSE_REPORT_EMAIL_TO)")
    want = trends_report(settings, dashboard_id(sp, TRENDS_SLUG))
    try:
        if current is None:
            sp.post("/api/v1/report/", want)
            return Change("report", TRENDS_REPORT, f"created ({settings.report_crontab}, {settings.report_timezone})")
        if _same(current, want):
            return Change("report", TRENDS_REPORT, "unchanged")
        sp.put(f"/api/v1/report/{current['id']}", want)
        return Change("report", TRENDS_REPORT, "updated")
    except SupersetError as e:
        raise ClickpulseError(f"Superset refused the report {TRENDS_REPORT!r} (CLICKPULSE_REPORT_EMAIL_TO, "
                              f"CLICKPULSE_REPORT_CRONTAB, CLICKPULSE_REPORT_TIMEZONE): {e}") from None
