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
from ..paths import METRICS_DIR, MIGRATIONS_DIR
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


def next_migration(directory: Path, name: str) -> Path:
    versions = [int(m.group(1)) for p in directory.glob("V*__*.sql") if (m := re.match(r"V(\d+)__", p.name))]
    return directory / f"V{max(versions, default=0) + 1:03d}__{name}.sql"


def scaffold(name: str, metrics_dir: Path | None = None, migrations_dir: Path | None = None) -> tuple[Path, Path]:
    metrics_dir, migrations_dir = metrics_dir or METRICS_DIR, migrations_dir or MIGRATIONS_DIR
    if not NAME.match(name):
        raise ClickpulseError(f"metric name {name!r}: use lower-case letters, digits and _ (it is the table name)")
    sql = metrics_dir / f"{name}.sql"
    if sql.exists():
        raise ClickpulseError(f"{sql} already exists")
    migration = next_migration(migrations_dir, name)
    sql.write_text(METRIC_TEMPLATE.format(name=name))
    migration.write_text(MIGRATION_TEMPLATE.format(name=name))
    return sql, migration


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
        report.errors.append(str(e))
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
