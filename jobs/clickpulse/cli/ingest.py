"""`clickpulse generate` and `clickpulse collect`: the two ways events get into Kafka."""

from __future__ import annotations

from pathlib import Path

import typer

from ..ingest import collector, feed
from ..settings import get_settings


def collect(
    host: str = typer.Option(None, "--host", help="Address to listen on (default COLLECTOR_HOST)."),
    port: int = typer.Option(None, "--port", help="Port to listen on (default COLLECTOR_PORT)."),
    workers: int = typer.Option(1, "--workers", min=1, max=64,
                                help="Processes sharing the port (SO_REUSEPORT), one Kafka producer each."),
) -> None:
    """Run the HTTP collector: POST /collect (events as JSON or sendBeacon text), the browser
    snippet at /clickpulse.js, a demo shop at /demo, GET /health and GET /metrics.

    A request gets 2xx only once Kafka has acknowledged all of its events; invalid events get
    400 with the reason and go to the dead-letter topic; 503 while Kafka is unreachable.
    Settings: COLLECTOR_* (see .env.example).

    Example: clickpulse collect --port 8090
    """
    s = get_settings()
    collector.run(s, host or s.collector_host, port or s.collector_port, workers)


def generate(
    rate: float = typer.Option(None, "--rate", min=0.0,
                               help="Events per second of event time, averaged over the daily cycle "
                                    "(default CLICKPULSE_GENERATOR_RATE)."),
    speed: float = typer.Option(1.0, "--speed", min=0.0,
                                help="Event-time seconds sent per wall-clock second; 0 sends as fast as "
                                     "possible (event time then runs ahead of the clock)."),
    duration: str = typer.Option(None, "--duration",
                                 help="Event time to simulate, e.g. 90s, 10m, 2h. With neither --duration "
                                      "nor --events the generator runs until stopped."),
    events: int = typer.Option(None, "--events", min=1, help="Stop after this many records."),
    sites: int = typer.Option(3, "--sites", min=1, help="How many sites (site ids PREFIX-1..PREFIX-N)."),
    site_prefix: str = typer.Option("site", "--site-prefix", help="Site ids are PREFIX-1, PREFIX-2, ..."),
    seed: int = typer.Option(None, "--seed", help="Same seed and options, same events (ids, users, order); "
                                                   "add --start for identical timestamps too."),
    start: str = typer.Option(None, "--start", help="Event time of the first event: epoch ms, ISO 8601 "
                                                     "or relative like -10m (default: now)."),
    out_of_order: float = typer.Option(None, "--out-of-order", min=0.0, max=1.0,
                                       help="Fraction sent late by at most half the watermark delay."),
    late: float = typer.Option(None, "--late", min=0.0, max=1.0,
                               help="Fraction stamped 1-10 min behind the watermark (after a warm-up)."),
    duplicates: float = typer.Option(None, "--duplicates", min=0.0, max=1.0,
                                     help="Fraction sent twice (identical payload, same event_id)."),
    malformed: float = typer.Option(None, "--malformed", min=0.0, max=1.0,
                                    help="Fraction of broken records: not JSON, a required field "
                                         "missing, a wrong type."),
    bots: float = typer.Option(0.0, "--bots", min=0.0, max=0.9,
                               help="Fraction of records that are bot traffic: crawlers with declared "
                                    "User-Agents and scrapers' bursts, marked `bot` by the collector's rules."),
    funnel: list[str] = typer.Option(None, "--funnel",
                                     help="Conversion rates of a funnel's steps, e.g. "
                                          "--funnel signup=0.3,0.4 (landing->signup, signup->purchase)."),
    profile: Path = typer.Option(None, "--profile", exists=True, dir_okay=False,
                                 help="YAML file overriding traffic settings (segments, pages, funnels)."),
    daily_amplitude: float = typer.Option(None, "--daily-amplitude", min=0.0, max=1.0,
                                          help="Strength of the daily cycle: 0 flat, 0.5 peak 1.5x / trough 0.5x."),
    replay: Path = typer.Option(None, "--replay", exists=True, dir_okay=False,
                                help="Send a recorded CSV or JSONL log instead of simulated traffic."),
    mapping: str = typer.Option(None, "--map", help="Replay: event field=column or =template, e.g. "
                                                    "ts=timestamp,user_id=visitorid,page=/products/{itemid}."),
    event_names: str = typer.Option(None, "--event-names",
                                    help="Replay: rename event types, e.g. view=page_view,addtocart=add_to_cart."),
    site: str = typer.Option(None, "--site", help="Replay: site_id for rows without one."),
    keep_time: bool = typer.Option(False, "--keep-time",
                                   help="Replay: keep recorded timestamps instead of moving the log to now."),
    truth: Path = typer.Option(None, "--truth", dir_okay=False,
                               help="Bounded runs: write the records sent (FILE.records.jsonl) and every "
                                    "metric's exact rows (FILE) from clickpulse.truth."),
    topic: str = typer.Option(None, "--topic", help="Kafka topic (default CLICKPULSE_EVENTS_TOPIC)."),
    workers: int = typer.Option(1, "--workers", min=1, max=16,
                                help="Processes, each simulating 1/N of the users (for rates above ~100k/s)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar; one summary line at the end."),
) -> None:
    """Send synthetic clickstream traffic to Kafka: users with sessions arriving on a daily
    cycle, a page graph, the funnels of sql/funnels.yaml with set conversion rates, country/
    device/plan segments, and chosen fractions of out-of-order, late, duplicate and malformed
    records. Or replay a recorded log with --replay.

    Example: clickpulse generate --rate 500 --sites 3 --duration 10m --seed 7
    """
    feed.main(**locals())


def register(app: typer.Typer) -> None:
    app.command("collect")(collect)
    app.command("generate")(generate)
