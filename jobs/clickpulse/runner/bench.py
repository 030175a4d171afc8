"""`clickpulse bench pipeline`: how many events per second the metric suite processes, and
where the time goes.

One backlog is produced first, into a topic of its own, by `clickpulse generate` as fast as
it can (event time from yesterday 08:00 UTC), followed by a flush tick so that every window
closes at its end. Then, one after the other, separate jobs read that same backlog from the
beginning (own job name and consumer group; the metric tables of a database of their own):

- ceiling: the Kafka source and the event format, nothing else (records discarded);
- shared: the shared stages (parse, lateness and copies, the views), results discarded;
- one job per metric: the shared stages and that metric into its table;
- suite: every metric, as deployed (at each parallelism asked for).

For each it samples the source's record counter and the CPU time of the TaskManager,
Kafka and PostgreSQL processes, from the first record read until the job is quiet (every
record read, every window of the backlog written). events/s = records / that time;
µs/event = CPU seconds / records, which other load on the machine hardly changes; a
stage's cost is its job's µs/event minus the shared stages'.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import ROOT, state_dir
from ..reports import Plot, new_figure
from ..settings import Settings
from ..stack import postgres
from ..stack.kafka import admin, records_in
from . import pipeline
from .deploy import Flink
from .metric import Metric, discover
from .ticker import flush

POLL_S = 0.5
SUITE = "whole suite"
# what each kind of run reads and writes, for the report
KINDS = {
    "ceiling": "Kafka source and the event format only, records discarded",
    "shared": "parse, lateness and copies judged at the source, the shared views; results discarded",
    "metrics": "the shared stages and the metric(s) into PostgreSQL",
}
QUIET_S = 4.0  # no record moved anywhere in the job for this long: done


@dataclass
class Variant:
    """One job over the backlog."""

    label: str
    kind: str              # ceiling | shared | metrics
    metrics: list[str]     # for kind == metrics
    parallelism: int


@dataclass
class Run:
    label: str
    kind: str
    parallelism: int
    records: int
    read_s: float
    done_s: float
    read_rate: int         # records/s while the source read the backlog
    rate: int              # records/s from the first record to every window written
    tm_us: float           # TaskManager CPU µs per record
    kafka_us: float
    pg_us: float
    samples: list = field(default_factory=list)   # (seconds since the first record, records read)


@dataclass
class Backlog:
    topic: str
    dlq: str
    database: str
    records: int           # events produced plus the flush ticks
    produce_s: float


# ------------------------------------------------------------------------------- processes

CLK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK
    return total


def _pids(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


@dataclass
class Processes:
    """The local stack's processes whose CPU time the bench reads (empty lists for a
    remote stack: then only events/s are reported)."""

    taskmanagers: list[int]
    kafka: list[int]
    postgres: list[int]

    @classmethod
    def local(cls) -> Processes:
        home = str(state_dir())
        tms = [p for p in _pids("org.apache.flink.runtime.taskexecutor.TaskManagerRunner") if _in_home(p, home)]
        kafka = [p for p in _pids("kafka.Kafka") if _in_home(p, home)]
        pg = []
        pidfile = postgres.data_dir() / "postmaster.pid"
        if pidfile.exists():
            master = int(pidfile.read_text().split()[0])
            pg = [master, *_children(master)]
        return cls(tms, kafka, pg)

    def cpu(self) -> tuple[float, float, float]:
        # PostgreSQL's backends come and go (the sinks' connections): read them each time
        pg = self.postgres[:1] + (_children(self.postgres[0]) if self.postgres else [])
        return _cpu_seconds(self.taskmanagers), _cpu_seconds(self.kafka), _cpu_seconds(pg)


def _in_home(pid: int, home: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return False
    return home in cmdline


# ------------------------------------------------------------------------------- backlog

def _cli(args: list[str], env: dict, timeout: float = 3600) -> str:
    exe = Path(sys.executable).parent / "clickpulse"
    res = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if res.returncode != 0:
        raise ClickpulseError(f"`clickpulse {' '.join(args)}` failed: {(res.stdout + res.stderr).strip()[-500:]}")
    return res.stdout + res.stderr


def bench_settings(settings: Settings, backlog: Backlog) -> Settings:
    return settings.model_copy(update={"events_topic": backlog.topic, "dead_letter_topic": backlog.dlq,
                                       "postgres_db": backlog.database})


def produce(settings: Settings, events: int, workers: int, raw_events: bool) -> Backlog:
    """The backlog, a flush tick after it, and a migrated database for the tables."""
    tag = uuid.uuid4().hex[:8]
    backlog = Backlog(f"bench-{tag}", f"bench-{tag}-dlq", f"clickpulse_bench_{tag}", 0, 0.0)
    env = {**os.environ, "CLICKPULSE_EVENTS_TOPIC": backlog.topic, "CLICKPULSE_DEAD_LETTER_TOPIC": backlog.dlq,
           "POSTGRES_DB": backlog.database, "CLICKPULSE_RAW_EVENTS": str(raw_events).lower()}
    _cli(["stack", "topics"], env)
    _cli(["db", "migrate"], env)
    # Event time from yesterday 08:00 UTC: the flush moves event time only up to about now
    # (events more than CLICKPULSE_MAX_FUTURE_MS ahead are invalid), so the day of the
    # traffic must be over for its cumulating window to close.
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(8, 0), dt.timezone.utc).isoformat()
    t0 = time.monotonic()
    _cli(["generate", "--topic", backlog.topic, "--events", str(events), "--speed", "0", "--rate", "2000",
          "--start", start, "--seed", "1", "--workers", str(workers), "--quiet"], env)
    backlog.produce_s = round(time.monotonic() - t0, 1)
    flush(bench_settings(settings, backlog))
    backlog.records = records_in(settings, backlog.topic)
    return backlog


def remove(settings: Settings, backlog: Backlog) -> None:
    client = admin(settings)   # held until the deletions are done: its handle serves the futures
    for done in client.delete_topics([backlog.topic, backlog.dlq]).values():
        done.result(timeout=30)
    with postgres.connect(settings, "admin", "postgres", autocommit=True) as c:
        c.execute(f'drop database if exists "{backlog.database}" with (force)')


# ------------------------------------------------------------------------------- variants

def variants(settings: Settings, parallelisms: list[int], stages: bool) -> list[Variant]:
    """The jobs to run, in order: ceiling, shared stages and each metric (at the first
    parallelism) when `stages`, then the whole suite at each parallelism."""
    out = []
    first = parallelisms[0]
    if stages:
        out += [Variant("ceiling", "ceiling", [], first), Variant("shared stages", "shared", [], first)]
        out += [Variant(m.name, "metrics", [m.name], first) for m in pipeline.enabled(discover(), settings)]
    out += [Variant(f"{SUITE} p={p}", "metrics", [], p) for p in parallelisms]
    return out


def _statement_set(settings: Settings, variant: Variant, job_name: str):
    s = settings.model_copy(update={"job_name": job_name, "job_parallelism": variant.parallelism})
    t_env = pipeline.create_table_env(s, remote=True, parallelism=variant.parallelism)
    pipeline.create_kafka_source(t_env, s, group_id=f"{job_name}-{uuid.uuid4().hex[:6]}",
                                 judged=variant.kind != "ceiling")
    pipeline.create_views(t_env, s)
    if variant.kind == "metrics":
        chosen: list[Metric] = pipeline.enabled(discover(variant.metrics or None), s)
        return pipeline.build_statement_set(t_env, s, chosen)
    t_env.execute_sql("CREATE TEMPORARY TABLE discarded (event_id STRING, site_id STRING, ts BIGINT) "
                      "WITH ('connector' = 'blackhole')")
    stmt_set = t_env.create_statement_set()
    if variant.kind == "ceiling":
        stmt_set.add_insert_sql("INSERT INTO discarded SELECT event_id, site_id, ts FROM raw_events")
    else:
        stmt_set.add_insert_sql("INSERT INTO discarded SELECT event_id, site_id, ts FROM events_clean")
        stmt_set.add_insert_sql("INSERT INTO discarded SELECT event_id, site_id, CAST(0 AS BIGINT) "
                                "FROM late_events_stream")
        stmt_set.add_insert_sql("INSERT INTO discarded SELECT CAST(NULL AS STRING), site_id, CAST(0 AS BIGINT) "
                                "FROM invalid_events_stream")
    return stmt_set


def _moved(flink: Flink, jid: str) -> tuple[int, int]:
    """(records the source has read, records that have crossed any edge of the job)."""
    job = flink.call(f"/jobs/{jid}")
    source = 0
    moved = 0
    for v in job["vertices"]:
        m = v["metrics"]
        if v["name"].startswith("Source:"):
            # records read; write-records counts each record once per consumer of the source
            source += int(m["read-records"])
        moved += int(m["read-records"]) + int(m["write-records"])
    return source, moved + source


def _submit(settings: Settings, variant: Variant, job_name: str):
    """Plan and submit the variant's job. Planning again in a new table environment now and
    then is needed: after a long run, PyFlink may call the planner on a py4j thread where
    Calcite's thread-local metadata provider was never set ("NullPointerException:
    metadataHandlerProvider"); a new environment sets it on the calling thread."""
    for attempt in range(3):
        try:
            return _statement_set(settings, variant, job_name).execute()
        except Exception as e:  # noqa: BLE001 - py4j wraps the Java exception
            if "metadataHandlerProvider" not in str(e) or attempt == 2:
                raise
    raise AssertionError("unreachable")


def run_variant(settings: Settings, backlog: Backlog, variant: Variant, procs: Processes, progress=None,
                timeout: float = 3600, hot: HotSpots | None = None) -> Run:
    flink = Flink(settings.flink_rest_url)
    job_name = f"clickpulse-bench-{uuid.uuid4().hex[:6]}"
    bench = bench_settings(settings, backlog)
    task = progress.add_task(variant.label, total=backlog.records) if progress else None
    result = _submit(bench, variant, job_name)
    jid = str(result.get_job_client().get_job_id())
    try:
        flink.wait_state(jid, {"RUNNING"})
        samples, first, cpu0 = [], None, None
        last_move, last_moved, read_at, last_graphs = time.monotonic(), -1, None, 0.0
        before = (time.monotonic(), procs.cpu())   # the last poll that saw nothing read yet
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            time.sleep(POLL_S)
            read, moved = _moved(flink, jid)
            now = time.monotonic()
            if read == 0:
                before = (now, procs.cpu())
            elif first is None:
                first, cpu0 = before   # the first records were read since the previous poll
            if first is not None:
                samples.append((round(now - first, 2), read))
            if moved != last_moved:
                last_moved, last_move = moved, now
            if read >= backlog.records and read_at is None:
                read_at = now
            if progress:
                progress.update(task, completed=min(read, backlog.records))
            if hot is not None and read_at is None and now - last_graphs >= 5:
                hot.collect(flink, jid)
                last_graphs = now
            if read_at is not None and now - last_move >= QUIET_S:
                break
        else:
            raise ClickpulseError(f"{variant.label}: not done within {timeout:.0f} s")
        done_at = last_move
        cpu1 = procs.cpu()
    finally:
        flink.call(f"/jobs/{jid}?mode=cancel", "PATCH")
    n = backlog.records
    read_s, done_s = read_at - first, max(done_at - first, read_at - first)
    us = [round((b - a) / n * 1e6, 1) for a, b in zip(cpu0, cpu1)]
    if progress:
        progress.update(task, description=f"{variant.label}: {n / done_s:,.0f} events/s")
    return Run(variant.label, variant.kind, variant.parallelism, n, round(read_s, 1), round(done_s, 1),
               round(n / read_s), round(n / done_s), *us, samples=samples)


def stage_costs(runs: list[Run]) -> dict[str, float]:
    """µs per event each metric adds to the shared stages (and the shared stages to the ceiling)."""
    by_kind = {r.kind: r for r in runs if r.kind in ("ceiling", "shared")}
    out = {}
    if "shared" in by_kind and "ceiling" in by_kind:
        out["shared stages"] = round(by_kind["shared"].tm_us - by_kind["ceiling"].tm_us, 1)
    if "shared" in by_kind:
        for r in runs:
            if r.kind == "metrics" and not r.label.startswith(SUITE):
                out[r.label] = round(r.tm_us - by_kind["shared"].tm_us, 1)
    return out


# ------------------------------------------------------------------------------- hot spots

@dataclass
class HotSpots:
    """On-CPU samples of Flink's flame graphs (rest.flamegraph.enabled), per task (vertex)."""

    samples: dict = field(default_factory=dict)    # vertex name -> samples
    frames: dict = field(default_factory=dict)     # vertex name -> {frame: self samples}
    seen: dict = field(default_factory=dict)       # vertex id -> end timestamp of the last graph taken

    def collect(self, flink: Flink, jid: str) -> None:
        for v in flink.call(f"/jobs/{jid}")["vertices"]:
            try:
                graph = flink.call(f"/jobs/{jid}/vertices/{v['id']}/flamegraph?type=on_cpu")
            except ClickpulseError:
                continue
            end = graph.get("endTimestamp", -1)
            if "data" not in graph or end in (-1, self.seen.get(v["id"])):
                continue
            self.seen[v["id"]] = end
            self._add(v["name"], graph["data"])

    def _add(self, vertex: str, root: dict) -> None:
        frames = self.frames.setdefault(vertex, {})
        self.samples[vertex] = self.samples.get(vertex, 0) + root["value"]
        stack = [root]
        while stack:
            node = stack.pop()
            kids = node.get("children", [])
            own = node["value"] - sum(k["value"] for k in kids)
            if own > 0 and node is not root:
                frames[node["name"]] = frames.get(node["name"], 0) + own
            stack.extend(kids)

    def table(self, top_frames: int = 4) -> list[dict]:
        total = sum(self.samples.values()) or 1
        out = []
        for vertex, n in sorted(self.samples.items(), key=lambda kv: -kv[1]):
            hot = sorted(self.frames[vertex].items(), key=lambda kv: -kv[1])[:top_frames]
            out.append({"task": _short(vertex, 90), "share": f"{100 * n / total:.0f}%",
                        "hottest frames (self samples)": "; ".join(f"{_frame(f)} ({c})" for f, c in hot)})
        return out


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _frame(name: str) -> str:
    """org.apache.flink.x.y.Class.method:123 -> Class.method"""
    name = name.split(":")[0]
    parts = name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 1 else name


# ------------------------------------------------------------------------------- plots

def plots(runs: list[Run], costs: dict[str, float]) -> list[Plot]:
    out = []
    fig = new_figure(8, 4)
    ax = fig.add_subplot()
    for r in runs:
        if r.kind == "metrics" and not r.label.startswith(SUITE):
            continue  # one line per metric would hide the rest; their rates are in the table
        t, rate = _rates(r.samples)
        ax.plot(t, rate, label=r.label)
    ax.set_xlabel("seconds since the first record")
    ax.set_ylabel("events/s read")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    out.append(Plot("events/s over time: ceiling, shared stages and the whole suite", fig))
    if costs:
        fig = new_figure(8, 0.8 + 0.3 * len(costs))
        ax = fig.add_subplot()
        names = list(costs)
        ax.barh(names, [costs[n] for n in names], color="tab:orange")
        ax.invert_yaxis()
        ax.set_xlabel("TaskManager CPU µs per event, over the shared stages")
        ax.grid(axis="x", alpha=0.3)
        out.append(Plot("cost of each stage", fig))
    return out


def _rates(samples: list, window_s: float = 2.0) -> tuple[list[float], list[float]]:
    """events/s over a sliding window from (t, records read) samples."""
    ts, rates = [], []
    j = 0
    for i, (t, n) in enumerate(samples):
        while samples[j][0] < t - window_s:
            j += 1
        if i > j:
            t0, n0 = samples[j]
            ts.append(t)
            rates.append((n - n0) / (t - t0))
    return ts, rates
