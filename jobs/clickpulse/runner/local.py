"""Run metrics on recorded Kafka records in a local mini-cluster and return the tables
they would write: the metric tests' harness (no Kafka, no cluster, no database).

Every metric's changelog is collected through one job and applied the way the JDBC upsert
sink applies it (insert/update-after upsert by key, delete removes), so the result is
exactly what the tables would hold.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path

from ..settings import Settings
from . import pipeline
from .metric import Metric, discover


def write_records(records: list[dict], path: Path) -> None:
    """records: {"payload": str, "kafka_ts_ms": int, "kafka_partition": int, "kafka_offset": int}."""
    with path.open("w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def _convert(value: str | None, type_: str):
    if value is None:
        return None
    t = type_.split("(")[0].strip()
    if t in ("BIGINT", "INT", "INTEGER", "SMALLINT", "TINYINT"):
        return int(value)
    if t in ("DOUBLE", "FLOAT", "DECIMAL"):
        return float(value)
    if t == "BOOLEAN":
        return value.upper() == "TRUE"
    if t == "DATE":
        return dt.date.fromisoformat(value)
    if t.startswith("TIMESTAMP"):
        # TIMESTAMP and TIMESTAMP_LTZ print in table.local-time-zone, which is UTC.
        return dt.datetime.fromisoformat(value.replace(" ", "T")).replace(tzinfo=dt.timezone.utc)
    return value


def run_recorded(records: list[dict], settings: Settings, metrics: list[Metric] | None = None,
                 ) -> dict[str, list[dict]]:
    """The rows each metric table would hold after these records, in arrival order, went
    through the job (at the end of input every window closes, as if time moved on)."""
    metrics = pipeline.enabled(metrics if metrics is not None else discover(), settings)
    with tempfile.TemporaryDirectory(prefix="clickpulse-records-") as tmp:
        path = Path(tmp) / "records.jsonl"
        write_records(records, path)
        t_env = pipeline.create_table_env(settings, remote=False, parallelism=1, per_record_watermarks=True)
        # a failure must surface as an error here, not as an endless restart loop
        t_env.get_config().set("restart-strategy.type", "none")
        pipeline.create_recorded_source(t_env, settings, path)
        pipeline.create_views(t_env, settings)
        columns = {m.name: pipeline.resolved_columns(t_env, m) for m in metrics}
        branches = []
        for m in metrics:
            # One string column for every metric, so all changelogs fit through one collect().
            values = ", ".join(f"CAST(`{c.name}` AS STRING)" for c in columns[m.name])
            branches.append(f"SELECT CAST('{m.name}' AS STRING) AS metric, "
                            f"JSON_ARRAY({values} NULL ON NULL) AS vals FROM ({m.sql})")
        query = "\nUNION ALL\n".join(branches)
        tables: dict[str, dict[tuple, dict]] = {m.name: {} for m in metrics}
        by_name = {m.name: m for m in metrics}
        # lazy, like pipeline.create_table_env: PyFlink's JVM gateway is heavy and only recorded runs need it
        from pyflink.java_gateway import get_gateway

        result = t_env.execute_sql(query)
        changelog = get_gateway().jvm.dev.clickpulse.flink.ChangelogDrain.drain(result._j_table_result)
        for line in changelog.splitlines():
            kind, name, vals = line.split("\t", 2)
            cols = columns[name]
            rec = {c.name: _convert(v, c.type) for c, v in zip(cols, json.loads(vals))}
            key = tuple(rec[k] for k in by_name[name].key)
            if kind in ("+I", "+U"):
                tables[name][key] = rec
            elif kind == "-D":
                tables[name].pop(key, None)
    return {name: sorted(rows.values(), key=lambda r: tuple(str(r[k]) for k in by_name[name].key))
            for name, rows in tables.items()}
