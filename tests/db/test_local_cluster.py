"""The local cluster (`clickpulse stack up --only postgres`) preloads TimescaleDB, with
telemetry off, whenever the extension is installed in its PostgreSQL, also for a data dir
initialised before that; without the extension nothing about it is configured."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import yaml

from clickpulse.paths import state_dir
from clickpulse.stack.secrets import ensure_secrets
from conftest import ROOT, TIMESCALE_BIN_DIR, run_cli

from .conftest import _free_port


def _settings(env):
    return ensure_secrets().model_copy(update={"postgres_port": int(env["POSTGRES_PORT"])})


def _show(env, *names):
    with psycopg.connect(_settings(env).dsn("admin", "postgres"), autocommit=True) as c:
        return [c.execute(f"show {n}").fetchone()[0] for n in names]


def test_timescaledb_is_preloaded_when_installed(server):
    base = ensure_secrets()
    home = state_dir() / "test-stacks" / f"pg-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_BIN_DIR"}
    env |= {"CLICKPULSE_HOME": str(home), "POSTGRES_PORT": str(_free_port()),
            "POSTGRES_ADMIN_PASSWORD": base.postgres_admin_password,
            "POSTGRES_WRITER_PASSWORD": base.postgres_writer_password,
            "POSTGRES_READER_PASSWORD": base.postgres_reader_password}
    try:
        # initialised by the distribution's PostgreSQL (no TimescaleDB in CI, nor here)
        run_cli("stack", "up", "--only", "postgres", env=env)
        auto = Path(_show(env, "data_directory")[0]) / "postgresql.auto.conf"
        plain_has_ts = "timescaledb" in _show(env, "shared_preload_libraries")[0]
        if server.backend == "postgres":
            assert not plain_has_ts and "timescaledb" not in auto.read_text()
            return
        with psycopg.connect(_settings(env).dsn("admin", "postgres"), autocommit=True) as c:
            c.execute("alter system set shared_preload_libraries = 'pg_stat_statements'")
        run_cli("stack", "stop", "postgres", env=env)

        # the same data dir, now from the TimescaleDB-enabled installation
        ts_env = env | {"POSTGRES_BIN_DIR": TIMESCALE_BIN_DIR}
        run_cli("stack", "up", "--only", "postgres", env=ts_env)
        libs, telemetry = _show(ts_env, "shared_preload_libraries", "timescaledb.telemetry_level")
        assert [x.strip() for x in libs.split(",")] == ["pg_stat_statements", "timescaledb"]
        assert telemetry == "off"
        conf = auto.read_text()
        assert conf.count("shared_preload_libraries") == 1 and conf.count("timescaledb.telemetry_level") == 1

        run_cli("stack", "stop", "postgres", env=ts_env)
        run_cli("stack", "up", "--only", "postgres", env=ts_env)  # idempotent
        assert auto.read_text() == conf
        assert _show(ts_env, "shared_preload_libraries") == [libs]
        with psycopg.connect(_settings(env).dsn("admin", "postgres"), autocommit=True) as c:
            c.execute("create extension if not exists timescaledb")
            assert c.execute("select extversion from pg_extension where extname = 'timescaledb'").fetchone()[0]
    finally:
        run_cli("stack", "clean", env=env)


def test_compose_runs_the_verified_timescaledb(server):
    """docker-compose.yml's database is the TimescaleDB release these tests verify, and it
    preloads the library with telemetry off, as `clickpulse db migrate` needs."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    pg = compose["services"]["postgres"]
    image, tag = pg["image"].split(":")
    assert image == "timescale/timescaledb"
    version, major = tag.split("-pg")
    assert version == VERIFIED_TIMESCALEDB and major == "15"
    command = " ".join(pg["command"])
    assert "shared_preload_libraries=timescaledb" in command and "timescaledb.telemetry_level=off" in command
    env = compose["x-clickpulse-env"]
    assert env["POSTGRES_ADMIN_USER"] == pg["environment"]["POSTGRES_USER"]
    assert "clickpulse db migrate" in compose["services"]["clickpulse"]["command"]
    if server.backend == "timescale":  # the installation under test is that release
        with psycopg.connect(server.settings.dsn("admin", "postgres")) as c:
            assert c.execute("select default_version from pg_available_extensions "
                             "where name = 'timescaledb'").fetchone()[0] == version


VERIFIED_TIMESCALEDB = "2.21.2"
