"""`clickpulse bench`: load and latency benchmarks."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import uuid
import sys
import time
from dataclasses import asdict
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .. import reports
from ..alerts import bench as alerts_bench
from ..dashboards import bench as dashboards_bench, benchdata, propbench, rls
from ..dashboards.client import admin_session
from ..dashboards.roles import SITE_VIEWER, Security
from ..dashboards.sync import bind_site_viewer
from ..db.migrations import detect_backend, migrate
from ..errors import ClickpulseError
from ..gateway import bench as viewers_bench, freshness as freshness_bench
from ..ingest import bench as ingest_bench
from ..progress import Progress, status
from ..runner import bench as pipeline_bench
from ..settings import get_settings
from ..stack import flink, kafka, postgres, procs, services
from ..stack.secrets import ensure_secrets
from ..verify import faults as fault_bench

app = typer.Typer(help="Benchmarks: how much the pipeline takes and how fast the dashboards answer.",
                  no_args_is_help=True)
console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


@app.command("dashboards")
def dashboards(
    days: int = typer.Option(90, "--days", help="Days of metric history to load under the bench site ids."),
    runs: int = typer.Option(20, "--runs", help="Timed requests per chart (after one warm-up)."),
    budget_ms: float = typer.Option(500, "--budget-ms", help="Exit 1 when the overall p95 is not below this."),
    load: bool = typer.Option(True, "--load/--no-load", help="Load (or top up to now) the bench data first."),
    remove: bool = typer.Option(False, "--remove", help="Delete all bench rows at the end (site ids bench-*)."),
    cached: bool = typer.Option(False, "--cached/--force", help="Time answers from Superset's shared cache "
                                "(Redis): requests without `force` after a warm-up filled it."),
) -> None:
    """Load DAYS days of realistic metric rows (sites bench-1..3, 12 countries, 4 devices,
    4 plans, 8 event types, daily cycle) into the analytics database, then time the
    chart-data API (`/api/v1/chart/data`, cache bypassed with `force`) RUNS times for every
    chart of every dashboard and print p50/p95/max per chart and overall. Writes
    reports/bench-dashboards-TIMESTAMP.md and .json. Loading again only tops the data up to
    now; `--remove` deletes it (`--no-load --runs 0 --remove` only deletes). `--cached` times
    what viewers get from the shared cache instead (the cache hits are counted; an entry of
    a live dataset lives 5 s, so a slow series of requests sees some misses).

    Example: clickpulse bench dashboards --days 90 --runs 20
    """
    settings = ensure_secrets()
    if load:
        with _progress() as progress:
            benchdata.load(settings, days, progress)
    timings = []
    if runs > 0:
        with _progress() as progress:
            timings = dashboards_bench.time_charts(settings, runs, progress=progress, cached=cached)
        with postgres.connect(settings, "admin", autocommit=True) as conn:
            backend = detect_backend(conn, settings)
        meta = reports.run_info(superset_url=settings.superset_url, backend=backend, days=days,
                                sites=[s.site_id for s in benchdata.SITES], rows=benchdata.row_counts(settings),
                                runs=runs, warmup=1, budget_ms=budget_ms, cached=cached)
        mode = "`force: false`, answered from the shared cache (Redis) when `is_cached`" if cached else "`force: true`"
        notes = [f"each chart: {runs} timed requests after 1 warm-up, sequential, {mode}",
                 f"budget: p95 < {budget_ms:.0f} ms"]
        report = reports.write_report("dashboards", "chart-data API latency (ms)",
                                      dashboards_bench.table_rows(timings), meta=meta, notes=notes,
                                      summary=dashboards_bench.summary_row(timings),
                                      details={"charts": dashboards_bench.samples(timings)})
        t = Table(title=f"chart-data API, {runs} requests per chart, {'cached' if cached else 'force'} (ms)")
        for col in ("dashboard", "chart", "rows", "p50", "p95", "max", "cached"):
            t.add_column(col, justify="right" if col in ("rows", "p50", "p95", "max", "cached") else "left")
        for c in timings:
            style = "red" if c.p95 >= budget_ms else ""
            t.add_row(c.dashboard, c.chart, str(c.rows), f"{c.p50:.0f}", f"[{style}]{c.p95:.0f}[/]" if style
                      else f"{c.p95:.0f}", f"{c.max:.0f}", str(c.cache_hits))
        total = dashboards_bench.overall(timings)
        t.add_row("[bold]all charts", f"{total['requests']} requests", "", f"[bold]{total['p50']:.0f}",
                  f"[bold]{total['p95']:.0f}", f"[bold]{total['max']:.0f}", str(total["cache_hits"]))
        Console().print(t)
        console.print(f"report: {report}")
    if remove:
        with _progress() as progress:
            benchdata.remove(settings, progress)
        console.print("bench rows removed")
    if timings and dashboards_bench.overall(timings)["p95"] >= budget_ms:
        console.print(f"[red]overall p95 {dashboards_bench.overall(timings)['p95']:.0f} ms is not below {budget_ms:.0f} ms[/]")
        raise typer.Exit(1)


@app.command("properties")
def properties(
    days: int = typer.Option(30, "--days", min=1, help="Days of raw events to load; the queries span 30 of them."),
    rate: float = typer.Option(3.0, "--rate", min=0.01, help="Raw events per second over the bench sites (3: the "
                               "rate `clickpulse demo` sends its history at; 7.8M events in 30 days)."),
    runs: int = typer.Option(20, "--runs", min=1, help="Timed runs per query (after one warm-up)."),
    quick: bool = typer.Option(False, "--quick", help="1 event/s and 5 runs: a first look in a couple of minutes."),
    budget_ms: float = typer.Option(2000, "--budget-ms", help="Exit 1 when a query's p95 is not below this."),
    remove: bool = typer.Option(False, "--remove", help="Delete the raw bench events at the end (sites bench-*)."),
) -> None:
    """Load DAYS days of raw events (sites bench-1..3; page views, clicks with
    properties.button, actions with properties.experiment and product_id) into `events`,
    then time 30-day ad hoc queries that filter on a property with `properties @>
    '{...}'` (the GIN index of V160), as the reader role, and print p50/p95/max per query
    and whether the plan used the index (EXPLAIN ANALYZE in the report). Writes
    reports/bench-properties-TIMESTAMP.md and .json. Loading again only adds missing days.

    Example: clickpulse bench properties --quick
    """
    settings = ensure_secrets()
    if quick:
        rate, runs = min(rate, 1.0), min(runs, 5)
    with _progress() as progress:
        migrate(settings, progress)   # the bench needs only the stack: `stack up` alone creates no tables
        propbench.load(settings, days, rate, progress)
    with _progress() as progress:
        timings = propbench.time_queries(settings, runs, days=min(days, 30), progress=progress)
    with postgres.connect(settings, "admin", autocommit=True) as conn:
        backend = detect_backend(conn, settings)
    rows = propbench.table_rows(timings)
    meta = reports.run_info(backend=backend, days=days, rate=rate, sites=[s.site_id for s in benchdata.SITES],
                            rows=propbench.row_counts(settings, min(days, 30)), runs=runs, warmup=1,
                            budget_ms=budget_ms)
    report = reports.write_report(
        "properties", "ad hoc property queries on raw events, 30 days (ms)", rows, meta=meta,
        notes=[f"each query: {runs} timed runs after 1 warm-up, sequential, reader role, site bench-1",
               f"budget: p95 < {budget_ms:.0f} ms"],
        sections={f"plan: {t.query}": [{"EXPLAIN ANALYZE": line} for line in t.plan.splitlines()] for t in timings},
        details={"samples_ms": {t.query: t.samples_ms for t in timings}})
    _table(f"ad hoc property queries, 30 days, {runs} runs each (ms)",
           [{k: (f"{v:.0f}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows])
    console.print(f"report: {report}")
    if remove:
        propbench.remove(settings)
        console.print("raw bench events removed")
    slow = [r for r in rows if r["p95_ms"] >= budget_ms or r["GIN index used"] != "yes"]
    if slow:
        console.print(f"[red]{len(slow)} quer{'y' if len(slow) == 1 else 'ies'} over {budget_ms:.0f} ms at p95 "
                      "or not using the GIN index[/]")
        raise typer.Exit(1)


def _counts(text: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 1:
        raise ClickpulseError(f"{option} {text!r}: expected positive integers, e.g. 1,2")
    return values


def _table(title: str, rows: list[dict], columns: list[str] | None = None) -> None:
    columns = columns or list(rows[0])
    t = Table(title=title)
    for col in columns:
        t.add_column(col.replace("_", " "), justify="right")
    for r in rows:
        t.add_row(*(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in columns))
    Console().print(t)


@app.command("generate")
def generate(
    events: int = typer.Option(2_000_000, "--events", min=1000, help="Records per run."),
    workers: str = typer.Option("1,2", "--workers", help="Generator processes to try, one run each."),
    rate: float = typer.Option(1000.0, "--rate", help="Simulated traffic density (events per event-time second)."),
) -> None:
    """Events/s `clickpulse generate` pushes into Kafka (acks=all, idempotent, lz4), as fast
    as it can, with the demo's mix of faults, into a throwaway topic with the events topic's
    partitions. Checks that Kafka holds every record. Writes reports/bench-generate-*.md/.json.

    Example: clickpulse bench generate --events 2000000 --workers 1,2
    """
    settings = get_settings()
    info = reports.run_info(kafka=settings.kafka_bootstrap_servers)
    rows = []
    for n in _counts(workers, "--workers"):
        with _progress() as progress:
            task = progress.add_task(f"{n} worker(s)", total=events)
            rows.append(ingest_bench.generate(settings, events=events, workers=n, rate=rate,
                                              progress=lambda s: progress.update(task, completed=s.records)))
    _table("clickpulse generate -> Kafka", rows)
    console.print(f"report: {reports.write_report('generate', 'records/s into Kafka', rows, meta=info)}")


@app.command("collect")
def collect(
    seconds: int = typer.Option(20, "--seconds", min=2, help="Length of each timed wrk run."),
    batch: str = typer.Option("1,20", "--batch", help="Events per request, one run each."),
    connections: int = typer.Option(32, "--connections", min=1, help="Concurrent HTTP connections."),
    threads: int = typer.Option(2, "--threads", min=1, help="wrk threads."),
    collector_workers: int = typer.Option(1, "--collector-workers", min=1, help="`clickpulse collect --workers`."),
) -> None:
    """Events/s and p50/p99 latency of `clickpulse collect` under load from wrk (Debian's
    `wrk`, a Lua script posting batches with unique event ids), each request answered only
    after Kafka acknowledged it, into a throwaway topic. Writes reports/bench-collect-*.md/.json.

    Example: clickpulse bench collect --seconds 20 --batch 1,20 --connections 32
    """
    settings = get_settings()
    info = reports.run_info(kafka=settings.kafka_bootstrap_servers)
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console) as progress:
        rows = ingest_bench.collect(settings, seconds=seconds, batches=_counts(batch, "--batch"),
                                    connections=connections, threads=threads, collector_workers=collector_workers,
                                    progress=progress)
    _table("POST /collect under wrk", rows, ["batch", "connections", "requests_per_s", "events_per_s", "p50_ms",
                                             "p90_ms", "p99_ms", "non_2xx"])
    notes = ["wrk runs closed-loop on the same machine (shares its cores with the collector and Kafka); "
             "latency is time to a 2xx, which waits for Kafka's acks=all acknowledgement"]
    console.print(f"report: {reports.write_report('collect', 'events/s and latency', rows, meta=info, notes=notes)}")


@app.command("pipeline")
def pipeline(
    events: int = typer.Option(1_000_000, "--events", min=10_000, help="Events in the backlog every job reads."),
    parallelism: str = typer.Option("2", "--parallelism", help="Parallelisms of the whole-suite runs, e.g. 1,2."),
    stages: bool = typer.Option(True, "--stages/--no-stages",
                                help="Also run the ceiling, the shared stages alone and each metric alone."),
    raw_events: bool = typer.Option(False, "--raw-events/--no-raw-events",
                                    help="Whether the suite also writes every event to the `events` table."),
    profile: bool = typer.Option(True, "--profile/--no-profile",
                                 help="Take Flink's flame graphs during the whole-suite run and name the hot spots."),
    quick: bool = typer.Option(False, "--quick", help="200,000 events, ceiling, shared stages and the suite only."),
    workers: int = typer.Option(2, "--workers", min=1, help="Generator processes producing the backlog."),
    keep: bool = typer.Option(False, "--keep", help="Keep the backlog topic and the bench database."),
) -> None:
    """Events/s the metric suite processes and where the time goes. Produces one backlog of
    EVENTS events (a topic of its own, a flush tick after it), then runs separate jobs over
    it, one after the other: the ceiling (Kafka and the event format only), the shared
    stages alone, each metric alone, and the whole suite at each parallelism. For each it
    prints events/s (from the first record read until every window is in PostgreSQL) and
    the CPU microseconds per event of the TaskManager, Kafka and PostgreSQL, and a stage's
    cost (its µs/event minus the shared stages'). Writes reports/bench-pipeline-*.md/.json
    with plots (events/s over time, cost per stage) and the flame graphs' hot spots. Stop
    the demo's generator first for clean figures (`clickpulse stack stop generator`).

    Example: clickpulse bench pipeline --events 1000000 --parallelism 1,2
    """
    settings = ensure_secrets()
    if settings.raw_events_sink != raw_events:
        settings = settings.model_copy(update={"raw_events_sink": raw_events})
    if quick:
        events = min(events, 200_000)
    plan = pipeline_bench.variants(settings, _counts(parallelism, "--parallelism"), stages)
    if quick:
        plan = [v for v in plan if v.kind != "metrics" or v.label.startswith(pipeline_bench.SUITE)]
    procs = pipeline_bench.Processes.local()
    with _progress() as progress:
        step = progress.add_task(f"produce {events:,} events", total=None)
        backlog = pipeline_bench.produce(settings, events, workers, raw_events)
        progress.update(step, description=f"produced {backlog.records:,} records in {backlog.produce_s} s",
                        total=1, completed=1)
    hot = pipeline_bench.HotSpots() if profile else None
    runs = []
    try:
        with _progress() as progress:
            for v in plan:
                runs.append(pipeline_bench.run_variant(settings, backlog, v, procs, progress,
                                                       hot=hot if v.label.startswith(pipeline_bench.SUITE) else None))
    finally:
        if not keep:
            pipeline_bench.remove(settings, backlog)
    costs = pipeline_bench.stage_costs(runs)
    rows = [{"run": r.label, "parallelism": r.parallelism, "events/s": r.rate, "events/s reading": r.read_rate,
             "TaskManager µs/event": r.tm_us, "Kafka µs/event": r.kafka_us, "PostgreSQL µs/event": r.pg_us,
             "cost over shared µs/event": costs.get(r.label, "")} for r in runs]
    _table("metric suite throughput", rows)
    hot_rows = hot.table() if hot and hot.samples else []
    if hot_rows:
        _table("hot spots of the whole suite (Flink flame graphs, on-CPU samples)", hot_rows[:8],
               ["task", "share", "hottest frames (self samples)"])
    notes = [*(f"{kind} runs: {what}" for kind, what in pipeline_bench.KINDS.items()),
             f"backlog: {backlog.records:,} records ({events:,} events of the demo's mix: out of order, late, "
             f"resent and malformed ones, plus the flush ticks), produced in {backlog.produce_s} s",
             "events/s: records / seconds from the first record read until the job is quiet (every window of the "
             "backlog written); µs/event: CPU seconds of the process / records",
             f"raw events table: {'on' if raw_events else 'off'}"]
    details = {"runs": [asdict(r) for r in runs], "stage_costs": costs, "hot_spots": hot_rows}
    report = reports.write_report(
        "pipeline", "events/s through the metric suite, and where the time goes", rows,
        meta=reports.run_info(events=events, raw_events=raw_events), notes=notes,
        plots=pipeline_bench.plots(runs, costs), details=details,
        sections={"Hot spots (whole suite)": hot_rows} if hot_rows else None)
    console.print(f"report: {report}")



# The quick version of each bench, for `bench all`; a bench not named here takes `--quick`.
QUICK_ARGS = {
    "generate": ["--events", "200000", "--workers", "1"],
    "collect": ["--seconds", "5", "--batch", "20"],
    "dashboards": ["--days", "7", "--runs", "3"],
    "viewers": ["--viewers", "100", "--seconds", "10"],
    "freshness": ["--markers", "5"],
    "alerts": ["--incidents", "2", "--normal-hours", "2"],
}
# disturbs the stack (kills and restarts its parts): after every other bench
LAST = ["faults"]


@app.command("all")
def run_all(
    skip: str = typer.Option("", "--skip", help="Comma-separated benches to leave out."),
) -> None:
    """The quick version of every bench, one after the other, each as its own
    `clickpulse bench NAME` process (so each writes its report); prints which passed and
    exits 1 when any failed. Needs the stack (`clickpulse stack up`); `make bench` runs it.

    Example: clickpulse bench all --skip dashboards
    """
    names = [c.name or c.callback.__name__ for c in app.registered_commands]
    chosen = [n for n in names if n != "all" and n not in {s.strip() for s in skip.split(",")}]
    chosen.sort(key=lambda n: n in LAST)
    exe = Path(sys.executable).parent / "clickpulse"
    rows = []
    for name in chosen:
        args = QUICK_ARGS.get(name, ["--quick"])
        console.rule(f"clickpulse bench {name} {' '.join(args)}")
        started = time.monotonic()
        code = subprocess.run([str(exe), "bench", name, *args]).returncode
        rows.append({"bench": name, "arguments": " ".join(args), "exit": code,
                     "seconds": round(time.monotonic() - started)})
    _table("quick benches", rows)
    failed = [r["bench"] for r in rows if r["exit"] != 0]
    if failed:
        console.print(f"[red]failed: {', '.join(failed)}[/]")
        raise typer.Exit(1)

@app.command("faults")
def faults(
    rate: float = typer.Option(500, "--rate", min=1, help="Steady load in events/s, sent through the collector "
                               "(the burst scenario sends 10x this)."),
    scenarios: str = typer.Option(None, "--scenarios", help="Comma-separated subset (default: every one that "
                                  "applies to the running topology): " + ", ".join(s.name for s in fault_bench.SCENARIOS)),
    quick: bool = typer.Option(False, "--quick", help="Short version: 15 s warm-up, 20 s faults, 180 s to recover."),
    target_s: float = typer.Option(15, "--target-s", help="Freshness target (seconds behind the wall clock)."),
) -> None:
    """Inject failures into the running local stack under steady load through the collector
    (kill -9 a TaskManager; restart the only broker, or in the multi-node mode kill one of 3,
    the one leading most of the collector's partitions, and the JobManager; stop PostgreSQL
    for 60 s; a 10x burst for 60 s) and report, per scenario: events sent / acknowledged /
    refused by the collector (and for how long) / in Kafka, `verify` differences in the closed
    windows, the worst freshness during the fault, the time until it is back under the
    target, and whether anyone had to act. Needs `clickpulse demo` (stack, suite, collector)
    running. Writes reports/bench-faults-TIMESTAMP.md with a freshness plot.

    Example: clickpulse bench faults --quick --rate 500
    """
    settings = ensure_secrets()
    topology = services.running_topology(settings)
    chosen = fault_bench.applicable(topology.multi_node)
    if scenarios:
        wanted = {n.strip() for n in scenarios.split(",") if n.strip()}
        unknown = wanted - {s.name for s in fault_bench.SCENARIOS}
        if unknown:
            raise ClickpulseError(f"--scenarios: unknown {', '.join(sorted(unknown))}")
        chosen = [s for s in fault_bench.SCENARIOS if s.name in wanted]
    _require_pipeline(settings)
    warmup_s, fault_s, timeout_s = (15, 20, 180) if quick else (30, 60, 300)
    outcomes = []
    for scenario in chosen:
        with status(console, scenario.name) as spinner:
            outcomes.append(fault_bench.run_scenario(
                settings, scenario, rate=rate, warmup_s=warmup_s, fault_s=fault_s, target_s=target_s,
                timeout_s=timeout_s, status=lambda text: spinner.update(text)))
    rows = [_fault_row(o) for o in outcomes]
    _table(f"faults under {rate:g} events/s through the collector", rows)
    meta = reports.run_info(rate=rate, quick=quick, target_s=target_s, kafka_brokers=topology.kafka_brokers,
                            taskmanagers=topology.taskmanagers, warmup_s=warmup_s, fault_s=fault_s)
    notes = [f"steady load {rate:g} events/s in batches of 50 through the collector (acks=all); one site id per scenario",
             "freshness: wall clock minus the newest event_time of the scenario's site in the raw `events` table",
             f"recovery: from the fault until freshness stays under {target_s:g} s; the bench repairs nothing "
             "unless nothing recovered within the timeout (then 'had to act')",
             "verify: `clickpulse verify` over the scenario's minutes and site; open windows are counted, not failed"]
    report = reports.write_report("faults", "failures under load", rows, meta=meta, notes=notes,
                                  plots=[_freshness_plot(outcomes, target_s)],
                                  details={o.scenario: o.freshness for o in outcomes})
    console.print(f"report: {report}")
    if any(o.missing_rows or o.different_rows or o.extra_rows or o.acked_missing for o in outcomes):
        raise typer.Exit(1)


def _require_pipeline(settings) -> None:
    if not procs.port_open(settings.collector_port):
        services.start_feeder("collector", ["collect"])
        procs.wait_for(lambda: procs.port_open(settings.collector_port), "the collector", 60)
    if not any(j["name"] == settings.job_name and j["state"] == "RUNNING" for j in flink.jobs(settings)):
        raise ClickpulseError(f"the suite ({settings.job_name}) is not running: `clickpulse demo` "
                              "(or `clickpulse jobs submit`) first")


def _fault_row(o) -> dict:
    return {"scenario": o.scenario, "sent": o.sent, "acknowledged": o.acked,
            "refused (503)": o.refused, "refusing for (s)": f"{o.refused_s:.0f}", "in Kafka": o.in_kafka,
            "acked not in Kafka": o.acked_missing,
            "verify missing/different/extra": f"{o.missing_rows}/{o.different_rows}/{o.extra_rows}",
            "open rows": o.open_rows,
            "worst freshness (s)": "-" if o.worst_freshness_s is None else f"{o.worst_freshness_s:.0f}",
            "back under target after (s)": "never" if o.recovery_s is None else f"{o.recovery_s:.0f}",
            "anyone had to act": o.acted}


def _freshness_plot(outcomes, target_s: float) -> reports.Plot:
    fig = reports.new_figure(8, 4)
    ax = fig.add_subplot()
    for o in outcomes:
        points = [(t, f) for t, f in o.freshness if f is not None]
        ax.plot([t for t, _ in points], [f for _, f in points], label=o.scenario)
    ax.axhline(target_s, color="grey", linestyle="--", label=f"target {target_s:g} s")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("seconds since the fault")
    ax.set_ylabel("freshness (s behind)")
    ax.set_yscale("symlog")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    return reports.Plot("freshness of the raw events table around each fault", fig)


@app.command("viewers")
def viewers(
    counts: str = typer.Option("100,1000,5000", "--viewers", help="Concurrent viewers, one run each."),
    seconds: float = typer.Option(30, "--seconds", min=5, help="How long each run holds its viewers."),
    mode: str = typer.Option("sse", "--mode", help="sse: live gateway streams; superset: the Live dashboard's "
                                                   "chart-data requests."),
    refresh: float = typer.Option(10, "--refresh", min=1, help="superset mode: seconds between a viewer's refreshes."),
    running: bool = typer.Option(False, "--running", help="sse mode: load the stack's own gateway (GATEWAY_PORT) "
                                                          "instead of starting one, e.g. while `bench freshness` runs."),
) -> None:
    """Hold VIEWERS simulated live viewers on 127.0.0.1 for SECONDS each run (a mix of admins,
    on every site or one, and single-site viewers) and measure the update delay (each
    message's tick time to its receipt), refused and failed connections, and the server's
    CPU and memory per 1,000 viewers (from /proc). sse mode starts a gateway of its own on a
    free port; superset mode polls the running Superset like the Live dashboard (force, every
    --refresh seconds). Stops by itself; writes reports/bench-viewers-*.md/.json with a plot.

    Example: clickpulse bench viewers --viewers 100,1000,5000 --seconds 30 --mode sse
    """
    settings = ensure_secrets()
    if mode not in ("sse", "superset"):
        raise ClickpulseError(f"--mode {mode!r}: choose sse or superset")
    runs = []
    with _progress() as progress:
        if mode == "sse":
            gateway = (viewers_bench.RunningGateway if running else viewers_bench.GatewayProcess)(settings)
            try:
                logins = viewers_bench.gateway_logins(gateway.url, settings)
                sites = viewers_bench.current_sites(gateway.url, logins[0].cookie)
                idle = gateway.idle()
                for n in _counts(counts, "--viewers"):
                    runs.append(viewers_bench.run_sse(settings, n, seconds, gateway, logins, sites, idle, progress))
            finally:
                gateway.stop()
        else:
            for n in _counts(counts, "--viewers"):
                runs.append(viewers_bench.run_superset(settings, n, seconds, refresh, progress))
    rows = [r.row() for r in runs]
    _table(f"live viewers ({mode}), {seconds:g} s each", [{k: (round(v) if isinstance(v, float) else v)
                                                          for k, v in r.items()} for r in rows],
           ["viewers", "connected", "refused", "errors", "delay_p50_ms", "delay_p99_ms", "cpu_pct_of_core",
            "cpu_pct_per_1000", "rss_mb"])
    notes = ["delay: sse, a message's tick time (SSE id; the start of the tick's read) to its receipt by the "
             "client, over the held period after the ramp (1,000 connections/s); superset, the time to answer "
             "every Live chart of one refresh",
             f"clients: {viewers_bench.CLIENT_PROCESSES} processes on the same 2 cores as the server and the stack",
             "CPU: the server process(es) over the held period, in % of one core"]
    report = reports.write_report("viewers", f"live viewers held ({mode})", rows, meta=reports.run_info(mode=mode),
                                  notes=notes, plots=[reports.Plot("update delay and server CPU by viewers",
                                                                   viewers_bench.plot(runs))],
                                  details={"delays_ms": {r.viewers: r.delays_ms[:20000] for r in runs}})
    console.print(f"report: {report}")



@app.command("freshness")
def freshness(
    markers: int = typer.Option(20, "--markers", min=1, help="Marker events to time."),
    min_gap: float = typer.Option(2.0, "--min-gap", min=0.1, help="Shortest random pause before a marker (s)."),
    max_gap: float = typer.Option(6.0, "--max-gap", min=0.1, help="Longest random pause before a marker (s)."),
    timeout: float = typer.Option(60.0, "--timeout", min=5, help="Give up on a marker after this many seconds."),
    gateway_url: str = typer.Option(None, "--gateway-url", help="The Live page to watch (default the local "
                                                                "gateway, GATEWAY_HOST:GATEWAY_PORT)."),
    superset: bool = typer.Option(False, "--superset/--no-superset",
                                  help="Also watch the Superset Live dashboard's \"Users right now\", as a viewer "
                                       "bound to the marker site (created for the run, then deactivated)."),
) -> None:
    """Time marker events from Kafka's acknowledgement to (a) their row in PostgreSQL
    (`live_users_now`) and (b) the changed number on the gateway's Live page in a real
    Chromium, during the demo's normal traffic (run `make demo` first). Each marker is a new
    user on a site of its own, sent after a random pause. Prints p50/p95/p99/max; writes
    reports/bench-freshness-*.md/.json with a plot. Exit 1 when a marker never showed.

    Example: clickpulse bench freshness --markers 20
    """
    settings = ensure_secrets()
    url = gateway_url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    site = freshness_bench.new_site()
    login = _bench_site_viewer(settings, site) if superset else None
    try:
        with _progress() as progress:
            result = freshness_bench.run(settings, url, markers, (min_gap, max(min_gap, max_gap)), timeout, progress,
                                         superset_login=login, site=site)
    finally:
        if login:
            _drop_bench_site_viewer(settings, site, login[0])
    rows = [{"hop": "event → PostgreSQL (live_users_now)", **result.stats("to_db")},
            {"hop": "event → Live page DOM (Chromium)", **result.stats("to_page")}]
    if superset:
        rows.append({"hop": "event → Superset Live dashboard DOM", **result.stats("to_superset")})
    _table(f"freshness, {markers} markers (ms after Kafka's ack)",
           [{k: (round(v) if isinstance(v, float) else v) for k, v in r.items()} for r in rows])
    notes = [f"markers: new users on site {result.site}, one after a random pause of {min_gap:g}-{max_gap:g} s, "
             "during the demo's traffic", f"Live page: {url}, signed in as {settings.superset_admin_user}",
             "PostgreSQL polled every 50 ms; the page's changes stamped by a MutationObserver"]
    details = {"markers": [{"n": m.n, "to_db_ms": m.to_db, "to_page_ms": m.to_page, "to_superset_ms": m.to_superset}
                           for m in result.markers]}
    report = reports.write_report("freshness", "event to database and to screen", rows,
                                  meta=reports.run_info(gateway=url, tick_ms=settings.gateway_tick_ms), notes=notes,
                                  plots=[reports.Plot("freshness per marker", freshness_bench.plot(result))],
                                  details=details)
    console.print(f"report: {report}")
    if any(r["seen"] < r["of"] for r in rows):
        console.print("[red]some markers never showed within --timeout[/]")
        raise typer.Exit(1)


def _bench_site_viewer(settings, site: str) -> tuple[str, str]:
    """A Superset viewer bound to the marker site (row-level security), for this run only."""
    username, password = "bench_freshness_viewer", secrets.token_urlsafe(18)
    with admin_session(settings) as sp:
        bind_site_viewer(sp, username, password, site)
    return username, password


def _drop_bench_site_viewer(settings, site: str, username: str) -> None:
    # Superset cannot delete a user who has opened a dashboard: deactivated instead
    with admin_session(settings) as sp:
        sec = Security(sp)
        user = sec.find_user(username)
        if user:
            sp.put(f"/api/v1/security/users/{user['id']}", {"active": False, "roles": [sec.roles()[SITE_VIEWER]]})
        rls.delete_site_rule(sp, sec, site)


ALERT_TARGET_S = 10.0


@app.command("alerts")
def alerts(
    incidents: int = typer.Option(4, "--incidents", min=1, help="Incidents to inject, alternately traffic to "
                                                                "zero for a minute and a burst of 300 bot events."),
    normal_hours: float = typer.Option(24.0, "--normal-hours", min=0.0,
                                       help="Hours of normal generated traffic (daily cycle) replayed at full "
                                            "speed first, to count false alarms; 0 skips it."),
    normal_rate: float = typer.Option(3.0, "--normal-rate", min=0.1,
                                      help="Events per second of event time in the normal replay."),
    timeout: float = typer.Option(60.0, "--timeout", min=5, help="Give up on a transition this many seconds "
                                                                  "after its minute ended."),
) -> None:
    """Alert latency and false alarms, on an isolated copy of the events job (its own topics,
    job and database, removed afterwards) with the rules of sql/alerts: first NORMAL_HOURS of
    generated traffic with the daily cycle, as fast as the job takes it (every alert it
    raises is a false alarm), then live traffic of two sites with injected incidents, while
    `clickpulse alerts notify` delivers to a local webhook receiver. Prints the time from the
    end of the breaking minute to the webhook call (and to the record on the alerts topic),
    firing and resolved, as p50/p95/max, and the false alarms; writes
    reports/bench-alerts-*.md/.json with a plot. Exit 1 when an incident was missed, a
    transition reached the webhook twice or a false alarm was raised. Target: 10 s, 0 false
    alarms.

    Example: clickpulse bench alerts --incidents 4 --normal-hours 24
    """
    settings = ensure_secrets()
    tag = uuid.uuid4().hex[:8]
    env = {**os.environ, "CLICKPULSE_EVENTS_TOPIC": f"bench-alerts-{tag}",
           "CLICKPULSE_DEAD_LETTER_TOPIC": f"bench-alerts-{tag}-dlq",
           "CLICKPULSE_ALERTS_TOPIC": f"bench-alerts-{tag}-alerts", "CLICKPULSE_JOB_NAME": f"clickpulse-bench-alerts-{tag}",
           "POSTGRES_DB": f"clickpulse_bench_alerts_{tag}"}
    bench_settings = settings.model_copy(update={
        "events_topic": env["CLICKPULSE_EVENTS_TOPIC"], "dead_letter_topic": env["CLICKPULSE_DEAD_LETTER_TOPIC"],
        "alerts_topic": env["CLICKPULSE_ALERTS_TOPIC"], "postgres_db": env["POSTGRES_DB"],
        "job_name": env["CLICKPULSE_JOB_NAME"]})
    exe = Path(sys.argv[0]).resolve()
    normal_prefix = f"normal-{tag}"
    hook = alerts_bench.Receiver()
    notifier = None
    try:
        for args in (["stack", "topics"], ["db", "migrate"], ["jobs", "submit"]):
            console.print(f"clickpulse {' '.join(args)}")
            subprocess.run([str(exe), *args], env=env, check=True)
        normal_end = None
        if normal_hours > 0:
            # ends 40 minutes ago, so that the incidents' history (the last 36 minutes) is on time after it
            normal_end = int(time.time() * 1000) - 40 * 60_000
            start = normal_end - int(normal_hours * 3_600_000)
            console.print(f"normal traffic: {normal_hours:g} h at {normal_rate:g} events/s of event time")
            subprocess.run([str(exe), "generate", "--start", str(start), "--duration", f"{int(normal_hours * 60)}m",
                            "--speed", "0", "--rate", str(normal_rate), "--sites", "3", "--site-prefix", normal_prefix,
                            "--seed", "12", "--quiet"], env=env, check=True)
            waited = alerts_bench.wait_for_job(bench_settings, log=console.print)
            console.print(f"the job read the replay {waited:.0f} s after it was sent")
        # the notifier as the stack runs it, posting to the local receiver (no e-mail)
        notify_env = {**env, "ALERT_WEBHOOK_URL": hook.url, "ALERT_EMAIL_TO": "",
                      "CLICKPULSE_NOTIFY_GROUP": f"bench-alerts-{tag}-notify"}
        notify_log = procs.log_dir() / "bench-alerts-notifier.log"
        console.print(f"clickpulse alerts notify -> {hook.url} (log {notify_log})")
        with open(notify_log, "w") as out:
            notifier = subprocess.Popen([str(exe), "alerts", "notify"], env=notify_env, stdout=out,
                                        stderr=subprocess.STDOUT)
        found, records = alerts_bench.run_incidents(bench_settings, f"incident-{tag}", incidents, log=console.print,
                                                    timeout_s=timeout, hook=hook)
    finally:
        if notifier is not None:
            notifier.terminate()
            notifier.wait(timeout=30)
        hook.close()
        subprocess.run([str(exe), "jobs", "stop"], env=env)
        kafka.admin(settings).delete_topics([env["CLICKPULSE_EVENTS_TOPIC"], env["CLICKPULSE_DEAD_LETTER_TOPIC"],
                                             env["CLICKPULSE_ALERTS_TOPIC"]])
        with postgres.connect(settings, "admin", "postgres", autocommit=True) as c:
            c.execute(f'drop database if exists "{env["POSTGRES_DB"]}" with (force)')
    normal = [r for r in records if r["site_id"].startswith(normal_prefix)]
    # the normal sites fall silent when the replay ends: minutes after its end are not normal traffic
    normal_alarms = [r for r in normal if r["state"] == "firing" and normal_end
                     and dt.datetime.fromisoformat(r["window_end"].replace("Z", "+00:00")).timestamp() * 1000
                     <= normal_end]
    live_alarms = alerts_bench.false_alarms([r for r in records if not r["site_id"].startswith(normal_prefix)], found)
    rows = [{"incident": i.n, "kind": i.kind, "site": i.site,
             "minute": dt.datetime.fromtimestamp(i.minute_ms / 1000, dt.timezone.utc).strftime("%H:%M"),
             "webhook_fired_s": _round(i.hook_fired_s), "webhook_resolved_s": _round(i.hook_resolved_s),
             "topic_fired_s": _round(i.fired_s), "topic_resolved_s": _round(i.resolved_s)} for i in found]
    _table("alert latency (s after the minute's end, to the webhook call and to the record on the alerts topic)", rows)

    def _stats(attr):
        return alerts_bench.stats([getattr(i, attr) for i in found if getattr(i, attr) is not None])

    fired, resolved = _stats("hook_fired_s"), _stats("hook_resolved_s")
    topic_fired, topic_resolved = _stats("fired_s"), _stats("resolved_s")
    caught = sum(i.caught for i in found)
    copies = alerts_bench.webhook_copies(hook)

    def trio(st):
        return f"{st['p50_s']}/{st['p95_s']}/{st['max_s']}"

    summary = {"incident": "all", "kind": f"{caught}/{len(found)} caught",
               "site": f"false alarms: {len(normal_alarms)} normal, {len(live_alarms)} live; webhook copies: {copies}",
               "minute": "p50/p95/max", "webhook_fired_s": trio(fired), "webhook_resolved_s": trio(resolved),
               "topic_fired_s": trio(topic_fired), "topic_resolved_s": trio(topic_resolved)}
    console.print(f"to the webhook: fired p50 {fired['p50_s']} s, p95 {fired['p95_s']} s, max {fired['max_s']} s; "
                  f"resolved p50 {resolved['p50_s']} s, p95 {resolved['p95_s']} s, max {resolved['max_s']} s "
                  f"(to the topic: fired {trio(topic_fired)}, resolved {trio(topic_resolved)}); caught {caught}/"
                  f"{len(found)}; {copies} webhook copies; false alarms: {len(normal_alarms)} in {normal_hours:g} h "
                  f"of normal traffic, {len(live_alarms)} during the incidents")
    notes = [f"rules: sql/alerts (traffic_drop fires on the silent minute, bot_flood on the burst); target "
             f"{ALERT_TARGET_S:g} s, 0 false alarms",
             f"normal traffic: {normal_hours:g} h of `clickpulse generate` (3 sites, {normal_rate:g} events/s, daily "
             "cycle) at full speed, alerts counted for minutes up to its end",
             "incidents: 2 sites at 120 events/min after 36 minutes of history; each incident minute is followed "
             "by a normal one; latency = arrival at the webhook receiver (or on the topic), wall clock - end of the "
             "minute (event time = wall clock); the minute closes 5 s (watermark delay) after its end at the earliest",
             "webhook: `clickpulse alerts notify` (as the stack runs it) posting to a local HTTP receiver; "
             "a transition posted twice counts as a copy"]
    report = reports.write_report(
        "alerts", "alert latency and false alarms", rows, summary=summary,
        meta=reports.run_info(incidents=incidents, normal_hours=normal_hours, normal_rate=normal_rate), notes=notes,
        plots=[reports.Plot("latency per incident", alerts_bench.plot(found, ALERT_TARGET_S))],
        details={"records": records, "false_alarms": normal_alarms + live_alarms})
    console.print(f"report: {report}")
    if caught < len(found) or normal_alarms or live_alarms or copies:
        raise typer.Exit(1)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)
