"""Assemble the metric suite of the events topic into one Flink statement set.

The same views and metric SELECTs run on two kinds of source (flink-playgrounds'
SpendReport.report() style): the Kafka topic in the deployed job, and a file of recorded
Kafka records in tests, so a metric's numbers can be checked without Kafka or a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from urllib.parse import urlparse

from ..alerts import stream as alert_stream
from ..alerts.rules import Rule
from ..errors import ClickpulseError
from ..jars import connector_jars
from ..paths import CONNECTORS_DIR, FUNNEL_VIEWS_FILE, RETENTION_VIEWS_FILE, VIEWS_FILE
from ..settings import Settings
from .jars import event_parser_jar
from .metric import Metric
from .properties import columns_sql, load_properties
from .templates import render_template

def _template(name: str | Path, **values) -> str:
    path = CONNECTORS_DIR / name
    try:
        return Template(path.read_text()).substitute(**{k: str(v) for k, v in values.items()})
    except KeyError as e:
        raise ClickpulseError(f"{path}: placeholder ${{{e.args[0]}}} has no value") from None


def _statements(sql: str) -> list[str]:
    """Split a file of statements on `;` at line ends (the views never contain one inside)."""
    out, cur = [], []
    for line in sql.splitlines():
        cur.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(cur).rstrip().rstrip(";"))
            cur = []
    out.append("\n".join(cur))
    code = lambda s: [l for l in s.splitlines() if l.strip() and not l.strip().startswith("--")]  # noqa: E731
    return [s for s in out if code(s)]


def create_table_env(settings: Settings, *, remote: bool, rest_url: str | None = None,
                     parallelism: int | None = None, savepoint: str | None = None,
                     allow_non_restored_state: bool = False, per_record_watermarks: bool = False):
    from pyflink.table import EnvironmentSettings, TableEnvironment

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    # The event format and the connectors travel with the job, so any Flink 2.0 session
    # cluster can run it without jars installed in its lib/.
    jars = [event_parser_jar(), *connector_jars()]
    conf.set("pipeline.jars", ";".join(p.resolve().as_uri() for p in jars))
    conf.set("pipeline.name", settings.job_name)
    conf.set("table.local-time-zone", "UTC")
    conf.set("table.exec.source.idle-timeout", f"{settings.idle_timeout_ms} ms")
    # Bounds the deduplication interval; the per-minute counts and the session and funnel
    # aggregates that must outlive it carry STATE_TTL hints in their files.
    conf.set("table.exec.state.ttl", f"{settings.dedup_ttl_ms} ms")
    # Every metric reads the same deduplicated view. Without this the planner pushes each
    # metric's column selection below the view, the copies stop looking alike, and every
    # metric gets its own deduplication (its own shuffle of all events and its own state).
    conf.set("table.optimizer.reuse-optimize-block-with-digest-enabled", "true")
    # SQL operators never hold on to input rows, so chained operators can share them
    # instead of each getting a deep copy (the source feeds several).
    conf.set("pipeline.object-reuse", "true")
    if settings.minibatch_ms > 0:
        # With windows in the job the bundles follow event time (the watermark crossing each
        # interval), so a bundle closes when the events of its interval are in.
        conf.set("table.exec.mini-batch.enabled", "true")
        conf.set("table.exec.mini-batch.allow-latency", f"{settings.minibatch_ms} ms")
        conf.set("table.exec.mini-batch.size", "20000")
    if settings.state_backend not in ("rocksdb", "hashmap"):
        raise ClickpulseError(f"CLICKPULSE_STATE_BACKEND={settings.state_backend!r}: choose rocksdb or hashmap")
    conf.set("state.backend.type", settings.state_backend)
    conf.set("execution.checkpointing.incremental", "true" if settings.state_backend == "rocksdb" else "false")
    conf.set("execution.checkpointing.interval", f"{settings.checkpoint_interval_ms} ms")
    conf.set("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set("execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION")
    conf.set("parallelism.default", str(parallelism or settings.job_parallelism))
    if per_record_watermarks:
        # Tests: a watermark after every record makes "late" exact and repeatable; the
        # deployed job emits them every 200 ms, which is much cheaper.
        conf.set("pipeline.auto-watermark-interval", "0 ms")
    if remote:
        u = urlparse(rest_url or settings.flink_rest_url)
        conf.set("execution.target", "remote")
        conf.set("rest.address", u.hostname or "127.0.0.1")
        conf.set("rest.port", str(u.port or (443 if u.scheme == "https" else 8081)))
        if u.scheme == "https":
            conf.set("security.ssl.rest.enabled", "true")
    if savepoint:
        conf.set("execution.state-recovery.path", savepoint)
        if allow_non_restored_state:
            conf.set("execution.state-recovery.ignore-unclaimed-state", "true")
    return t_env


def interval_literal(ms: int) -> str:
    """'d hh:mm:ss.fff' for a DAY TO SECOND(3) literal (Flink SQL has no MILLISECOND unit)."""
    d, rem = divmod(ms, 86_400_000)
    h, rem = divmod(rem, 3_600_000)
    m, rem = divmod(rem, 60_000)
    sec, milli = divmod(rem, 1000)
    return f"{d} {h:02d}:{m:02d}:{sec:02d}.{milli:03d}"


def event_columns(envelope: bool) -> str:
    """The source table's physical columns, from the event format's own list
    (connectors/event-parser: EventColumn.java); needs the table environment's JVM, which
    `create_table_env` gives the format's jar."""
    from pyflink.java_gateway import get_gateway  # PyFlink's JVM: started by the table environment

    return str(get_gateway().jvm.dev.clickpulse.flink.EventColumn.ddl(envelope))


def create_kafka_source(t_env, settings: Settings, group_id: str | None = None, start_at_ms: int | None = None,
                        judged: bool = True) -> None:
    """The events topic as `raw_events`; `judged=False` leaves out the judging of lateness
    and copies (is_late stays NULL): only the throughput bench's ceiling reads it so."""
    connector = ("'connector' = 'clickpulse-judged',\n  'inner' = 'kafka',\n"
                 f"  'late-after-ms' = '{settings.watermark_delay_ms}'," if judged else "'connector' = 'kafka',")
    if start_at_ms is None:
        startup = "'scan.startup.mode' = 'group-offsets',\n  'properties.auto.offset.reset' = 'earliest',"
    else:
        startup = f"'scan.startup.mode' = 'timestamp',\n  'scan.startup.timestamp-millis' = '{int(start_at_ms)}',"
    t_env.execute_sql(_template(
        "kafka_source.sql", event_columns=event_columns(envelope=False), connector=connector,
        watermark_delay=interval_literal(settings.watermark_delay_ms), topic=settings.events_topic,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers, group_id=group_id or settings.job_name,
        max_future_ms=settings.max_future_ms, startup=startup))


def create_recorded_source(t_env, settings: Settings, path: Path) -> None:
    t_env.execute_sql(_template(
        "recorded_source.sql", event_columns=event_columns(envelope=True),
        watermark_delay=interval_literal(settings.watermark_delay_ms), watermark_delay_ms=settings.watermark_delay_ms,
        path=path,
        max_future_ms=settings.max_future_ms))


def create_views(t_env, settings: Settings) -> None:
    """sql/views.sql (with the promoted properties of sql/properties.yaml), then the funnels'
    view rendered from sql/funnels.yaml, then the retention tables' shared stages."""
    path = VIEWS_FILE
    files = [(path, _template(path, watermark_delay_ms=settings.watermark_delay_ms,
                              promoted_columns=columns_sql(load_properties()))),
             (FUNNEL_VIEWS_FILE, render_template(FUNNEL_VIEWS_FILE, FUNNEL_VIEWS_FILE.read_text())),
             (RETENTION_VIEWS_FILE, RETENTION_VIEWS_FILE.read_text())]
    for path, text in files:
        for stmt in _statements(text):
            try:
                t_env.execute_sql(stmt)
            except Exception as e:  # noqa: BLE001 - the planner's message, with the file
                raise ClickpulseError(f"{path}: {_planner_message(str(e))}") from None


def enabled(metrics: list[Metric], settings: Settings) -> list[Metric]:
    """Drop the metrics whose `-- switch:` setting is false."""
    from ..settings import field_for_env

    out = []
    for m in metrics:
        if m.switch:
            field = field_for_env(m.switch)
            if field is None:
                raise ClickpulseError(f"{m.rel}:1: switch {m.switch} is not a setting (see .env.example)")
            if not getattr(settings, field):
                continue
        out.append(m)
    return out


@dataclass
class Column:
    name: str
    type: str


def resolved_columns(t_env, metric: Metric) -> list[Column]:
    try:
        schema = t_env.sql_query(metric.sql)._j_table.getResolvedSchema()
    except Exception as e:  # noqa: BLE001 - the planner's message, mapped to file:line
        raise ClickpulseError(planner_error(metric, e)) from None
    cols = []
    for c in schema.getColumns():
        t = str(c.getDataType().toString())
        t = t.replace(" NOT NULL", "").replace(" *ROWTIME*", "").replace(" *PROCTIME*", "")
        cols.append(Column(str(c.getName()), t))
    names = {c.name for c in cols}
    missing = [k for k in metric.key if k not in names]
    if missing:
        raise ClickpulseError(f"{metric.rel}:1: key column(s) {', '.join(missing)} are not in the SELECT's columns")
    return cols


_POS = re.compile(r"line (\d+), column (\d+)")
_MARKERS = ("org.apache.flink.table.api.ValidationException: ", "org.apache.flink.table.api.SqlParserException: ",
            "org.apache.calcite.runtime.CalciteContextException: ", "SqlValidatorException: ",
            "org.apache.flink.sql.parser.impl.ParseException: ", "org.apache.flink.table.api.TableException: ")


def _planner_message(text: str) -> str:
    msg = text
    for marker in _MARKERS:
        if marker in msg:
            msg = msg.rsplit(marker, 1)[1]
    msg = msg.strip().splitlines()[0] if msg.strip() else text
    msg = re.sub(r"From line \d+, column \d+ to line \d+, column \d+: ", "", msg)
    return msg.strip()


def planner_error(metric: Metric, exc: Exception) -> str:
    """`file:line: message` from a planner exception (its line numbers match the file's,
    because the header lines are blanked, not removed)."""
    text = str(exc)
    m = _POS.search(text)
    line = int(m.group(1)) if m else 1
    msg = _planner_message(text).replace("SQL parse failed. ", "")
    msg = re.sub(r"\s*at line \d+, column (\d+)\.?", r" (column \1)", msg).strip(" :.,")
    return f"{metric.rel}:{line}: {msg}"


def create_jdbc_sink(t_env, settings: Settings, metric: Metric, columns: list[Column]) -> str:
    settings.require("postgres_writer_password")
    lines = [f"  `{c.name}` {c.type}{' NOT NULL' if c.name in metric.key else ''}" for c in columns]
    sink = f"{metric.name}__sink"
    t_env.execute_sql(_template(
        "jdbc_sink.sql", sink=sink, columns=",\n".join(lines), key=", ".join(f"`{k}`" for k in metric.key),
        jdbc_url=settings.jdbc_url(), table=metric.table, username=settings.postgres_writer_user,
        password=settings.postgres_writer_password, flush_rows=settings.jdbc_flush_rows,
        flush_interval_ms=settings.jdbc_flush_interval_ms,
    ))
    return sink


def create_dead_letter_sink(t_env, settings: Settings) -> None:
    t_env.execute_sql(_template("dead_letter_sink.sql", dead_letter_topic=settings.dead_letter_topic,
                                kafka_bootstrap_servers=settings.kafka_bootstrap_servers))


def create_alert_views(t_env, rules: list[Rule], funnels: list) -> None:
    """The views the alert rules share (after sql/views.sql); nothing when there are no rules
    in the stream (pipeline rules are judged by `clickpulse alerts watch`)."""
    rules = [r for r in rules if r.in_stream]
    if not rules:
        return
    for stmt in alert_stream.views(rules, funnels):
        try:
            t_env.execute_sql(stmt)
        except Exception as e:  # noqa: BLE001 - the planner's message
            raise ClickpulseError(f"alert views (clickpulse.alerts.stream): {_planner_message(str(e))}") from None


def alert_query(rules: list[Rule], funnels: list) -> str:
    return alert_stream.all_transitions(rules, funnels)


def rule_error(t_env, rule: Rule, rules: list[Rule], funnels: list) -> str | None:
    """`file:1: message` when the planner rejects a rule's SQL, else None."""
    try:
        t_env.sql_query(alert_stream.transitions(rule, [r for r in rules if r.in_stream], funnels))
    except Exception as e:  # noqa: BLE001 - the planner's message, with the rule's file
        return f"{rule.rel}:1: {_planner_message(str(e))}"
    return None


def _add_alert_sinks(t_env, stmt_set, settings: Settings, rules: list[Rule], funnels: list) -> None:
    """Every transition to the `alerts` table (JDBC upsert by alert_id: a resolve updates the
    fired row) and to the alerts topic (docs/design.md, *Alerts*)."""
    settings.require("postgres_writer_password")
    cols = alert_stream.COLUMNS
    table_cols = [(n, "STRING" if n == "channels" else t) for n, t in cols]
    lines = [f"  `{n}` {t}{' NOT NULL' if n == 'alert_id' else ''}" for n, t in table_cols]
    t_env.execute_sql(_template(
        "jdbc_sink.sql", sink="alerts__sink", columns=",\n".join(lines), key="`alert_id`",
        jdbc_url=settings.jdbc_url(), table="alerts", username=settings.postgres_writer_user,
        password=settings.postgres_writer_password, flush_rows=settings.jdbc_flush_rows,
        flush_interval_ms=settings.jdbc_flush_interval_ms))
    ltz = [(n, "TIMESTAMP_LTZ(3)" if t.startswith("TIMESTAMP") else t) for n, t in cols]
    t_env.execute_sql(_template(
        "alerts_sink.sql", columns=",\n".join(f"  `{n}` {t}" for n, t in ltz), alerts_topic=settings.alerts_topic,
        kafka_bootstrap_servers=settings.kafka_bootstrap_servers))
    t_env.create_temporary_view("alert_transitions", t_env.sql_query(alert_query(rules, funnels)))
    names = ", ".join("`channels_json`" if n == "channels" else f"`{n}`" for n, _ in cols)
    stmt_set.add_insert_sql(f"INSERT INTO `alerts__sink` SELECT {names} FROM alert_transitions")
    casts = ", ".join(f"CAST(`{n}` AS {t})" if t == "TIMESTAMP_LTZ(3)" else f"`{n}`" for n, t in ltz)
    stmt_set.add_insert_sql(f"INSERT INTO alerts_topic SELECT {casts} FROM alert_transitions")


def build_statement_set(t_env, settings: Settings, metrics: list[Metric], dead_letters: bool = True,
                        rules: list[Rule] | None = None, funnels: list | None = None):
    """One INSERT per metric (and the dead-letter copy, and the alert transitions) in one
    statement set: the planner shares the source and the parsed views between them, so
    Kafka is read once."""
    stmt_set = t_env.create_statement_set()
    if dead_letters:
        create_dead_letter_sink(t_env, settings)
        stmt_set.add_insert_sql(
            "INSERT INTO dead_letters SELECT payload, reason, site_id, kafka_ts, kafka_partition, kafka_offset, "
            "'flink' FROM invalid_events_stream")
    in_stream = [r for r in rules or [] if r.in_stream]
    if in_stream:
        # before the metrics, so that a windowed metric is still planned last (windowed_last)
        _add_alert_sinks(t_env, stmt_set, settings, in_stream, funnels or [])
    for m in windowed_last(metrics):
        cols = resolved_columns(t_env, m)
        sink = create_jdbc_sink(t_env, settings, m, cols)
        stmt_set.add_insert_sql(f"INSERT INTO `{sink}` SELECT {', '.join(f'`{c.name}`' for c in cols)} FROM ({m.sql})")
    return stmt_set


_WINDOW_TVF = re.compile(r"\bTABLE\s*\(\s*(TUMBLE|HOP|CUMULATE|SESSION)\s*\(", re.I)


def windowed_last(metrics: list[Metric]) -> list[Metric]:
    """The metrics in an order that ends with one on event-time windows.

    Flink 2.0's planner gives the shared source the mini-batch mode of the statement it
    plans last (StreamCommonSubGraphBasedOptimizer overwrites, rather than merges, the
    mode each statement infers for the blocks they share). A statement without windows
    infers processing-time mini-batches, whose assigner drops the source's watermarks:
    windows would then close on the wall clock instead of event time. Planning a windowed
    metric last keeps the watermarks (event-time mini-batches)."""
    windowed = [m for m in metrics if _WINDOW_TVF.search(m.sql)]
    return [m for m in metrics if m not in windowed] + windowed
