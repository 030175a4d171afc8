"""Authoring metrics: a broken file is reported as file:line by the real planner, a new
metric scaffold plans cleanly, and the repository's own files validate against the
database's tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = [str(Path(sys.executable).parent / "clickpulse")]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_broken_files_are_reported_as_file_and_line(tmp_path):
    metrics, migrations = tmp_path / "metrics", tmp_path / "migrations"
    metrics.mkdir()
    migrations.mkdir()
    src = (ROOT / "sql/metrics/events_per_minute.sql").read_text().splitlines()
    # line 14 is `COUNT(*) AS events`: add a column that does not exist on line 15
    assert src[13].strip() == "COUNT(*) AS events"
    (metrics / "unknown_column.sql").write_text(
        "\n".join(src[:13] + ["  COUNT(*) AS events,", "  SUM(no_such_column) AS x"] + src[14:]) + "\n")
    (metrics / "syntax.sql").write_text("-- key: window_start\nSELECT window_start,\nFROM events_clean\n")
    (metrics / "no_key.sql").write_text("-- grain: whatever\nSELECT 1 AS x\n")
    res = cli("metrics", "new", "signups_per_minute", "--metrics-dir", str(metrics), "--migrations-dir", str(migrations))
    assert res.returncode == 0, res.stderr
    assert (migrations / "V001__signups_per_minute.sql").read_text().startswith("-- The table of")

    res = cli("metrics", "validate", "--dir", str(metrics), "--no-db")
    assert res.returncode == 1
    errors = sorted(res.stdout.strip().splitlines())
    assert errors == [
        f"{metrics}/no_key.sql:1: header has no `-- key: col, ...` line (the table's primary key)",
        f"{metrics}/syntax.sql:3: Incorrect syntax near the keyword 'FROM' (column 1)",
        f"{metrics}/unknown_column.sql:15: Column 'no_such_column' not found in any table",
    ], res.stdout + res.stderr


def test_repository_metrics_validate_against_the_database(migrated):
    res = cli("metrics", "validate", "--db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "metric files OK" in res.stderr


def test_scaffold_refuses_bad_names_and_existing_files(tmp_path):
    res = cli("metrics", "new", "Bad-Name", "--metrics-dir", str(tmp_path), "--migrations-dir", str(tmp_path))
    assert res.returncode == 1 and "lower-case letters" in res.stderr
    shutil.copy(ROOT / "sql/metrics/events.sql", tmp_path / "events.sql")
    res = cli("metrics", "new", "events", "--metrics-dir", str(tmp_path), "--migrations-dir", str(tmp_path))
    assert res.returncode == 1 and "already exists" in res.stderr
