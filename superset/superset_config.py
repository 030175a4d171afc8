"""Superset configuration for clickpulse (loaded through SUPERSET_CONFIG_PATH).

Everything environment-specific comes from the one settings object
(`clickpulse.settings.get_settings()`), so the local stack (`clickpulse stack up`) and the
docker-compose `superset` service run this same file. Secrets only come from the
environment (or the generated `.clickpulse/secrets.env` that the settings read).
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from urllib.parse import quote

from celery.schedules import crontab

from clickpulse.errors import ClickpulseError
from clickpulse.settings import get_settings
from clickpulse.stack.chromium import use_debian_chromium

_settings = get_settings()

# Signs sessions and encrypts the database passwords stored in the metadata database.
# No default: a Superset started without it must fail loudly, not run with a known key.
SECRET_KEY = os.environ.get("SUPERSET_SECRET_KEY") or _settings.superset_secret_key
if not SECRET_KEY:
    raise RuntimeError("SUPERSET_SECRET_KEY is not set (see .env.example or run `clickpulse stack up` once)")

# Metadata (users, roles, charts, dashboards) in PostgreSQL, database SUPERSET_METADATA_DB.
_auth = quote(_settings.postgres_admin_user, safe="")
if _settings.postgres_admin_password:
    _auth += ":" + quote(_settings.postgres_admin_password, safe="")
SQLALCHEMY_DATABASE_URI = (
    f"postgresql+psycopg2://{_auth}@{_settings.postgres_host}:{_settings.postgres_port}/{_settings.superset_db}"
)
# gunicorn runs 2 workers x 8 threads; keep the pool per worker small and recycle
# connections PostgreSQL may have dropped.
SQLALCHEMY_ENGINE_OPTIONS = {"pool_size": 10, "max_overflow": 10, "pool_pre_ping": True}

# Permissions are written once by `superset init` (`clickpulse stack superset-init`, which
# every start runs when Superset's version changes). Left on, every gunicorn worker
# rewrites them as it boots, and `dashboards sync` reading them at that moment missed rows.
FAB_UPDATE_PERMS = False

# --- caching ---------------------------------------------------------------------------
# Redis at REDIS_URL (the local stack's redis-server, compose's `redis` service): one cache
# for every gunicorn worker and every Superset replica behind a load balancer, so viewers
# of the same chart share one query per cache period. A file cache would be per machine.
# The chart-data cache key holds the query (with the row-level security clauses it gets)
# and the dataset, not the user: viewers who may see the same rows share the entry, a
# site-bound viewer's query differs by its RLS clause and gets entries of its own.
def _redis_cache(name: str, timeout: int, **extra) -> dict:
    return {
        "CACHE_TYPE": "RedisCache",
        "CACHE_REDIS_URL": _settings.redis_url,
        "CACHE_DEFAULT_TIMEOUT": timeout,
        "CACHE_KEY_PREFIX": f"clickpulse_{name}_",
        **extra,
    }


# Dataset/database metadata and such.
CACHE_CONFIG = _redis_cache("metadata", int(timedelta(days=1).total_seconds()))
# Chart results. Live datasets set their own timeout of about the Live refresh period (in
# their YAML, `cache_timeout`); history older than a few minutes does not change, so five
# minutes is safe for the rest.
DATA_CACHE_CONFIG = _redis_cache("data", int(timedelta(minutes=5).total_seconds()))
# Native-filter and Explore state: every dashboard open writes one, so they go to Redis
# rather than a row in the metadata database each. Redis keeps no snapshot (it is a
# cache): a restart forgets the filter state of open tabs, which then fall back to the
# dashboard's defaults; permalinks stay in the metadata database.
FILTER_STATE_CACHE_CONFIG = _redis_cache("filter_state", int(timedelta(days=1).total_seconds()),
                                         REFRESH_TIMEOUT_ON_RETRIEVAL=True)
EXPLORE_FORM_DATA_CACHE_CONFIG = _redis_cache("explore_form_data", int(timedelta(days=1).total_seconds()),
                                              REFRESH_TIMEOUT_ON_RETRIEVAL=True)

# --- dashboards -------------------------------------------------------------------------
# Auto-refresh asks for chart data without `force`, so it may be answered from the cache:
# every viewer of the Live dashboard then shares one query per chart and cache period
# (the live datasets' `cache_timeout`, about the 5 s refresh period) instead of each
# re-running every query. A bypassing ("force") refresh makes PostgreSQL's load grow with
# the number of open dashboards.
DASHBOARD_AUTO_REFRESH_MODE = "fetch"
# The intervals offered in the dashboard's menu; 5 s is the Live dashboard's own.
DASHBOARD_AUTO_REFRESH_INTERVALS = [
    [0, "Don't refresh"],
    [5, "5 seconds"],
    [10, "10 seconds"],
    [30, "30 seconds"],
    [60, "1 minute"],
    [300, "5 minutes"],
    [1800, "30 minutes"],
    [3600, "1 hour"],
]

FEATURE_FLAGS = {
    # The Trends event datasets (events_daily, events_hourly) read the per-type rollups
    # unless a query filters or groups by country, device or plan: a Jinja condition on the
    # query's filters and columns in their SQL picks the cheapest exact table.
    "ENABLE_TEMPLATE_PROCESSING": True,
    # Render every chart of a dashboard, not only those in the viewport: wall displays
    # must refresh the whole Live dashboard, and full-page screenshots need every chart.
    "DASHBOARD_VIRTUALIZATION": False,
    # Dashboards are open to every role that can read their datasets (Viewer, Analyst,
    # the site-bound viewer); per-dashboard role lists would have to be kept in sync by hand.
    "DASHBOARD_RBAC": False,
    # Only Admin and Analyst (who see every site) have SQL Lab; site-bound viewers never
    # reach it, so row-level security does not need SQL rewriting there.
    "RLS_IN_SQLLAB": False,
    # Alerts & Reports (/alert/list/, /report/list/): scheduled e-mails of dashboards, run by
    # the Celery worker and beat below (the weekly Trends report is created by
    # `clickpulse dashboards sync`). Screenshots by Playwright, which renders the ECharts
    # canvases Selenium's path leaves blank, in Debian's Chromium (see below).
    "ALERT_REPORTS": True,
    "PLAYWRIGHT_REPORTS_AND_THUMBNAILS": True,
}

# --- Alerts & Reports: Celery, screenshots, e-mail ------------------------------------------
# Broker and results in the same Redis as the caches (REDIS_URL): one service to run. Celery's
# queue keys carry no expiry, so Redis's `volatile-lru` eviction (which only drops keys with a
# timeout: the caches') never removes a queued task. The local stack runs the worker and
# beat as the supervised processes superset-worker and superset-beat.
class CeleryConfig:  # pylint: disable=too-few-public-methods
    broker_url = _settings.redis_url
    result_backend = _settings.redis_url
    imports = ("superset.sql_lab", "superset.tasks.scheduler", "superset.tasks.thumbnails", "superset.tasks.cache")
    worker_prefetch_multiplier = 1
    task_acks_late = False
    beat_schedule = {
        # every minute: start the reports whose crontab is due
        "reports.scheduler": {"task": "reports.scheduler", "schedule": crontab(minute="*", hour="*"),
                              "options": {"expires": int(timedelta(weeks=1).total_seconds())}},
        "reports.prune_log": {"task": "reports.prune_log", "schedule": crontab(minute=0, hour=0)},
    }


CELERY_CONFIG = CeleryConfig
# Playwright launches "its" Chromium; PLAYWRIGHT_BROWSERS_PATH makes that Debian's
# (CLICKPULSE_CHROMIUM; clickpulse/stack/chromium.py says how). Set before Superset imports
# its webdriver module, which checks for the browser once when imported.
try:
    use_debian_chromium(_settings)
except ClickpulseError as _e:  # Superset still serves dashboards; only screenshots fail
    logging.getLogger(__name__).warning("reports cannot take screenshots: %s", _e)
WEBDRIVER_TYPE = "chromium"
WEBDRIVER_OPTION_ARGS = ["--headless", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update"]
# The worker opens dashboards at Superset's own address and logs in as the report's owner.
WEBDRIVER_BASEURL = _settings.superset_url.rstrip("/") + "/"
WEBDRIVER_BASEURL_USER_FRIENDLY = WEBDRIVER_BASEURL
# Charts load and draw in a few seconds; the headstart lets the last ECharts animation end.
SCREENSHOT_PLAYWRIGHT_WAIT_EVENT = "load"
SCREENSHOT_SELENIUM_HEADSTART = 5
ALERT_REPORTS_NOTIFICATION_DRY_RUN = False
EMAIL_REPORTS_SUBJECT_PREFIX = "[clickpulse]"   # Superset adds the space
# The same SMTP server as the alert notifier (SMTP_* settings, .env.example).
SMTP_HOST = _settings.smtp_host
SMTP_PORT = _settings.smtp_port
SMTP_USER = _settings.smtp_user or ""
SMTP_PASSWORD = _settings.smtp_password or ""
SMTP_MAIL_FROM = _settings.smtp_mail_from
SMTP_STARTTLS = _settings.smtp_starttls
SMTP_SSL = _settings.smtp_ssl
SMTP_SSL_SERVER_AUTH = _settings.smtp_starttls or _settings.smtp_ssl

# --- web server ----------------------------------------------------------------------------
SUPERSET_WEBSERVER_TIMEOUT = 120
# Only these rows ever leave the database for one chart; the metric tables are
# pre-aggregated, so no dashboard chart comes close.
ROW_LIMIT = 50_000
SQL_MAX_ROW = 100_000

# --- forbidden pages ------------------------------------------------------------------------
# A signed-in user who opens a page their role lacks (a viewer on SQL Lab or Explore) gets
# FAB's abort(403), which Superset renders as a JSON error even to a browser. Browsers get
# a short page saying what happened and where to go instead; API clients keep the JSON.
_FORBIDDEN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No access · clickpulse</title>
<style>body{font-family:Inter,Helvetica,Arial,sans-serif;margin:15vh auto;max-width:36em;color:#333;line-height:1.5}
h1{font-size:1.5em}a{color:#1a85a0}</style></head>
<body><h1>You don't have access to this page</h1>
<p>Your role ({roles}) does not include <code>{path}</code>. Viewers see the dashboards;
SQL Lab and Explore are for analysts. Ask an admin for the Analyst role if you need them.</p>
<p><a href="/dashboard/list/">Go to the dashboards</a></p></body></html>"""


def _wants_html(request) -> bool:
    """A browser navigating to a page, not the frontend's or a script's API call."""
    if request.path.startswith("/api/"):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _readable_forbidden(app) -> None:
    # lazy: Flask and Superset are importable only inside Superset's process
    from flask import request
    from flask_login import current_user
    from markupsafe import escape
    from werkzeug.exceptions import Forbidden

    def forbidden(ex: Forbidden):
        if not _wants_html(request):
            return _json_forbidden(ex)
        roles = ", ".join(r.name for r in getattr(current_user, "roles", []) or []) or "none"
        page = _FORBIDDEN_PAGE.replace("{roles}", escape(roles)).replace("{path}", escape(request.path))
        return page, 403, {"Content-Type": "text/html; charset=utf-8"}

    app.register_error_handler(Forbidden, forbidden)


def _json_forbidden(ex):
    """Superset's own JSON error body for a 403 (as views.error_handling renders it)."""
    from superset.errors import ErrorLevel, SupersetError, SupersetErrorType
    from superset.utils import core as utils
    from superset.views.error_handling import json_error_response

    return json_error_response([SupersetError(message=utils.error_msg_from_exception(ex),
                                              error_type=SupersetErrorType.GENERIC_BACKEND_ERROR,
                                              level=ErrorLevel.ERROR)], status=403)


FLASK_APP_MUTATOR = _readable_forbidden
