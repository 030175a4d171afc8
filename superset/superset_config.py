"""Superset configuration for clickpulse (loaded through SUPERSET_CONFIG_PATH).

Everything environment-specific comes from the one settings object
(`clickpulse.settings.get_settings()`), so the local stack (`clickpulse stack up`) and the
docker-compose `superset` service run this same file. Secrets only come from the
environment (or the generated `.clickpulse/secrets.env` that the settings read).
"""

from __future__ import annotations

import os
from datetime import timedelta
from urllib.parse import quote

from clickpulse.paths import state_dir
from clickpulse.settings import get_settings

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
# Several gunicorn workers and no Redis: a file cache on local disk is shared by every
# worker of this machine (SimpleCache would be one cache per worker). Filter and
# explore state stay in the metadata database (Superset's default), which every worker
# and every replica sees.
_cache_root = state_dir() / "superset" / "cache"


def _file_cache(name: str, timeout: int) -> dict:
    path = _cache_root / name
    path.mkdir(parents=True, exist_ok=True)
    return {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": str(path),
        "CACHE_DEFAULT_TIMEOUT": timeout,
        "CACHE_KEY_PREFIX": f"clickpulse_{name}_",
        "CACHE_THRESHOLD": 5000,
    }


# Dataset/database metadata and such.
CACHE_CONFIG = _file_cache("metadata", int(timedelta(days=1).total_seconds()))
# Chart results. Live datasets set their own 10 s timeout (in their YAML); history
# older than a few minutes does not change, so five minutes is safe for the rest.
DATA_CACHE_CONFIG = _file_cache("data", int(timedelta(minutes=5).total_seconds()))

# --- dashboards -------------------------------------------------------------------------
# Auto-refresh bypasses the cache, so a 10 s refresh always shows the newest windows.
DASHBOARD_AUTO_REFRESH_MODE = "force"

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
}

# --- web server ----------------------------------------------------------------------------
SUPERSET_WEBSERVER_TIMEOUT = 120
# Only these rows ever leave the database for one chart; the metric tables are
# pre-aggregated, so no dashboard chart comes close.
ROW_LIMIT = 50_000
SQL_MAX_ROW = 100_000
