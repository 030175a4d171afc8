"""Database fixtures: every backend-dependent test runs once per backend.

- `postgres`: plain PostgreSQL, the local stack's cluster (started by the `postgres`
  fixture if it is not running). Always.
- `timescale`: when CLICKPULSE_TEST_TIMESCALE_BIN_DIR names the bin dir of a PostgreSQL 15
  with the TimescaleDB extension installed: a throwaway cluster started from it (own
  CLICKPULSE_HOME, free port), stopped and deleted at the end. Without it these tests
  (marked `timescale`) are not run, and the summary line says how many (tests/conftest.py).

Tests never touch the shared `clickpulse` database: each gets a `clickpulse_test_<uuid>`
database created by the admin role and dropped afterwards (POSTGRES_DB points at it).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from clickpulse.jars import connector_jars
from clickpulse.paths import state_dir
from clickpulse.stack.secrets import ensure_secrets
from conftest import TIMESCALE_BIN_DIR, run_cli

BACKENDS = ["postgres", pytest.param("timescale", marks=pytest.mark.timescale)]


@dataclass
class Server:
    """A running PostgreSQL cluster and how to reach it as the CLI would."""

    backend: str
    settings: object  # clickpulse.settings.Settings for the admin database on this cluster
    env: dict = field(repr=False)

    def database(self, name: str) -> "Database":
        return Database(self, name)


@dataclass
class Database:
    server: Server
    name: str

    @property
    def backend(self) -> str:
        return self.server.backend

    @property
    def settings(self):
        return self.server.settings.model_copy(update={"postgres_db": self.name})

    @property
    def env(self) -> dict:
        return {**self.server.env, "POSTGRES_DB": self.name}

    def connect(self, role: str = "admin", **kw) -> psycopg.Connection:
        return psycopg.connect(self.settings.dsn(role), autocommit=True, **kw)

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run_cli(*args, check=check, env=self.env)

    def jdbc_url(self) -> str:
        return self.settings.jdbc_url()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session", params=BACKENDS)
def server(request) -> Server:
    backend = request.param
    if backend == "postgres":
        settings = request.getfixturevalue("postgres")
        env = {**os.environ, "CLICKPULSE_DB_BACKEND": "postgres"}
        yield Server("postgres", settings, env)
        return
    # A throwaway TimescaleDB-enabled cluster with the same role passwords as the stack's.
    base = ensure_secrets()
    home = state_dir() / "test-stacks" / f"ts-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    port = _free_port()
    env = {**os.environ, "CLICKPULSE_HOME": str(home), "POSTGRES_BIN_DIR": TIMESCALE_BIN_DIR,
           "POSTGRES_PORT": str(port), "CLICKPULSE_DB_BACKEND": "timescale",
           "POSTGRES_ADMIN_PASSWORD": base.postgres_admin_password,
           "POSTGRES_WRITER_PASSWORD": base.postgres_writer_password,
           "POSTGRES_READER_PASSWORD": base.postgres_reader_password}
    try:
        run_cli("stack", "up", "--only", "postgres", env=env)
        yield Server("timescale", base.model_copy(update={"postgres_port": port, "db_backend": "timescale"}), env)
    finally:
        run_cli("stack", "clean", env=env)


def _create_db(server: Server) -> Database:
    name = f"clickpulse_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.settings.dsn("admin", "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    return server.database(name)


def _drop_db(db: Database) -> None:
    with psycopg.connect(db.server.settings.dsn("admin", "postgres"), autocommit=True) as c:
        c.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(db.name)))


@pytest.fixture
def fresh_db(server):
    """An empty database of its own (not migrated)."""
    db = _create_db(server)
    try:
        yield db
    finally:
        _drop_db(db)


@pytest.fixture(scope="session")
def db(server):
    """A migrated database shared by the tests of one backend; tests write under their own
    site_id."""
    d = _create_db(server)
    try:
        d.cli("db", "migrate")
        yield d
    finally:
        _drop_db(d)


@pytest.fixture(scope="session")
def flink_jdbc(tmp_path_factory):
    """Runs FlinkJdbcUpsert (Flink's JDBC upsert statement and setters, pgjdbc with
    reWriteBatchedInserts=true) with the pinned PostgreSQL driver of the connector jars."""
    driver = next(p for p in connector_jars() if p.name.startswith("postgresql-"))
    out = tmp_path_factory.mktemp("flink-jdbc")
    src = Path(__file__).with_name("FlinkJdbcUpsert.java")
    subprocess.run(["javac", "-d", str(out), "-cp", str(driver), str(src)], check=True, capture_output=True)

    def run(db: Database, batches: list[tuple[str, list[str], list[tuple[str, str]], list[tuple]]],
            url: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """batches: (table, key columns, [(column, type)], rows); one executeBatch() each."""
        lines = []
        for table, key, cols, rows in batches:
            lines.append("\t".join(["TABLE", table, ",".join(key), ",".join(f"{c}:{t}" for c, t in cols)]))
            for row in rows:
                lines.append("\t".join(_java_value(v) for v in row))
            lines.append("FLUSH")
        res = subprocess.run(
            ["java", "-Duser.timezone=UTC", "-cp", f"{out}:{driver}", "FlinkJdbcUpsert", url or db.jdbc_url(),
             db.settings.postgres_writer_user],
            input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120,
            env={**os.environ, "PGPASSWORD": db.settings.postgres_writer_password})
        if check and res.returncode != 0:
            raise AssertionError(f"FlinkJdbcUpsert failed: {res.stderr}")
        return res

    return run


def _java_value(v) -> str:
    if v is None:
        return "\\N"
    if isinstance(v, dt.datetime):
        # Flink's TIMESTAMP(3) in a UTC session: the UTC wall-clock time
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat()
    return str(v)
