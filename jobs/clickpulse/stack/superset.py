"""Superset on 127.0.0.1:8088 (gunicorn), metadata in the local PostgreSQL, and the Celery
worker and beat of its Alerts & Reports (broker: the stack's Redis)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlparse

from ..errors import ClickpulseError
from ..paths import SUPERSET_DIR, state_dir
from ..settings import Settings
from . import procs

NAME = "superset"
# Alerts & Reports: beat starts the due reports every minute, the worker runs them (a
# dashboard screenshot in Chromium, then the e-mail)
WORKER = "superset-worker"
BEAT = "superset-beat"
CELERY_APP = "--app=superset.tasks.celery_app:app"


def port(settings: Settings) -> int:
    return urlparse(settings.superset_url).port or 8088


def _bin(name: str) -> str:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return str(exe)
    found = shutil.which(name)
    if not found:
        raise ClickpulseError(f"`{name}` not found: install Superset with `make install` (pip install -e '.[superset]')")
    return found


def env(settings: Settings) -> dict[str, str]:
    settings.require("superset_secret_key", "postgres_admin_password")
    home = state_dir() / "superset"
    home.mkdir(parents=True, exist_ok=True)
    return {
        "SUPERSET_CONFIG_PATH": str(SUPERSET_DIR / "superset_config.py"),
        "SUPERSET_HOME": str(home),
        "SUPERSET_SECRET_KEY": settings.superset_secret_key,
        "FLASK_APP": "superset.app:create_app()",
        "PYTHONUNBUFFERED": "1",
    }


def _superset(settings: Settings, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([_bin("superset"), *args], env={**os.environ, **env(settings)},
                         capture_output=True, text=True)
    if check and res.returncode != 0:
        out = (res.stdout + res.stderr).strip()
        raise ClickpulseError(f"`superset {' '.join(args[:2])}` failed: {out[-500:]}")
    return res


def init(settings: Settings) -> None:
    """Metadata schema, admin user and built-in roles; re-run only when Superset changes."""
    settings.require("superset_admin_password")
    stamp = state_dir() / "superset" / ".initialized"
    # the configuration too: a feature flag that adds views (ALERT_REPORTS) needs their
    # permissions, which only `superset init` writes (FAB_UPDATE_PERMS is off)
    config = hashlib.sha256((SUPERSET_DIR / "superset_config.py").read_bytes()).hexdigest()[:12]
    want = f"{version('apache-superset')}:{settings.superset_admin_user}:{config}"
    if stamp.exists() and stamp.read_text() == want:
        return
    _superset(settings, "db", "upgrade")
    res = _superset(settings, "fab", "create-admin", "--username", settings.superset_admin_user,
                    "--firstname", "clickpulse", "--lastname", "admin", "--email", "admin@clickpulse.local",
                    "--password", settings.superset_admin_password, check=False)
    if res.returncode != 0 or "already exist" in (res.stdout + res.stderr):
        _superset(settings, "fab", "reset-password", "--username", settings.superset_admin_user,
                  "--password", settings.superset_admin_password)
    _superset(settings, "init")
    stamp.write_text(want)


def start(settings: Settings) -> None:
    """The web server, then the Celery worker and beat (each only if not running)."""
    start_web(settings)
    start_worker(settings)
    start_beat(settings)


def start_web(settings: Settings) -> None:
    if procs.read_pid(NAME) and is_ready(settings):
        return
    procs.ensure_port_free(port(settings), "Superset", "SUPERSET_URL")
    init(settings)
    pid = procs.start(
        NAME,
        [_bin("gunicorn"), "--bind", f"127.0.0.1:{port(settings)}", "--workers", "2",
         "--worker-class", "gthread", "--threads", "8", "--timeout", "120", "--limit-request-line", "0",
         "--limit-request-field_size", "0", "superset.app:create_app()"],
        env=env(settings),
    )
    procs.wait_for(lambda: is_ready(settings), "Superset", 180, procs.log_dir() / "superset.log", pid)


def start_worker(settings: Settings) -> int:
    """`celery worker`: two processes, so that a long report does not hold up the next."""
    if pid := procs.read_pid(WORKER):
        return pid
    return procs.start(WORKER, [_bin("celery"), CELERY_APP, "worker", "--pool=prefork", "--concurrency=2",
                                "-O", "fair", "--loglevel=INFO"], env=env(settings))


def start_beat(settings: Settings) -> int:
    if pid := procs.read_pid(BEAT):
        return pid
    schedule = state_dir() / "superset" / "celerybeat-schedule"
    return procs.start(BEAT, [_bin("celery"), CELERY_APP, "beat", "--loglevel=INFO", "--schedule", str(schedule),
                              "--pidfile="], env=env(settings))


def stop() -> bool:
    stopped = [procs.stop(n) for n in (BEAT, WORKER, NAME)]
    return any(stopped)


def is_ready(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(settings.superset_url.rstrip("/") + "/health", timeout=3) as r:
            return r.status == 200
    except Exception:  # noqa: BLE001
        return False
