"""`clickpulse bench`: load and latency benchmarks."""

from __future__ import annotations

import secrets
from dataclasses import asdict

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .. import reports
from ..dashboards import bench as dashboards_bench, benchdata, rls
from ..dashboards.client import admin_session
from ..dashboards.roles import SITE_VIEWER, Security
from ..dashboards.sync import bind_site_viewer
from ..db.migrations import detect_backend
from ..errors import ClickpulseError
from ..gateway import bench as viewers_bench, freshness as freshness_bench
from ..ingest import bench as ingest_bench
from ..runner import bench as pipeline_bench
from ..settings import get_settings
from ..stack import postgres
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
