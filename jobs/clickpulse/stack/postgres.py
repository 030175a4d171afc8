"""PostgreSQL 15 from the Debian package, run from a data directory of the project's own.

The system cluster is left alone: the project's cluster listens on 127.0.0.1:$POSTGRES_PORT
only. Its files (data, socket) live in .clickpulse/postgres, except as root: PostgreSQL
refuses to run as root, so the server then runs as the `postgres` OS user that the Debian
package creates, and that user cannot be expected to reach a checkout (root's home, a
`mktemp -d` folder are mode 700). As root they therefore live in
/var/lib/clickpulse/<hash of CLICKPULSE_HOME>/, which needs no folder's permissions
changed; `clickpulse stack clean` (and `make clean`) removes it. A cluster an earlier
version created in .clickpulse/postgres stays there. Its log is .clickpulse/logs/postgres.log
either way, written through a file descriptor that clickpulse opens.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from ..errors import ClickpulseError
from ..paths import state_dir
from ..settings import Settings
from . import procs

NAME = "postgres"


def bin_dir() -> Path:
    override = os.environ.get("POSTGRES_BIN_DIR")
    candidates = [Path(override)] if override else sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for c in candidates:
        if (c / "initdb").exists():
            return c
    raise ClickpulseError(
        "PostgreSQL server binaries not found (initdb): apt-get install postgresql-15, "
        "or set POSTGRES_BIN_DIR to the folder holding initdb and pg_ctl"
    )


SYSTEM_STATE_DIR = Path("/var/lib/clickpulse")


def home() -> Path:
    """The folder of this stack's cluster: data/, socket/ (see the module's docstring)."""
    local = state_dir() / "postgres"
    if os.geteuid() != 0 or (local / "data" / "PG_VERSION").exists():
        return local
    key = hashlib.sha256(str(state_dir()).encode()).hexdigest()[:16]
    return SYSTEM_STATE_DIR / key


def data_dir() -> Path:
    return home() / "data"


def socket_dir() -> Path:
    return home() / "socket"


def remove() -> Path | None:
    """Delete the cluster's files (stop it first); returns the folder removed, if any."""
    root = home()
    if not root.exists():
        return None
    shutil.rmtree(root)
    return root


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise ClickpulseError("running as root needs the `postgres` OS user: apt-get install postgresql-15") from None
    return ["runuser", "-u", "postgres", "--"]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in [path, *path.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


def share_dir() -> Path:
    """PostgreSQL's share dir (extension control files live in its `extension/`).

    `pg_config --sharedir` of the same installation when it has one; otherwise the
    layouts PostgreSQL itself resolves relative to its binaries: Debian
    (<prefix>/lib/postgresql/<major>/bin -> <prefix>/share/postgresql/<major>) and a
    source build (<prefix>/bin -> <prefix>/share[/postgresql])."""
    bins = bin_dir()
    pg_config = bins / "pg_config"
    if pg_config.exists():
        res = subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip():
            return Path(res.stdout.strip())
    prefix = bins.parent
    candidates = [
        prefix.parent.parent.parent / "share" / "postgresql" / prefix.name,  # Debian layout
        prefix / "share" / "postgresql",
        prefix / "share",
    ]
    for c in candidates:
        if (c / "extension").is_dir():
            return c
    return candidates[0]


def timescaledb_available() -> bool:
    return (share_dir() / "extension" / "timescaledb.control").exists()


def _check_traversable(path: Path) -> None:
    if os.geteuid() != 0:
        return
    res = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)])
    if res.returncode != 0:
        raise ClickpulseError(
            f"the postgres OS user cannot reach {path} (PostgreSQL runs as that user when clickpulse runs as "
            "root): make its parent folders world-executable (chmod o+x)"
        )


def init(settings: Settings) -> None:
    if (data_dir() / "PG_VERSION").exists():
        return
    settings.require("postgres_admin_password")
    root = home()
    if root.exists():
        shutil.rmtree(root)
    if root.parent == SYSTEM_STATE_DIR:
        SYSTEM_STATE_DIR.mkdir(parents=True, exist_ok=True)
        SYSTEM_STATE_DIR.chmod(0o755)  # whatever root's umask: the postgres user must pass through
    data_dir().mkdir(parents=True)
    socket_dir().mkdir(parents=True)
    if root.parent == SYSTEM_STATE_DIR:
        # which checkout a folder belongs to, for whoever looks into /var/lib/clickpulse
        (root / "CLICKPULSE_HOME").write_text(f"{state_dir()}\n")
    _chown(root)
    _check_traversable(root)
    with tempfile.NamedTemporaryFile("w", delete=False, dir=root) as pw:
        pw.write(settings.postgres_admin_password + "\n")
    _chown(Path(pw.name))
    try:
        res = subprocess.run(
            [*_run_as(), str(bin_dir() / "initdb"), "-D", str(data_dir()), "-U", settings.postgres_admin_user,
             "--pwfile", pw.name, "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--locale=C.UTF-8"],
            capture_output=True, text=True,
        )
    finally:
        os.unlink(pw.name)
    if res.returncode != 0:
        raise ClickpulseError(f"initdb failed: {res.stderr.strip()[-400:]}")
    conf = [
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = '{socket_dir()}'",
        "timezone = 'UTC'",
        "log_timezone = 'UTC'",
        "max_connections = 200",
        "shared_buffers = 512MB",
        "work_mem = 32MB",
        "logging_collector = off",
    ]
    with (data_dir() / "postgresql.auto.conf").open("a") as f:
        f.write("\n".join(conf) + "\n")


def configure_timescaledb() -> bool:
    """When the TimescaleDB extension is installed, make the cluster preload it with
    telemetry off, also for a data dir initialised before the extension was installed.

    Idempotent, for a stopped cluster (takes effect when it starts); returns True when it
    changed the configuration. Written to postgresql.auto.conf like init() does (that file
    is read last, so nothing in postgresql.conf overrides it); libraries already preloaded
    by either file are kept."""
    if not timescaledb_available() or not (data_dir() / "PG_VERSION").exists():
        return False
    auto = data_dir() / "postgresql.auto.conf"
    lines = auto.read_text().splitlines() if auto.exists() else []
    libs: list[str] = []
    for path in (data_dir() / "postgresql.conf", auto):
        for value in _conf_values(path, "shared_preload_libraries"):
            libs = [v.strip().strip('"') for v in value.split(",") if v.strip()]
    want = {
        "shared_preload_libraries": ",".join(libs if "timescaledb" in libs else [*libs, "timescaledb"]),
        "timescaledb.telemetry_level": "off",
    }
    have = {k: (_conf_values(auto, k) or [None])[-1] for k in want}
    if have == want:
        return False
    kept = [l for l in lines if _conf_key(l) not in want]
    kept += [f"{k} = '{v}'" for k, v in want.items()]
    auto.write_text("\n".join(kept) + "\n")  # same inode: owner and mode stay
    return True


def _conf_key(line: str) -> str | None:
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    key = line.split("=", 1)[0] if "=" in line else line.split(None, 1)[0]
    return key.strip().lower()


def _conf_values(path: Path, setting: str) -> list[str]:
    """The values `setting` is given in a postgresql.conf-style file, in file order."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if _conf_key(line) != setting:
            continue
        value = line.split("=", 1)[1] if "=" in line else line.strip().split(None, 1)[1]
        value = value.strip()
        if value.startswith("'"):
            value = value[1:value.index("'", 1)] if "'" in value[1:] else value[1:]
        else:
            value = value.split("#", 1)[0].strip()
        out.append(value)
    return out


def start(settings: Settings) -> None:
    if is_ready(settings):
        return
    procs.ensure_port_free(settings.postgres_port, "PostgreSQL", "POSTGRES_PORT")
    init(settings)
    configure_timescaledb()
    log = procs.log_dir() / "postgres.log"
    # Without -l, pg_ctl leaves the server's output on its stdout: this file, opened here,
    # so the server never has to reach the log folder itself.
    with log.open("a") as out:
        res = subprocess.run(
            [*_run_as(), str(bin_dir() / "pg_ctl"), "-D", str(data_dir()),
             "-o", f"-p {settings.postgres_port}", "-w", "-t", "60", "start"],
            stdout=out, stderr=subprocess.PIPE, text=True,
        )
    if res.returncode != 0:
        raise ClickpulseError(f"PostgreSQL did not start: {res.stderr.strip()[-300:]}; see {log}")
    bootstrap(settings)


def pid() -> int | None:
    try:
        first = (data_dir() / "postmaster.pid").read_text().splitlines()[0]
        p = int(first)
    except (FileNotFoundError, ValueError, IndexError):
        return None
    return p if procs.pid_alive(p) else None


def stop() -> bool:
    if pid() is None:
        return False
    subprocess.run([*_run_as(), str(bin_dir() / "pg_ctl"), "-D", str(data_dir()), "-m", "fast", "-w", "stop"],
                   capture_output=True, text=True)
    return True


def connect(settings: Settings, role: str = "admin", db: str | None = None, **kw):
    return psycopg.connect(settings.dsn(role, db), connect_timeout=5, **kw)


def is_ready(settings: Settings) -> bool:
    if not procs.port_open(settings.postgres_port, settings.postgres_host):
        return False
    try:
        with connect(settings, "admin", "postgres") as c:
            c.execute("select 1")
        return True
    except Exception:  # noqa: BLE001
        return False


def bootstrap(settings: Settings) -> None:
    """Databases and roles. Idempotent; passwords are (re)set from the settings."""
    bootstrap_roles(settings)

    with connect(settings, "admin", "postgres", autocommit=True) as c:
        for db in (settings.postgres_db, settings.superset_db):
            if not c.execute("select 1 from pg_database where datname = %s", (db,)).fetchone():
                c.execute(sql.SQL("create database {}").format(sql.Identifier(db)))
        c.execute(sql.SQL("alter database {} set timezone to 'UTC'").format(sql.Identifier(settings.postgres_db)))
    grant_roles(settings)


def bootstrap_roles(settings: Settings) -> None:
    settings.require("postgres_writer_password", "postgres_reader_password")
    with connect(settings, "admin", "postgres", autocommit=True) as c:
        for role in ("writer", "reader"):
            name = getattr(settings, f"postgres_{role}_user")
            password = getattr(settings, f"postgres_{role}_password")
            verb = "alter" if c.execute("select 1 from pg_roles where rolname = %s", (name,)).fetchone() else "create"
            c.execute(sql.SQL(verb + " role {} with login password {}").format(sql.Identifier(name), sql.Literal(password)))
        # The reader can never write, whatever grants a migration adds later.
        c.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(
            sql.Identifier(settings.postgres_reader_user)))


def grant_roles(settings: Settings) -> None:
    """Privileges on the analytics database, including for tables that migrations add later."""
    w = sql.Identifier(settings.postgres_writer_user)
    r = sql.Identifier(settings.postgres_reader_user)
    with connect(settings, "admin", settings.postgres_db, autocommit=True) as c:
        c.execute(sql.SQL("grant connect on database {} to {}, {}").format(sql.Identifier(settings.postgres_db), w, r))
        c.execute(sql.SQL("grant usage on schema public to {}, {}").format(w, r))
        c.execute(sql.SQL("grant select on all tables in schema public to {}, {}").format(w, r))
        c.execute(sql.SQL("grant insert, update on all tables in schema public to {}").format(w))
        c.execute(sql.SQL("alter default privileges in schema public grant select on tables to {}, {}").format(w, r))
        c.execute(sql.SQL("alter default privileges in schema public grant insert, update on tables to {}").format(w))
        # The tables whose rows the job removes itself (V071); no other deletes.
        if c.execute("select to_regclass('public.clickpulse_job_deletes')").fetchone()[0]:
            for (table,) in c.execute("select table_name from clickpulse_job_deletes").fetchall():
                c.execute(sql.SQL("grant delete on {} to {}").format(sql.Identifier(table), w))
        # The migrations' bookkeeping is the admin's alone.
        for table in ("clickpulse_schema_migrations", "clickpulse_retention", "clickpulse_job_deletes"):
            if c.execute("select to_regclass(%s)", (f"public.{table}",)).fetchone()[0]:
                c.execute(sql.SQL("revoke insert, update on {} from {}").format(sql.Identifier(table), w))
