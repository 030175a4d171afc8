"""The Superset assets under superset/assets/ (Superset's own export format, one YAML per
asset) and the bundle `dashboards sync` imports from them.

What the files cannot know is filled in at sync time, from the settings and the database:

- the database's connection (host, port, database, read-only role) from the settings; the
  password travels next to the bundle, never inside it;
- every dataset's columns from the database (a migration that adds a column needs no YAML
  edit; hand-written column descriptions are kept);
- the funnel steps of the funnel datasets from sql/funnels.yaml;
- a dataset for every metric table that has no hand-written YAML, so a new metric
  (sql/metrics/<table>.sql + its migration) is chartable after the next sync.
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import yaml
from jinja2.sandbox import SandboxedEnvironment

from ..errors import ClickpulseError
from ..paths import METRICS_DIR, ROOT, SQL_DIR, SUPERSET_DIR
from ..settings import Settings

ASSETS_DIR = SUPERSET_DIR / "assets"
DATABASE_FILE = "databases/clickpulse.yaml"
# Generated datasets get a UUID derived from their table name: the same on every install,
# so a second sync updates the dataset instead of adding another.
GENERATED_NAMESPACE = uuid.UUID("8d3c1a52-6f0e-4f5b-9d1e-2b7c4e1a9f00")
# Internal tables (migrations, retention, rollup storage) are not for charts.
INTERNAL_PREFIXES = ("clickpulse_", "pg_", "_")
TIME_TYPES = ("TIMESTAMP", "DATE")
FUNNEL_VALUES = re.compile(r"(-- steps from sql/funnels\.yaml[^\n]*\n)(\s*)VALUES .*?(\n\s*\))", re.S)

PG_TYPES = {16: "BOOLEAN", 20: "BIGINT", 21: "SMALLINT", 23: "INTEGER", 25: "TEXT", 700: "REAL",
            701: "DOUBLE PRECISION", 1043: "VARCHAR", 1082: "DATE", 1114: "TIMESTAMP WITHOUT TIME ZONE",
            1184: "TIMESTAMP WITH TIME ZONE", 1700: "NUMERIC", 114: "JSON", 3802: "JSONB", 1186: "INTERVAL"}


class _Dumper(yaml.CSafeDumper):
    """Multi-line strings (virtual dataset SQL) as literal blocks, like a human writes them."""


_Dumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                              style="|" if "\n" in s else None))


def dump_yaml(obj) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


@dataclass
class Bundle:
    """Asset configs keyed by their path in the bundle (`datasets/clickpulse/x.yaml`)."""

    configs: dict[str, dict] = field(default_factory=dict)
    generated: list[str] = field(default_factory=list)   # tables given a generated dataset
    missing_tables: list[str] = field(default_factory=list)  # sql/metrics/*.sql without a table yet

    def of_kind(self, kind: str) -> dict[str, dict]:
        return {k: v for k, v in self.configs.items() if k.startswith(kind + "/")}

    @property
    def database(self) -> dict:
        return self.configs[DATABASE_FILE]

    def zip(self) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, cfg in sorted(self.configs.items()):
                z.writestr(f"clickpulse_assets/{name}", dump_yaml(cfg))
        return buf.getvalue()


def read_assets(directory: Path | None = None) -> dict[str, dict]:
    directory = directory or ASSETS_DIR
    if not (directory / "metadata.yaml").exists():
        raise ClickpulseError(f"{_rel(directory / 'metadata.yaml')} is missing: the assets directory is incomplete")
    out = {}
    for path in sorted(directory.rglob("*.yaml")):
        try:
            # libyaml's loader: sync reads ~100 asset files, and the pure-Python one took seconds
            cfg = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f":{mark.line + 1}" if mark else ""
            raise ClickpulseError(f"{_rel(path)}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
        if not isinstance(cfg, dict):
            raise ClickpulseError(f"{_rel(path)}: expected a mapping (a Superset export YAML)")
        out[str(path.relative_to(directory))] = cfg
    return out


def sqlalchemy_uri(settings: Settings) -> str:
    """The analytics database as Superset sees it, with Superset's password placeholder."""
    user = quote(settings.postgres_reader_user, safe="")
    return (f"postgresql+psycopg2://{user}:XXXXXXXXXX@{settings.postgres_host}:{settings.postgres_port}/"
            f"{quote(settings.postgres_db, safe='')}")


def funnel_values(funnels_file: Path | None = None) -> list[str]:
    path = funnels_file or SQL_DIR / "funnels.yaml"
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ClickpulseError(f"{_rel(path)}: cannot read the funnel definitions ({e})") from None
    rows = []
    for f in doc.get("funnels") or []:
        steps = f.get("steps") or []
        for k, step in enumerate(steps, start=1):
            name = str(f["name"]).replace("'", "''")
            step_name = str(step["name"]).replace("'", "''")
            rows.append(f"('{name}', {k}, '{step_name}', {len(steps)})")
    if not rows:
        raise ClickpulseError(f"{_rel(path)}: no funnels defined; the Funnels dashboard needs at least one")
    return rows


def render_funnel_sql(sql: str, rows: list[str]) -> str:
    def repl(m: re.Match) -> str:
        indent = m.group(2)
        pad = indent + " " * len("VALUES ")
        return m.group(1) + indent + "VALUES " + (",\n" + pad).join(rows) + m.group(3)

    return FUNNEL_VALUES.sub(repl, sql)


def metric_names(metrics_dir: Path | None = None) -> list[str]:
    """Metric tables named by sql/metrics/<table>.sql."""
    return sorted(p.stem for p in (metrics_dir or METRICS_DIR).glob("*.sql"))


def relations(conn) -> dict[str, list[tuple[str, str]]]:
    """Every table and view of the public schema with its columns and types (upper case,
    as Superset names them)."""
    rows = conn.execute("""
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
        ORDER BY c.relname, a.attnum""").fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for rel, col, typ in rows:
        out.setdefault(rel, []).append((col, typ.upper()))
    return out


def primary_key(conn, table: str) -> list[str]:
    rows = conn.execute("""
        SELECT a.attname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE n.nspname = 'public' AND c.relname = %s AND i.indisprimary
        ORDER BY k.ord""", (table,)).fetchall()
    return [r[0] for r in rows]


def render_for_probe(sql: str) -> str:
    """A virtual dataset's SQL as Superset renders it for a query with no filters and no
    columns (Jinja templates pick their branch from those), for reading its columns."""
    if "{%" not in sql and "{{" not in sql:
        return sql

    empty = {"filter": [], "columns": [], "groupby": [], "metrics": [], "from_dttm": None, "to_dttm": None,
             "filter_values": lambda *a, **k: [], "get_filters": lambda *a, **k: [],
             "url_param": lambda *a, **k: None, "current_username": lambda *a, **k: None,
             "current_user_id": lambda *a, **k: None}
    return SandboxedEnvironment().from_string(sql).render(**empty)


def query_columns(conn, sql: str, where: str) -> list[tuple[str, str]]:
    try:
        cur = conn.execute(f"SELECT * FROM ({render_for_probe(sql)}) AS virtual_table LIMIT 0")
    except Exception as e:  # noqa: BLE001 - any database or template error names the file to fix
        conn.rollback()
        raise ClickpulseError(f"{where}: its SQL does not run on the analytics database: "
                              f"{str(e).strip().splitlines()[0]}") from None
    return [(d.name, PG_TYPES.get(d.type_code, "TEXT")) for d in cur.description]


def is_time(typ: str) -> bool:
    return typ.startswith(TIME_TYPES)


def superset_type(typ: str) -> str:
    """The type Superset is told a column has. A DATE column is declared a TIMESTAMP:
    Superset truncates a time range's end to a date for a DATE column (its PostgreSQL
    spec renders `day < TO_DATE('<today>')`), so the dashboards' "... : now" would leave
    out today's row; compared as a timestamp, `day < '<today> 13:05'` keeps it, and
    PostgreSQL compares a date with a timestamp on the column's own index."""
    return "TIMESTAMP WITHOUT TIME ZONE" if typ == "DATE" else typ


def merge_columns(declared: list[dict] | None, actual: list[tuple[str, str]]) -> list[dict]:
    """The database decides which columns exist and their types (see superset_type); the
    YAML keeps its descriptions, labels and flags for the columns it names."""
    by_name = {c["column_name"]: c for c in declared or []}
    out = []
    for name, typ in ((n, superset_type(t)) for n, t in actual):
        col = {
            "column_name": name, "verbose_name": None, "is_dttm": is_time(typ), "is_active": True, "type": typ,
            "advanced_data_type": None, "groupby": True, "filterable": True, "expression": None,
            "description": None, "python_date_format": None, "extra": {},
        }
        col.update({k: v for k, v in by_name.get(name, {}).items() if k not in ("column_name", "type")})
        col["type"] = typ
        out.append(col)
    # calculated columns (with an expression) exist only in Superset
    out += [c for c in declared or [] if c.get("expression") and c["column_name"] not in dict(actual)]
    return out


def generated_dataset(table: str, columns: list[tuple[str, str]], pk: list[str], database_uuid: str) -> dict:
    times = [c for c, t in columns if is_time(t)]
    dttm = next((c for c in pk if c in times), times[0] if times else None)
    return {
        "table_name": table, "main_dttm_col": dttm,
        "description": f"Generated by `clickpulse dashboards sync` for the table {table} "
                       "(no hand-written YAML in superset/assets/datasets/).",
        "default_endpoint": None, "offset": 0, "cache_timeout": None, "catalog": None, "schema": "public",
        "sql": None, "params": None, "template_params": None, "filter_select_enabled": True,
        "fetch_values_predicate": None, "extra": None, "normalize_columns": False, "always_filter_main_dttm": False,
        "uuid": str(uuid.uuid5(GENERATED_NAMESPACE, f"clickpulse/dataset/{table}")),
        "metrics": [{"metric_name": "count", "verbose_name": "Rows", "metric_type": "count",
                     "expression": "COUNT(*)", "description": None, "d3format": None, "currency": None,
                     "extra": {}, "warning_text": None}],
        "columns": merge_columns(None, columns), "version": "1.0.0", "database_uuid": database_uuid,
    }


def build(settings: Settings, conn, directory: Path | None = None, funnels_file: Path | None = None,
          metrics_dir: Path | None = None) -> Bundle:
    """The bundle to import, from the YAML files, the settings and the database behind
    `conn` (any role that can read the metric tables)."""
    directory = directory or ASSETS_DIR
    configs = read_assets(directory)
    if DATABASE_FILE not in configs:
        raise ClickpulseError(f"{_rel(directory / DATABASE_FILE)} is missing")
    database = configs[DATABASE_FILE]
    database["sqlalchemy_uri"] = sqlalchemy_uri(settings)
    database.pop("password", None)
    db_uuid = str(database["uuid"])

    rels = relations(conn)
    funnel_rows = None
    seen_tables = set()
    for name, cfg in configs.items():
        if not name.startswith("datasets/"):
            continue
        where = _rel(directory / name)
        if str(cfg.get("database_uuid")) != db_uuid:
            raise ClickpulseError(f"{where}: database_uuid must be the uuid of {DATABASE_FILE} ({db_uuid})")
        table = cfg["table_name"]
        seen_tables.add(table)
        if cfg.get("sql"):
            if FUNNEL_VALUES.search(cfg["sql"]):
                funnel_rows = funnel_rows or funnel_values(funnels_file)
                cfg["sql"] = render_funnel_sql(cfg["sql"], funnel_rows)
            actual = query_columns(conn, cfg["sql"], where)
        else:
            if table not in rels:
                raise ClickpulseError(f"{where}: table {table} does not exist in database {settings.postgres_db}; "
                                      "run `clickpulse db migrate` (or remove the YAML)")
            actual = rels[table]
        cfg["columns"] = merge_columns(cfg.get("columns"), actual)

    bundle = Bundle(configs=configs)
    metric_tables = set(metric_names(metrics_dir))
    for table in sorted(set(rels) | metric_tables):
        if table in seen_tables or table.startswith(INTERNAL_PREFIXES):
            continue
        if table not in rels:
            bundle.missing_tables.append(table)
            continue
        cfg = generated_dataset(table, rels[table], primary_key(conn, table), db_uuid)
        bundle.configs[f"datasets/clickpulse/{table}.yaml"] = cfg
        bundle.generated.append(table)
    return bundle


def scaffold_dataset(name: str, columns: list[tuple[str, str]], key: list[str], directory: Path,
                     metric: tuple[str, str] = ("events", "CAST(SUM(events) AS BIGINT)")) -> Path:
    """The dataset YAML of a new metric table (`clickpulse metrics new`), with the uuid that
    `dashboards sync` would give the table without one, so nothing is duplicated."""
    path = directory / "datasets" / "clickpulse" / f"{name}.yaml"
    if path.exists():
        raise ClickpulseError(f"{path} already exists")
    database = yaml.safe_load((directory / DATABASE_FILE).read_text())
    ds = generated_dataset(name, columns, key, str(database["uuid"]))
    ds["description"] = f"sql/metrics/{name}.sql: one row per key ({', '.join(key)}); edit with the metric."
    metric_name, expression = metric
    ds["metrics"] = [{"metric_name": metric_name, "verbose_name": None, "metric_type": None, "expression": expression,
                      "description": None, "d3format": ",d", "currency": None, "extra": {}, "warning_text": None}]
    path.write_text(dump_yaml(ds))
    return path
