"""The local stack as a user meets it: services up and healthy, reachable by generic
clients, safe to start twice, clear one-line errors, and nothing left listening after
`stack down`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest

from clickpulse.paths import state_dir
from clickpulse.settings import Settings
from clickpulse.stack import postgres as pg
from clickpulse.stack import flink as fl
from clickpulse.stack.kafka import admin
from clickpulse.stack.procs import port_open
from conftest import run_cli



def test_kafka_topics_and_generic_client(kafka):
    """kcat (a generic client, not ours) writes and reads clickpulse.events."""
    md = admin(kafka).list_topics(timeout=10)
    assert len(md.topics[kafka.events_topic].partitions) == 6
    assert kafka.dead_letter_topic in md.topics
    marker = f"kcat-{uuid.uuid4().hex}"
    subprocess.run(["kcat", "-b", kafka.kafka_bootstrap_servers, "-t", kafka.events_topic, "-P", "-k", "u1"],
                   input=json.dumps({"marker": marker}) + "\n", text=True, check=True, timeout=30)
    out = subprocess.run(["kcat", "-b", kafka.kafka_bootstrap_servers, "-t", kafka.events_topic, "-C",
                          "-o", "-200", "-e", "-q", "-f", "%s\n"], capture_output=True, text=True, timeout=60)
    assert marker in out.stdout


def test_postgres_roles(postgres):
    s = postgres
    with psycopg.connect(s.dsn("reader")) as c:
        assert c.execute("show timezone").fetchone()[0] == "UTC"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("create table nope (x int)")
    with psycopg.connect(s.dsn("writer")) as c:
        assert c.execute("select current_user").fetchone()[0] == s.postgres_writer_user
    # the project's cluster, not the system one
    with psycopg.connect(s.dsn("admin", "postgres")) as c:
        data_dir = c.execute("show data_directory").fetchone()[0]
    assert Path(data_dir) == pg.data_dir()


def test_flink_cluster_has_connectors(flink):
    overview = fl.rest(flink, "/overview")
    assert overview["taskmanagers"] >= 1 and overview["slots-total"] >= 2
    lib = {p.name for p in (fl.home() / "lib").iterdir()}
    assert any(n.startswith("flink-sql-connector-kafka-") for n in lib)
    assert any(n.startswith("flink-connector-jdbc-core-") for n in lib)
    assert any(n.startswith("postgresql-") for n in lib)


def test_stack_env_is_evaluable(postgres):
    out = run_cli("stack", "env").stdout
    env = subprocess.run(["bash", "-c", out + "\nenv"], capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in env.splitlines() if "=" in line)
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "FLINK_REST_URL", "DATABASE_URL", "SUPERSET_URL", "REDIS_URL",
                "SUPERSET_ADMIN_USER", "SUPERSET_ADMIN_PASSWORD", "SUPERSET_VIEWER_PASSWORD"):
        assert values.get(var), var
    with psycopg.connect(values["DATABASE_URL"],
                         password=postgres.postgres_reader_password) as c:
        assert c.execute("select current_user").fetchone()[0] == postgres.postgres_reader_user


def test_up_twice_is_safe(kafka, postgres):
    run_cli("stack", "up", "--only", "kafka,postgres")
    run_cli("stack", "up", "--only", "kafka,postgres")


@pytest.fixture
def isolated_env():
    env = _isolated_env()
    yield env

    run_cli("stack", "clean", env=env)
    assert not Path(env["CLICKPULSE_HOME"]).exists()


def _isolated_env() -> dict:
    """A second, throwaway stack on other ports, so the lifecycle can be tested without
    touching the stack the other tests use."""
    kport, pport = _free_port(), _free_port()
    home = state_dir() / "test-stacks" / uuid.uuid4().hex[:8]
    home.mkdir(parents=True)
    return {**os.environ, "CLICKPULSE_HOME": str(home),
            "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kport}", "POSTGRES_PORT": str(pport)}


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        # Kafka's controller takes port + 1
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


def test_lifecycle_up_status_down_leaves_nothing_listening(isolated_env):
    env = isolated_env
    kport = int(env["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    pport = int(env["POSTGRES_PORT"])
    try:
        run_cli("stack", "up", "--only", "kafka,postgres", env=env)

        assert port_open(kport) and port_open(pport)
        run_cli("stack", "up", "--only", "kafka,postgres", env=env)  # second run is a no-op
    finally:
        run_cli("stack", "down", env=env)

    assert not port_open(kport) and not port_open(kport + 1) and not port_open(pport)


def test_redis_lifecycle_up_status_down(isolated_env):
    """Superset's cache is a service of the stack: `stack up` starts Debian's redis-server
    on REDIS_URL's port, `stack status` shows it healthy, `stack down` stops it."""
    rport = _free_port()
    env = {**isolated_env, "REDIS_URL": f"redis://127.0.0.1:{rport}/0"}
    try:
        run_cli("stack", "up", "--only", "redis", env=env)
        with socket.create_connection(("127.0.0.1", rport), timeout=5) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(16).startswith(b"+PONG")
        status = run_cli("stack", "status", env=env, check=False)
        row = next(l for l in status.stdout.splitlines() if " redis " in l)
        assert str(rport) in row and "healthy" in row, status.stdout
    finally:
        run_cli("stack", "down", env=env)
    assert not port_open(rport)


def test_taken_port_is_a_one_line_error(isolated_env):
    env = isolated_env
    port = int(env["KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        res = run_cli("stack", "up", "--only", "kafka", env=env, check=False)
    assert res.returncode == 1
    lines = [l for l in res.stderr.strip().splitlines() if l.strip() and "━" not in l and "starting" not in l]
    assert len(lines) == 1, res.stderr
    assert f"port {port}" in lines[0] and "KAFKA_BOOTSTRAP_SERVERS" in lines[0]


def test_missing_prerequisite_is_a_one_line_error(isolated_env, tmp_path):
    env = {**isolated_env, "POSTGRES_BIN_DIR": str(tmp_path / "no-postgres-here")}
    res = run_cli("stack", "up", "--only", "postgres", env=env, check=False)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "initdb" in res.stderr and "postgresql-15" in res.stderr


def test_postgres_runs_from_a_folder_other_users_cannot_enter():
    """`make demo` as root in root's home or a `mktemp -d` folder: PostgreSQL refuses to run
    as root and runs as the `postgres` OS user, which cannot enter such a folder; its
    cluster lives where it can, with no folder's permissions changed, and `stack clean`
    (`make clean`) removes it with the rest of the state."""
    private = Path(tempfile.mkdtemp(prefix="clickpulse-private-"))
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    home = private / "checkout" / ".clickpulse"
    password = uuid.uuid4().hex
    env = {**os.environ, "CLICKPULSE_HOME": str(home), "POSTGRES_PORT": str(_free_port()),
           "POSTGRES_ADMIN_PASSWORD": password, "POSTGRES_WRITER_PASSWORD": password,
           "POSTGRES_READER_PASSWORD": password}
    settings = Settings(_env_file=None, postgres_port=int(env["POSTGRES_PORT"]), postgres_admin_password=password)
    try:
        run_cli("stack", "up", "--only", "postgres", env=env)
        with psycopg.connect(settings.dsn("admin", "postgres"), connect_timeout=5) as c:
            data_dir = Path(c.execute("show data_directory").fetchone()[0])
            assert c.execute("select current_setting('port')::int").fetchone()[0] == settings.postgres_port
        if os.geteuid() == 0:
            assert data_dir.parent.parent == pg.SYSTEM_STATE_DIR
            assert (data_dir.parent / "CLICKPULSE_HOME").read_text().strip() == str(home)
        else:  # the server runs as this user, who can enter the folder
            assert data_dir == home / "postgres" / "data"
        assert stat.S_IMODE(private.stat().st_mode) == 0o700, "no folder's permissions were changed"
    finally:
        run_cli("stack", "clean", env=env)
        shutil.rmtree(private)
    assert not data_dir.exists() and not port_open(settings.postgres_port)
