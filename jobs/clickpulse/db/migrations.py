"""Versioned migrations from sql/migrations/, applied by `clickpulse db migrate`.

File names: `V<NNN>__<name>.sql` runs on every backend; `V<NNN>__<name>.postgres.sql` and
`V<NNN>__<name>.timescale.sql` are the two variants of one version, picked by the backend
(TimescaleDB when the extension is installed, unless CLICKPULSE_DB_BACKEND says otherwise).
Each version runs in one transaction and is recorded with its checksum, so running
`migrate` again is a no-op and an edited, already-applied file is an error.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ..errors import ClickpulseError
from ..paths import MIGRATIONS_DIR, ROOT
from ..settings import Settings
from ..stack import postgres

FILE = re.compile(r"^V(\d{3,})__([a-z0-9_]+?)(?:\.(postgres|timescale))?\.sql$")
BACKENDS = ("postgres", "timescale")
# Any fixed number works; it only has to be the same for every `migrate` run.
LOCK_ID = 7_311_202_611


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def rel(self) -> str:
        try:
            return str(self.path.relative_to(ROOT))
        except ValueError:
            return str(self.path)


def plan(backend: str, directory: Path | None = None) -> list[Migration]:
    """The migrations for `backend`, in version order."""
    directory = directory or MIGRATIONS_DIR
    by_version: dict[int, dict[str | None, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.glob("*.sql")):
        m = FILE.match(path.name)
        if not m:
            raise ClickpulseError(f"{path}: migration files are named V<NNN>__<name>[.postgres|.timescale].sql")
        version, name, variant = int(m.group(1)), m.group(2), m.group(3)
        if names.setdefault(version, name) != name:
            raise ClickpulseError(f"{path}: version V{version:03d} is already used by {names[version]!r}")
        by_version.setdefault(version, {})[variant] = path
    out = []
    for version in sorted(by_version):
        variants = by_version[version]
        if None in variants and len(variants) > 1:
            raise ClickpulseError(f"{variants[None]}: V{version:03d} has both a common file and backend variants")
        if None not in variants and set(variants) != set(BACKENDS):
            have = next(iter(variants.values()))
            missing = (set(BACKENDS) - set(variants)).pop()
            raise ClickpulseError(f"{have}: V{version:03d} needs a .{missing}.sql variant too")
        path = variants.get(None) or variants[backend]
        out.append(Migration(version, names[version], path))
    return out


def detect_backend(conn, settings: Settings) -> str:
    wanted = settings.db_backend
    available = conn.execute(
        "select count(*) from pg_available_extensions where name = 'timescaledb'").fetchone()[0] > 0
    if wanted == "auto":
        return "timescale" if available else "postgres"
    if wanted == "timescale" and not available:
        raise ClickpulseError("CLICKPULSE_DB_BACKEND=timescale but the timescaledb extension is not installed "
                              "in this PostgreSQL; install it or set CLICKPULSE_DB_BACKEND=auto")
    if wanted not in BACKENDS:
        raise ClickpulseError(f"CLICKPULSE_DB_BACKEND={wanted!r}: choose auto, postgres or timescale")
    return wanted


def _check_preloaded(conn) -> None:
    libs = conn.execute("select current_setting('shared_preload_libraries')").fetchone()[0]
    if "timescaledb" not in [x.strip().strip('"') for x in libs.split(",")]:
        raise ClickpulseError(
            "the timescaledb extension is installed but this server does not preload it "
            f"(shared_preload_libraries = {libs!r}): restart it (`clickpulse stack stop postgres && "
            "clickpulse stack up --only postgres` adds it to the local cluster), or set CLICKPULSE_DB_BACKEND=postgres")


def _ensure_table(conn) -> None:
    conn.execute("""
        create table if not exists clickpulse_schema_migrations (
          version integer primary key,
          name text not null,
          file text not null,
          backend text not null,
          checksum text not null,
          applied_at timestamptz not null default now()
        )""")


def applied(conn) -> dict[int, tuple[str, str, str]]:
    _ensure_table(conn)
    rows = conn.execute("select version, file, checksum, backend from clickpulse_schema_migrations").fetchall()
    return {v: (f, c, b) for v, f, c, b in rows}


def migrate(settings: Settings, progress=None, directory: Path | None = None) -> tuple[str, list[Migration]]:
    """Create roles and databases if needed, then apply pending migrations (from
    `directory`, default sql/migrations/). Returns the backend and the migrations applied now."""
    settings.require("postgres_admin_password")
    try:
        postgres.bootstrap(settings)
        conn = postgres.connect(settings, "admin", autocommit=True)
    except psycopg.OperationalError as e:
        raise ClickpulseError(
            f"cannot reach PostgreSQL at {settings.postgres_host}:{settings.postgres_port} as "
            f"{settings.postgres_admin_user}: {str(e).strip().splitlines()[-1]} (check POSTGRES_HOST, POSTGRES_PORT, "
            "POSTGRES_ADMIN_PASSWORD, or start it with `clickpulse stack up --only postgres`)") from None
    done: list[Migration] = []
    with conn:
        conn.execute("select pg_advisory_lock(%s)", (LOCK_ID,))
        try:
            backend = detect_backend(conn, settings)
            if backend == "timescale":
                _check_preloaded(conn)
            already = applied(conn)
            for prior_backend in {b for _, _, b in already.values()}:
                if prior_backend != backend:
                    raise ClickpulseError(
                        f"database {settings.postgres_db} was migrated for {prior_backend}, now {backend} is selected; "
                        f"set CLICKPULSE_DB_BACKEND={prior_backend} or migrate a fresh database")
            pending = []
            for m in plan(backend, directory):
                if m.version in already:
                    _, checksum, _ = already[m.version]
                    if checksum != m.checksum:
                        raise ClickpulseError(
                            f"{m.rel}: changed after it was applied (checksum differs); leave applied migrations "
                            "as they are and add a new V<NNN> file")
                    continue
                pending.append(m)
            task = progress.add_task("apply migrations", total=len(pending)) if progress and pending else None
            for m in pending:
                _apply(conn, m, backend)
                done.append(m)
                if task is not None:
                    progress.advance(task)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (LOCK_ID,))
    postgres.grant_roles(settings)
    return backend, done


def _apply(conn, m: Migration, backend: str) -> None:
    sql = m.path.read_text()
    try:
        with conn.transaction():
            conn.execute(sql)
            conn.execute(
                "insert into clickpulse_schema_migrations (version, name, file, backend, checksum) "
                "values (%s, %s, %s, %s, %s)", (m.version, m.name, m.path.name, backend, m.checksum))
    except psycopg.Error as e:
        line, e = _locate_error(conn, sql, e)
        raise ClickpulseError(f"{m.rel}:{line}: {_first_line(e)}") from None


def _first_line(e) -> str:
    return (str(e).strip().splitlines() or ["error"])[0]


def _locate_error(conn, sql: str, e) -> tuple[int, Exception]:
    """The file line of a failed migration's error and the error itself.

    PostgreSQL gives a position (in the whole file) for errors found while parsing and
    analysing a statement; errors raised while running one (an object that exists already,
    a failing function call) have none. Then the file is replayed statement by statement in
    a transaction that is rolled back, to find the statement that fails."""
    line = _position_line(sql, 0, e)
    if line is not None:
        return line, e

    class _Rollback(Exception):
        pass

    found: tuple[int, Exception] | None = None
    try:
        with conn.transaction():
            for start, stmt in split_statements(sql):
                try:
                    conn.execute(stmt)
                except psycopg.Error as err:
                    first = start + _leading_comments(stmt)
                    found = (_position_line(sql, start, err) or sql[:first].count("\n") + 1, err)
                    break
            raise _Rollback
    except _Rollback:
        pass
    except psycopg.Error:
        pass
    return found or (1, e)


def _position_line(sql: str, offset: int, e) -> int | None:
    """The file line of a PostgreSQL error position (1-based character offset into the
    statement that starts at `offset` in the file)."""
    pos = getattr(getattr(e, "diag", None), "statement_position", None)
    if not pos:
        return None
    return sql[: offset + int(pos) - 1].count("\n") + 1


def split_statements(sql: str) -> list[tuple[int, str]]:
    """Split SQL text on top-level semicolons, aware of comments, quoted strings and
    identifiers and dollar quoting. Returns (start offset, statement text) pairs."""
    out: list[tuple[int, str]] = []
    i, start, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c in "'\"":
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not (sql[i - 2:i - 1].isalnum() if i > 1 else False)
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                elif sql[i] == c:
                    if sql.startswith(c * 2, i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
        elif c == "$" and (m := _DOLLAR.match(sql, i)) and not (i > 0 and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            tag = m.group(0)
            j = sql.find(tag, m.end())
            i = n if j < 0 else j + len(tag)
        elif c == ";":
            if sql[start:i].strip():
                out.append((start, sql[start:i + 1]))
            i += 1
            start = i
        else:
            i += 1
    if _strip_comments(sql[start:]).strip():
        out.append((start, sql[start:]))
    return out


def _leading_comments(stmt: str) -> int:
    """Length of the whitespace and comments before a statement's first token."""
    i = 0
    while True:
        j = len(stmt) - len(stmt[i:].lstrip()) if i < len(stmt) else i
        i = j
        if stmt.startswith("--", i):
            k = stmt.find("\n", i)
            i = len(stmt) if k < 0 else k + 1
        elif stmt.startswith("/*", i):
            k = stmt.find("*/", i)
            i = len(stmt) if k < 0 else k + 2
        else:
            return i


_DOLLAR = re.compile(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$")


def _strip_comments(text: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def status(settings: Settings) -> tuple[str, list[tuple[Migration, str | None]]]:
    """Each migration of the current backend and when it was applied (None: pending)."""
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        backend = detect_backend(conn, settings)
        _ensure_table(conn)
        when = dict(conn.execute("select version, applied_at::text from clickpulse_schema_migrations").fetchall())
    return backend, [(m, when.get(m.version)) for m in plan(backend)]
