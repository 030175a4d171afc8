"""Shared fixtures: the real local services, started on demand and left as found.

Integration tests ask for a fixture (`kafka`, `postgres`, `flink`, `superset` or `stack`)
and get the real service on 127.0.0.1, started from the project's own files if it is not
running yet. Services that a test session started are stopped at its end; a stack that
was already running (say, `make demo`) is reused and left running. Tests write under
their own `site_id`s so that they never read each other's (or the demo's) rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from clickpulse.dashboards.authoring import launch_chromium
from clickpulse.settings import get_settings
from clickpulse.stack import services
from clickpulse.stack.secrets import ensure_secrets

ROOT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "clickpulse")]
# TimescaleDB cannot be installed from the registries CI reaches (see README, "TimescaleDB");
# the tests marked `timescale` run only where this names a PostgreSQL bin dir with it.
TIMESCALE_BIN_DIR = os.environ.get("CLICKPULSE_TEST_TIMESCALE_BIN_DIR", "")
NOT_RUN_WITHOUT_TIMESCALE = "not run without TimescaleDB"

_started: set[str] = set()


def _ensure(*names: str):
    settings = ensure_secrets()
    rows, _ = services.status(settings)
    healthy = services.healthy_services(rows)
    missing = [n for n in names if n not in healthy]
    if missing:
        services.up(missing)
        _started.update(missing)
    services.ensure_supervisor()  # as `stack up` does: crashed services come back by themselves
    return ensure_secrets()


def run_cli(*args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run `clickpulse ARGS` as a user would; on failure show its output."""
    res = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)
    if check and res.returncode != 0:
        raise AssertionError(f"clickpulse {' '.join(args)} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res


@pytest.fixture(scope="session")
def kafka():
    return _ensure("kafka")


@pytest.fixture(scope="session")
def postgres():
    return _ensure("postgres")


@pytest.fixture(scope="session")
def migrated(postgres):
    run_cli("db", "migrate")
    return postgres


@pytest.fixture(scope="session")
def flink(kafka, postgres):
    return _ensure("kafka", "postgres", "flink")


@pytest.fixture(scope="session")
def superset(migrated):
    return _ensure("postgres", "redis", "superset")


@pytest.fixture(scope="session")
def synced(superset):
    """Superset with the dashboards, roles and users of `clickpulse dashboards sync`, run once
    for the whole session (the dashboard, gateway and alert tests all read them)."""
    run_cli("dashboards", "sync")
    return superset


@pytest.fixture(scope="session")
def stack(migrated):
    return _ensure(*services.ALL)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright; one for the whole session, since
    Playwright's sync API allows one instance per thread (a second one finds the first's
    event loop running and refuses)."""
    # lazy: Playwright is optional (the test extra); only browser tests need it
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p, get_settings())
        yield b
        b.close()


@pytest.fixture
def site_id() -> str:
    """A site id no other test (and no demo traffic) uses."""
    return f"test-{uuid.uuid4().hex[:10]}"


def pytest_collection_modifyitems(config, items):
    """Without TimescaleDB the `timescale` tests are left out, and counted in the summary
    line (not skipped one by one, nor dropped silently)."""
    if TIMESCALE_BIN_DIR:
        return
    left_out = [item for item in items if item.get_closest_marker("timescale")]
    if left_out:
        items[:] = [item for item in items if not item.get_closest_marker("timescale")]
        config.stash[_timescale_left_out] = left_out


_timescale_left_out = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    left_out = config.stash.get(_timescale_left_out, [])
    if left_out:
        # an entry of the stats is a count on the final line: "..., 12 not run without TimescaleDB in ..."
        terminalreporter.stats.setdefault(NOT_RUN_WITHOUT_TIMESCALE, []).extend(left_out)
        terminalreporter.write_line(
            f"{len(left_out)} TimescaleDB checks not run: no TimescaleDB installation "
            "(set CLICKPULSE_TEST_TIMESCALE_BIN_DIR to a PostgreSQL 15 bin dir with TimescaleDB; see README)",
            yellow=True)


def pytest_sessionfinish(session, exitstatus):
    if _started and not os.environ.get("CLICKPULSE_KEEP_STACK"):
        settings = ensure_secrets()
        for name in reversed(services.ALL):
            if name in _started:
                services.stop(name, settings)
