"""What analysts use to write metrics: scaffold a metric file with its table migration,
print a table's DDL from the planner's view of a SELECT, and validate every file with the
real Flink planner (no cluster) reporting `file:line: message`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..alerts import rules as alert_rules
from ..db.schema import check_tables
from ..errors import ClickpulseError
from ..paths import METRICS_DIR, ROOT
from ..settings import Settings
from . import pipeline
from .funnels import load_funnels
from .metric import NAME, Metric, load

PG_TYPES = {"STRING": "text", "VARCHAR": "text", "CHAR": "text", "BIGINT": "bigint", "INT": "integer",
            "INTEGER": "integer", "SMALLINT": "smallint", "TINYINT": "smallint", "DOUBLE": "double precision",
            "FLOAT": "real", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamptz",
            "TIMESTAMP_LTZ": "timestamptz"}

METRIC_TEMPLATE = """\
-- {name}: <what it measures, in one line>.
-- grain: one row per site per minute
-- window: 1-minute tumbling windows on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); later events go to late_events
-- key: window_start, site_id
SELECT
  window_start,
  window_end,
  site_id,
  COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, site_id
"""

MIGRATION_TEMPLATE = """\
-- The table of sql/metrics/{name}.sql (created by `clickpulse metrics new {name}`). Keep its
-- columns and primary key in step with the file's SELECT and `-- key:` header;
-- `clickpulse metrics validate` checks them.
CREATE TABLE {name} (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  events       bigint NOT NULL,
  PRIMARY KEY (window_start, site_id)
);
CREATE INDEX {name}_site ON {name} (site_id, window_start DESC);
SELECT clickpulse_timeseries('{name}', 'window_start', INTERVAL '90 days');
"""


# The reference of a scaffolded metric, appended to clickpulse/truth.py: the same count
# as the SQL template, computed in plain Python over the clean events. Edit both together.
TRUTH_TEMPLATE = """

@clean_metric
def {name}(events: list[Event]) -> list[dict]:
    \"\"\"Reference of sql/metrics/{name}.sql (scaffolded by `clickpulse metrics new`):
    events per minute and site. Edit it together with the SQL file; tests compare the two.\"\"\"
    counts: dict[tuple, int] = defaultdict(int)
    for e in events:
        counts[(_floor(e.ts, MINUTE), e.site_id)] += 1
    return [dict(window_start=ts_utc(w), window_end=ts_utc(w + MINUTE), site_id=s, events=n)
            for (w, s), n in counts.items()]
"""

# The table as the database tests write it (tests/db/tables.py), appended there.
DB_TABLE_TEMPLATE = """

scaffolded(Table("{name}", "window_start", ("window_start", "site_id"),
                 (*WINDOW, ("site_id", "text"), ("events", "bigint")), "90 days", M))
"""

# The columns of the scaffolded table as the database reports them (for its dataset).
SCAFFOLD_COLUMNS = [("window_start", "TIMESTAMP WITH TIME ZONE"), ("window_end", "TIMESTAMP WITH TIME ZONE"),
                    ("site_id", "TEXT"), ("events", "BIGINT")]
SCAFFOLD_KEY = ["window_start", "site_id"]


@dataclass
class Places:
    """Where a metric's parts live, under a repository root (a temporary copy in tests)."""
    root: Path
    metrics_dir: Path
    migrations_dir: Path

    @classmethod
    def under(cls, root: Path | None = None, metrics_dir: Path | None = None,
              migrations_dir: Path | None = None) -> "Places":
        root = root or ROOT
        return cls(root, metrics_dir or root / "sql" / "metrics", migrations_dir or root / "sql" / "migrations")

    @property
    def truth(self) -> Path:
        return self.root / "jobs" / "clickpulse" / "truth.py"

    @property
    def db_tables(self) -> Path:
        return self.root / "tests" / "db" / "tables.py"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "superset" / "assets" / "datasets" / "clickpulse"


def next_migration(directory: Path, name: str) -> Path:
    versions = [int(m.group(1)) for p in directory.glob("V*__*.sql") if (m := re.match(r"V(\d+)__", p.name))]
    return directory / f"V{max(versions, default=0) + 1:03d}__{name}.sql"


def _refuse_taken(name: str, places: Places) -> None:
    """Nothing is written unless every part is new: a half-scaffolded metric is worse than none."""
    if not NAME.match(name):
        raise ClickpulseError(f"metric name {name!r}: use lower-case letters, digits and _ (it is the table name)")
    sql = places.metrics_dir / f"{name}.sql"
    if sql.exists():
        raise ClickpulseError(f"{sql} already exists")
    for path, marker in ((places.truth, f"def {name}("), (places.db_tables, f'Table("{name}"')):
        if path.exists() and marker in path.read_text():
            raise ClickpulseError(f"{path} already has {marker.rstrip('(')}")
    if (places.datasets_dir / f"{name}.yaml").exists():
        raise ClickpulseError(f"{places.datasets_dir / f'{name}.yaml'} already exists")


def scaffold(name: str, places: Places) -> list[Path]:
    """Write the metric file, its migration, its reference in clickpulse.truth and its entry
    in the database tests' tables; returns the files written. The dataset is the
    dashboards layer's (`dashboards.assets.scaffold_dataset`)."""
    _refuse_taken(name, places)
    sql = places.metrics_dir / f"{name}.sql"
    migration = next_migration(places.migrations_dir, name)
    sql.write_text(METRIC_TEMPLATE.format(name=name))
    migration.write_text(MIGRATION_TEMPLATE.format(name=name))
    written = [sql, migration]
    for path, template in ((places.truth, TRUTH_TEMPLATE), (places.db_tables, DB_TABLE_TEMPLATE)):
        if path.exists():  # a deployment without the tests has no tests/db/tables.py
            with path.open("a") as f:
                f.write(template.format(name=name))
            written.append(path)
    return written


HEADER_FIELDS = ("grain", "window", "watermark", "key")


def parts_missing(metric: Metric, places: Places) -> list[str]:
    """What a metric lacks of the parts `metrics new` scaffolds: the header (purpose, grain,
    window, watermark, key), a migration that creates its table, its reference in
    clickpulse/truth.py, its entry in the database tests' tables, its Superset dataset."""
    name, missing = metric.name, []
    first = metric.path.read_text().split("\n", 1)[0]
    if not re.match(rf"--\s*{name}:\s*\S", first):  # digits in a name keep it out of metric.header
        missing.append(f"{metric.rel}:1: header line `-- {name}: <purpose>`")
    missing += [f"{metric.rel}:1: header line `-- {f}: ...`" for f in HEADER_FIELDS if not metric.header.get(f)]
    creates = re.compile(rf"CREATE TABLE (IF NOT EXISTS )?{name}\s*\(", re.I)
    if not any(creates.search(p.read_text()) for p in places.migrations_dir.glob("V*__*.sql")):
        missing.append(f"a migration in {places.migrations_dir} with CREATE TABLE {name}")
    truth = places.truth.read_text() if places.truth.exists() else ""
    if f'"{name}": lambda' not in truth and f"@clean_metric\ndef {name}(" not in truth:
        missing.append(f"a reference in {places.truth} (a maker in tables() or an @clean_metric function)")
    db_tables = places.db_tables.read_text() if places.db_tables.exists() else ""
    if f'Table("{name}"' not in db_tables and f'"{name}": "test_' not in db_tables:
        missing.append(f"an entry in {places.db_tables} (TABLES, or OWN_TESTS naming its test module)")
    dataset = places.datasets_dir / f"{name}.yaml"
    if not dataset.exists():
        missing.append(f"a dataset {dataset}")
    return missing


def pg_type(flink_type: str) -> str:
    base = flink_type.split("(")[0].strip().upper()
    if base == "DECIMAL":
        return "numeric" + flink_type[len("DECIMAL"):]
    if base not in PG_TYPES:
        raise ClickpulseError(f"no PostgreSQL type for Flink type {flink_type}")
    return PG_TYPES[base]


def ddl(metric: Metric, columns: list[pipeline.Column]) -> str:
    width = max(len(c.name) for c in columns)
    lines = [f"  {c.name.ljust(width)} {pg_type(c.type)}{' NOT NULL' if c.name in metric.key else ''}"
             for c in columns]
    lines.append(f"  PRIMARY KEY ({', '.join(metric.key)})")
    return f"CREATE TABLE {metric.table} (\n" + ",\n".join(lines) + "\n);\n"


@dataclass
class Report:
    checked: list[str]
    errors: list[str]
    notes: list[str]


def local_env(settings: Settings):
    t_env = pipeline.create_table_env(settings, remote=False)
    pipeline.create_kafka_source(t_env, settings)
    pipeline.create_views(t_env, settings)
    return t_env


def validate(settings: Settings, directory: Path | None = None, check_db: bool | None = None) -> Report:
    """Plan every metric file of `directory` as the deployed job would, without a cluster.
    check_db: compare with the database's tables (None: when the database is reachable)."""
    report = Report([], [], [])
    try:
        load_funnels()
    except ClickpulseError as e:
        # the funnels' view (sql/funnel_views.sql) is part of every plan: nothing plans without it
        report.errors.append(str(e))
        return report
    directory = directory or METRICS_DIR
    metrics: list[Metric] = []
    for path in sorted(directory.glob("*.sql")):
        try:
            metrics.append(load(path))
        except ClickpulseError as e:
            report.errors.append(str(e))
    # planning needs no database: a placeholder stands in for an unset writer password
    settings = settings.model_copy(update={"postgres_writer_password": settings.postgres_writer_password or "unset"})
    t_env = local_env(settings)
    columns = {}
    for m in metrics:
        try:
            columns[m.name] = pipeline.resolved_columns(t_env, m)
        except ClickpulseError as e:
            report.errors.append(str(e))
            continue
        try:
            sink = pipeline.create_jdbc_sink(t_env, settings, m, columns[m.name])
            plan = t_env.explain_sql(f"INSERT INTO `{sink}` SELECT {', '.join(f'`{c.name}`' for c in columns[m.name])}"
                                     f" FROM ({m.sql})")
        except Exception as e:  # noqa: BLE001 - the planner's message, mapped to the file
            report.errors.append(pipeline.planner_error(m, e))
            continue
        if "upsertMaterialize=[true]" in plan:
            report.errors.append(
                f"{m.rel}:1: the SELECT's rows are not unique on `-- key: {', '.join(m.key)}`, so the sink would "
                "need a materializer; group by exactly the key columns (aggregate the others)")
            continue
        report.checked.append(m.rel)
    good = [m for m in metrics if m.name in columns]
    if check_db is not False and good:
        try:
            report.errors.extend(check_tables(settings, good, columns))
        except Exception as e:  # noqa: BLE001
            if check_db:
                raise ClickpulseError(f"cannot check the tables: {str(e).strip().splitlines()[0]} "
                                      "(POSTGRES_HOST/POSTGRES_PORT; or use --no-db)") from None
            report.notes.append("tables not checked: the database is not reachable")
    return report


def validate_alerts(settings: Settings, directory: Path | None = None) -> Report:
    """Check every rule file of `directory` (default sql/alerts) and plan the valid ones'
    SQL with the real Flink planner, on the views the deployed job has."""
    report = Report([], [], [])
    funnels = load_funnels()
    rules, report.errors = alert_rules.check_all(directory, funnels)
    in_stream = [r for r in rules if r.in_stream]
    if in_stream:
        settings = settings.model_copy(update={"postgres_writer_password": settings.postgres_writer_password or "unset"})
        t_env = local_env(settings)
        pipeline.create_alert_views(t_env, in_stream, funnels)
        for r in in_stream:
            err = pipeline.rule_error(t_env, r, in_stream, funnels)
            if err:
                report.errors.append(err)
            else:
                report.checked.append(r.rel)
    report.checked += [r.rel for r in rules if not r.in_stream]
    return report
