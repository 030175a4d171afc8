"""Authoring metrics: a broken file is reported as file:line by the real planner, a new
metric scaffold plans cleanly, and the repository's own files validate against the
database's tables."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from clickpulse import truth
from clickpulse.runner import authoring
from clickpulse.runner.metric import discover

ROOT = Path(__file__).resolve().parents[2]
CLI = [str(Path(sys.executable).parent / "clickpulse")]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=600, cwd=ROOT)


def repo_copy(root: Path, with_metrics: bool = True) -> Path:
    """The parts of the repository `metrics new` writes to, copied under ROOT."""
    def leave_out(directory: str, names: list[str]) -> list[str]:
        return names if not with_metrics and Path(directory).name == "metrics" else []

    shutil.copytree(ROOT / "sql", root / "sql", ignore=leave_out)
    for rel in ("jobs/clickpulse/truth.py", "tests/db/tables.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    shutil.copytree(ROOT / "superset/assets", root / "superset/assets")
    return root


def test_broken_files_are_reported_as_file_and_line(tmp_path):
    repo = repo_copy(tmp_path / "repo", with_metrics=False)
    metrics, migrations = repo / "sql/metrics", repo / "sql/migrations"
    src = (ROOT / "sql/metrics/events_per_minute.sql").read_text().splitlines()
    # after the line `COUNT(*) AS events`, add a column that does not exist (a templated
    # file: the error still names the line of the file)
    count = next(i for i, line in enumerate(src) if line.strip() == "COUNT(*) AS events")
    (metrics / "unknown_column.sql").write_text(
        "\n".join(src[:count] + ["  COUNT(*) AS events,", "  SUM(no_such_column) AS x"] + src[count + 1:]) + "\n")
    (metrics / "syntax.sql").write_text("-- key: window_start\nSELECT window_start,\nFROM events_clean\n")
    (metrics / "no_key.sql").write_text("-- grain: whatever\nSELECT 1 AS x\n")
    res = cli("metrics", "new", "signups_per_minute", "--root", str(repo))
    assert res.returncode == 0, res.stderr
    [migration] = migrations.glob("V*__signups_per_minute.sql")
    assert migration.read_text().startswith("-- The table of")

    res = cli("metrics", "validate", "--dir", str(metrics), "--no-db")
    assert res.returncode == 1
    errors = sorted(res.stdout.strip().splitlines())
    assert errors == [
        f"{metrics}/no_key.sql:1: header has no `-- key: col, ...` line (the table's primary key)",
        f"{metrics}/syntax.sql:3: Incorrect syntax near the keyword 'FROM' (column 1)",
        f"{metrics}/unknown_column.sql:{count + 2}: Column 'no_such_column' not found in any table",
    ], res.stdout + res.stderr


def test_repository_metrics_validate_against_the_database(migrated):
    res = cli("metrics", "validate", "--db")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "metric files OK" in res.stderr


def test_scaffold_refuses_bad_names_and_existing_files(tmp_path):
    repo = repo_copy(tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    res = cli("metrics", "new", "Bad-Name", "--root", str(repo))
    assert res.returncode == 1 and "lower-case letters" in res.stderr
    res = cli("metrics", "new", "events", "--root", str(repo))
    assert res.returncode == 1 and "already exists" in res.stderr
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before, "a refused scaffold wrote files"


def test_every_metric_has_every_part_a_metric_needs():
    """Like sqlite-utils' "every command is documented": each metric file has the header
    (purpose, grain, window, watermark, key), a migration creating its table, a reference in
    clickpulse.truth, an entry in the database tests' tables and a Superset dataset."""
    places = authoring.Places.under()
    missing = {m.name: authoring.parts_missing(m, places) for m in discover()}
    assert not {k: v for k, v in missing.items() if v}, missing
    assert set(truth.TABLES) >= {m.name for m in discover()}, "a metric without a reference in truth.TABLES"


def test_a_metric_missing_a_part_is_named(tmp_path):
    repo = repo_copy(tmp_path)
    places = authoring.Places.under(repo)
    (repo / "superset/assets/datasets/clickpulse/late_events.yaml").unlink()
    metric = discover(["late_events"], places.metrics_dir)[0]
    assert authoring.parts_missing(metric, places) == [
        f"a dataset {repo}/superset/assets/datasets/clickpulse/late_events.yaml"]
