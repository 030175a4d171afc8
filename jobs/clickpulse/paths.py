"""Where the project's files and its machine-local state live."""

from __future__ import annotations

import os
from pathlib import Path

# jobs/clickpulse/paths.py -> repository root
ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
METRICS_DIR = SQL_DIR / "metrics"
# The views every metric reads (parsing, lateness, deduplication): the metrics' semantics.
VIEWS_FILE = SQL_DIR / "views.sql"
FUNNEL_VIEWS_FILE = SQL_DIR / "funnel_views.sql"
RETENTION_VIEWS_FILE = SQL_DIR / "retention_views.sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
CONNECTORS_DIR = ROOT / "connectors"
SUPERSET_DIR = ROOT / "superset"
INFRA_DIR = ROOT / "infra"
SCHEMA_DIR = ROOT / "schema"


def state_dir() -> Path:
    """All machine-local state (data, logs, pids, downloads, generated secrets) lives here.

    Everything under it is git-ignored and `make clean` removes it, so a run can never
    leave the work tree dirty.
    """
    return Path(os.environ.get("CLICKPULSE_HOME", ROOT / ".clickpulse")).resolve()


def cache_dir() -> Path:
    """Downloads (jars, Kafka) are kept outside the state dir so `make clean` does not re-download."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clickpulse"
    return Path(os.environ.get("CLICKPULSE_CACHE", default)).resolve()
