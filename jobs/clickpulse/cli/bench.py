"""`clickpulse bench`: load and latency benchmarks."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .. import reports
from ..dashboards import bench as dashboards_bench, benchdata
from ..db.migrations import detect_backend
from ..errors import ClickpulseError
from ..ingest import bench as ingest_bench
from ..runner import bench as pipeline_bench
from ..settings import get_settings
from ..verify import faults as fault_bench
from ..stack import flink, postgres, procs, services
from ..stack.secrets import ensure_secrets

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
) -> None:
    """Load DAYS days of realistic metric rows (sites bench-1..3, 12 countries, 4 devices,
    4 plans, 8 event types, daily cycle) into the analytics database, then time the
    chart-data API (`/api/v1/chart/data`, cache bypassed with `force`) RUNS times for every
    chart of every dashboard and print p50/p95/max per chart and overall. Writes
    reports/bench-dashboards-TIMESTAMP.md and .json. Loading again only tops the data up to
    now; `--remove` deletes it (`--no-load --runs 0 --remove` only deletes).

    Example: clickpulse bench dashboards --days 90 --runs 20
    """
    settings = ensure_secrets()
    if load:
        with _progress() as progress:
            benchdata.load(settings, days, progress)
    timings = []
    if runs > 0:
        with _progress() as progress:
            timings = dashboards_bench.time_charts(settings, runs, progress=progress)
        with postgres.connect(settings, "admin", autocommit=True) as conn:
            backend = detect_backend(conn, settings)
        meta = reports.run_info(superset_url=settings.superset_url, backend=backend, days=days,
                                sites=[s.site_id for s in benchdata.SITES], rows=benchdata.row_counts(settings),
                                runs=runs, warmup=1, budget_ms=budget_ms)
        notes = [f"each chart: {runs} timed requests after 1 warm-up, sequential, `force: true`",
                 f"budget: p95 < {budget_ms:.0f} ms"]
        report = reports.write_report("dashboards", "chart-data API latency (ms)",
                                      dashboards_bench.table_rows(timings), meta=meta, notes=notes,
                                      summary=dashboards_bench.summary_row(timings),
                                      details={"charts": dashboards_bench.samples(timings)})
        t = Table(title=f"chart-data API, {runs} requests per chart, force (ms)")
        for col in ("dashboard", "chart", "rows", "p50", "p95", "max"):
            t.add_column(col, justify="right" if col in ("rows", "p50", "p95", "max") else "left")
        for c in timings:
            style = "red" if c.p95 >= budget_ms else ""
            t.add_row(c.dashboard, c.chart, str(c.rows), f"{c.p50:.0f}", f"[{style}]{c.p95:.0f}[/]" if style
                      else f"{c.p95:.0f}", f"{c.max:.0f}")
        total = dashboards_bench.overall(timings)
        t.add_row("[bold]all charts", f"{total['requests']} requests", "", f"[bold]{total['p50']:.0f}",
                  f"[bold]{total['p95']:.0f}", f"[bold]{total['max']:.0f}")
        Console().print(t)
        console.print(f"report: {report}")
    if remove:
        with _progress() as progress:
            benchdata.remove(settings, progress)
        console.print("bench rows removed")
    if timings and dashboards_bench.overall(timings)["p95"] >= budget_ms:
        console.print(f"[red]overall p95 {dashboards_bench.overall(timings)['p95']:.0f} ms is not below {budget_ms:.0f} ms[/]")
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
    events: int = typer.Option(1_000_000, "--events", min=10_000, help="Events to produce, then process."),
    parallelism: str = typer.Option("2", "--parallelism", help="Job parallelisms to try, one run each, e.g. 1,2."),
    raw_events: str = typer.Option("off", "--raw-events",
                                   help="Whether the suite also writes every event to the `events` table: on, off "
                                        "or both (one run each)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Generator processes producing the backlog."),
) -> None:
    """Events/s the whole metric suite processes: produce EVENTS events into a topic of their
    own, then deploy a separate copy of the suite (own job, consumer group and database) to
    the local cluster, time how fast it reads the backlog, flush, and time until the last
    windows are in PostgreSQL. Writes reports/bench-pipeline-*.md/.json. A running demo
    keeps running (it competes for the same two cores; stop it for clean figures).

    Example: clickpulse bench pipeline --events 2000000 --parallelism 1,2 --raw-events both
    """
    settings = ensure_secrets()
    modes = {"on": [True], "off": [False], "both": [False, True]}.get(raw_events)
    if modes is None:
        raise ClickpulseError(f"--raw-events {raw_events!r}: choose on, off or both")
    results = []
    for p in _counts(parallelism, "--parallelism"):
        for raw in modes:
            with _progress() as progress:
                results.append(pipeline_bench.run(settings, events, p, raw, workers, progress))
    rows = [{"events": r.events, "parallelism": r.parallelism, "raw events": "on" if r.raw_events else "off",
             "produce ev/s": r.produce_rate, "suite ev/s": r.consume_rate, "peak ev/s": r.peak_rate,
             "flush→tables s": r.flush_to_tables_s} for r in results]
    _table("metric suite throughput", rows)
    report = reports.write_report("pipeline", "events/s through the metric suite", rows, meta=reports.run_info(),
                                  details={"runs": [asdict(r) for r in results]})
    console.print(f"report: {report}")


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
    (kill -9 a TaskManager; restart the only broker, or kill one of 3 and the JobManager in
    the multi-node mode; stop PostgreSQL for 60 s; a 10x burst for 60 s) and report, per
    scenario: events sent / acknowledged / in Kafka, `verify` differences in the closed
    windows, the worst freshness during the fault, the time until it is back under the
    target, and whether anyone had to act. Needs `clickpulse demo` (stack, suite, collector)
    running. Writes reports/bench-faults-TIMESTAMP.md with a freshness plot.

    Example: clickpulse bench faults --quick --rate 500
    """
    settings = ensure_secrets()
    topology = services.topology(settings)
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
        with console.status(scenario.name) as spinner:
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
    return {"scenario": o.scenario, "sent": o.sent, "acknowledged": o.acked, "in Kafka": o.in_kafka,
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
