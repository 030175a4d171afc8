"""`clickpulse db migrate` on each backend: applies every migration once, is a no-op the
second time, refuses edited applied files, and reports a broken one as `file:line: message`
without applying any of it."""

from __future__ import annotations

import re
import shutil

import pytest

from clickpulse.db import migrations
from clickpulse.errors import ClickpulseError
from clickpulse.paths import MIGRATIONS_DIR
from conftest import run_cli

from .tables import TABLES


def _schema(db) -> list[tuple]:
    """What a migration can change: relations, functions, TimescaleDB jobs."""
    with db.connect() as c:
        rels = c.execute("select relname, relkind::text from pg_class where relnamespace = 'public'::regnamespace "
                         "order by 1").fetchall()
        funcs = c.execute("select oid::regprocedure::text from pg_proc where pronamespace = 'public'::regnamespace "
                          "and proname like 'clickpulse%' order by 1").fetchall()
        jobs = []
        if db.backend == "timescale":
            jobs = c.execute("select proc_name, coalesce(hypertable_name, ''), config::text "
                             "from timescaledb_information.jobs order by 1, 2, 3").fetchall()
    return rels + funcs + jobs


def test_migrate_applies_every_migration_and_is_idempotent(fresh_db):
    db = fresh_db
    first = db.cli("db", "migrate").stderr
    planned = migrations.plan(db.backend)
    assert [m.version for m in planned] == sorted(m.version for m in planned)
    for m in planned:
        assert f"applied {m.rel}" in first
        if m.path.name.endswith((".postgres.sql", ".timescale.sql")):
            assert m.path.name.endswith(f".{db.backend}.sql")
    assert f"database is up to date ({db.backend}, {len(planned)} migration(s) applied now)" in first
    before = _schema(db)

    second = db.cli("db", "migrate").stderr
    assert "applied sql/" not in second
    assert f"database is up to date ({db.backend}, 0 migration(s) applied now)" in second
    assert _schema(db) == before

    with db.connect() as c:
        rows = c.execute("select version, file, backend, checksum from clickpulse_schema_migrations "
                         "order by version").fetchall()
        assert rows == [(m.version, m.path.name, db.backend, m.checksum) for m in planned]
        tables = {r[0] for r in c.execute("select tablename from pg_tables where schemaname = 'public'")}
        assert {t.name for t in TABLES} <= tables
        has_ts = c.execute("select count(*) from pg_extension where extname = 'timescaledb'").fetchone()[0]
        assert has_ts == (db.backend == "timescale")
    status = db.cli("db", "status").stdout
    assert "pending" not in status and f"({db.backend})" in status


def _copy_migrations(tmp_path):
    d = tmp_path / "migrations"
    d.mkdir()
    for f in MIGRATIONS_DIR.glob("*.sql"):
        shutil.copy(f, d / f.name)
    return d


def test_edited_applied_migration_is_reported(fresh_db, tmp_path):
    db = fresh_db
    d = _copy_migrations(tmp_path)
    _, done = migrations.migrate(db.settings, directory=d)
    assert len(done) == len(migrations.plan(db.backend))
    edited = d / "V004__pipeline_health.sql"
    edited.write_text(edited.read_text() + "-- an afterthought\n")
    with pytest.raises(ClickpulseError) as e:
        migrations.migrate(db.settings, directory=d)
    assert str(e.value).startswith(f"{edited}: changed after it was applied"), str(e.value)
    assert "\n" not in str(e.value)


BROKEN = {
    # found by the parser/analyser: PostgreSQL gives the position
    "unknown column": ("-- a migration with a mistake\n"
                       "CREATE TABLE broken_first (x int);\n"
                       "\n"
                       "SELECT window_start,\n"
                       "       no_such_column\n"
                       "  FROM events_per_minute;\n",
                       5, 'column "no_such_column" does not exist'),
    # found while running: no position, the statement's first line
    "existing table": ("-- a migration with a mistake\n"
                       "CREATE TABLE broken_first (x int);\n"
                       "CREATE FUNCTION broken_f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
                       "\n"
                       "/* a comment; with a semicolon */\n"
                       "CREATE TABLE\n"
                       "  events_per_minute (x int);\n"
                       "CREATE TABLE broken_last (x int);\n",
                       6, 'relation "events_per_minute" already exists'),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_migration_reports_file_line_and_applies_nothing(fresh_db, tmp_path, case):
    db = fresh_db
    text, line, message = BROKEN[case]
    d = _copy_migrations(tmp_path)
    last = max(m.version for m in migrations.plan(db.backend))
    broken = d / f"V{last + 1:03d}__broken.sql"
    broken.write_text(text)
    with pytest.raises(ClickpulseError) as e:
        migrations.migrate(db.settings, directory=d)
    assert str(e.value) == f"{broken}:{line}: {message}"
    with db.connect() as c:
        versions = [r[0] for r in c.execute("select version from clickpulse_schema_migrations order by 1")]
        assert versions == [m.version for m in migrations.plan(db.backend, MIGRATIONS_DIR)]
        for name in ("broken_first", "broken_last"):
            assert c.execute("select to_regclass(%s)", (name,)).fetchone()[0] is None
        assert c.execute("select count(*) from pg_proc where proname = 'broken_f'").fetchone()[0] == 0


def test_unusable_backend_setting_is_a_one_line_error(fresh_db):
    res = run_with_backend(fresh_db, "nosuch", check=False)
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "CLICKPULSE_DB_BACKEND='nosuch'" in res.stderr


def run_with_backend(db, backend: str, check: bool = True):
    return run_cli("db", "migrate", check=check, env={**db.env, "CLICKPULSE_DB_BACKEND": backend})


def test_backend_selection(fresh_db):
    """auto picks TimescaleDB exactly when the extension is installed; a database migrated
    for one backend refuses the other."""
    db = fresh_db
    with db.connect() as c:
        installed = c.execute("select count(*) from pg_available_extensions where name = 'timescaledb'").fetchone()[0]
    if not installed:
        res = run_with_backend(db, "timescale", check=False)
        assert res.returncode == 1
        assert "CLICKPULSE_DB_BACKEND=timescale but the timescaledb extension is not installed" in res.stderr
        assert "database is up to date (postgres" in run_with_backend(db, "auto").stderr
    else:
        # plain PostgreSQL variants on a TimescaleDB-enabled server, by choice
        assert "database is up to date (postgres" in run_with_backend(db, "postgres").stderr
        res = run_with_backend(db, "auto", check=False)
        assert res.returncode == 1
        assert re.search(r"was migrated for postgres, now timescale is selected; set CLICKPULSE_DB_BACKEND=postgres",
                         res.stderr), res.stderr
        assert "database is up to date (postgres, 0" in run_with_backend(db, "postgres").stderr


def test_statement_splitting_respects_quotes_and_comments():
    text = (MIGRATIONS_DIR / "V001__clickpulse_timeseries.timescale.sql").read_text()
    stmts = [s.strip() for _, s in migrations.split_statements(text)]
    assert len(stmts) == 3, stmts
    assert stmts[2].endswith("END;\n$$;") and "CREATE OR REPLACE FUNCTION clickpulse_timeseries" in stmts[2]
    tricky = "select ';' as a, $x$ ; $x$, E'\\'';\n-- done;\nselect \"a;b\" from t /* ; */;"
    assert [s.strip() for _, s in migrations.split_statements(tricky)] == [
        "select ';' as a, $x$ ; $x$, E'\\'';", "-- done;\nselect \"a;b\" from t /* ; */;"]
