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
from contextlib import contextmanager
from pathlib import Path

from ..alerts.stream import COLUMNS as ALERT_COLUMNS
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


@contextmanager
def _recorded_job(records: list[dict], settings: Settings):
    """A local table environment whose source is these records, with the shared views."""
    with tempfile.TemporaryDirectory(prefix="clickpulse-records-") as tmp:
        path = Path(tmp) / "records.jsonl"
        write_records(records, path)
        t_env = pipeline.create_table_env(settings, remote=False, parallelism=1, per_record_watermarks=True)
        # a failure must surface as an error here, not as an endless restart loop
        t_env.get_config().set("restart-strategy.type", "none")
        pipeline.create_recorded_source(t_env, settings, path)
        pipeline.create_views(t_env, settings)
        yield t_env


def _drain(t_env, query: str) -> str:
    """Run the query to its end; its changelog as lines of `kind<TAB>metric<TAB>values`."""
    # lazy, like pipeline.create_table_env: PyFlink's JVM gateway is heavy and only recorded runs need it
    from pyflink.java_gateway import get_gateway

    result = t_env.execute_sql(query)
    return str(get_gateway().jvm.dev.clickpulse.flink.ChangelogDrain.drain(result._j_table_result))


def run_recorded(records: list[dict], settings: Settings, metrics: list[Metric] | None = None,
                 ) -> dict[str, list[dict]]:
    """The rows each metric table would hold after these records, in arrival order, went
    through the job (at the end of input every window closes, as if time moved on)."""
    metrics = pipeline.enabled(metrics if metrics is not None else discover(), settings)
    with _recorded_job(records, settings) as t_env:
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
        changelog = _drain(t_env, query)
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


def run_recorded_alerts(records: list[dict], settings: Settings, rules: list, funnels: list) -> list[dict]:
    """The alert transitions the job would write for these records, in the order it writes
    them, for the minutes the records themselves close.

    At the end of a recorded input Flink closes every window, as if event time jumped to
    the end of time; a rule would then see every site fall silent. Only minutes that end by
    the input's own watermark (its newest event time minus the delay) are judged here, as
    the deployed job judges them while event time moves on."""
    events = [json.loads(r["payload"]) for r in records if r["payload"].lstrip().startswith("{")]
    times = [e["ts"] for e in events if isinstance(e, dict) and type(e.get("ts")) is int]
    closed_by = max(times, default=0) - settings.watermark_delay_ms
    names = [n for n, _ in ALERT_COLUMNS]
    types = dict(ALERT_COLUMNS)
    with _recorded_job(records, settings) as t_env:
        pipeline.create_alert_views(t_env, rules, funnels)
        values = ", ".join(f"CAST(`{n}` AS STRING)" for n in names)
        query = (f"SELECT CAST('alerts' AS STRING) AS metric, JSON_ARRAY({values} NULL ON NULL) AS vals "
                 f"FROM ({pipeline.alert_query(rules, funnels)})")
        changelog = _drain(t_env, query)
    out = []
    for line in changelog.splitlines():
        kind, _, vals = line.split("\t", 2)
        assert kind == "+I", f"alert transitions are appended, got {kind}"
        row = {n: (v if n == "channels" else _convert(v, types[n])) for n, v in zip(names, json.loads(vals))}
        # an ARRAY<STRING> cast to STRING prints as [a, b]
        row["channels"] = [c.strip() for c in row["channels"].strip("[]").split(",") if c.strip()]
        if row["window_end"].timestamp() * 1000 <= closed_by:
            out.append(row)
    return out
