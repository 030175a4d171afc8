"""`clickpulse generate`: from options to records in Kafka (simulated or replayed), with a
progress bar, a summary line, and the ground truth of a bounded run."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
import re
import secrets
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import orjson
from confluent_kafka.admin import AdminClient
from rich.console import Console
from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..errors import ClickpulseError
from ..progress import Progress
from ..settings import Settings, get_settings
from ..truth import compute as compute_truth
from .bottraffic import BotTraffic
from .faults import DEMO_RATES, FaultRates
from .producer import partition_of, quiet_logger
from .replay import chunked, parse_mapping, parse_names, records as replayed_records
from .sender import KafkaOut, Stats, check_delivered, pump
from .simulation import SLICE_MS, Simulation
from .traffic import Profile, parse_funnel_option

console = Console(stderr=True)
_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str, option: str = "--duration") -> int:
    """'90s', '10m', '2h', '1d', '500ms' or plain seconds, as milliseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*", text or "")
    if not m:
        raise ClickpulseError(f"{option} {text!r}: expected a duration like 90s, 10m, 2h")
    return int(float(m.group(1)) * _UNITS[m.group(2) or "s"])


def parse_start(text: str, now_ms: int, option: str = "--start") -> int:
    """Epoch ms, ISO 8601 (UTC unless it says otherwise), `now`, or relative to now: -10m, +1h."""
    text = text.strip()
    if re.fullmatch(r"\d{10,}", text):
        return int(text)
    if text.lower() == "now":
        return now_ms
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        return now_ms + sign * parse_duration(text[1:], option)
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as e:
        raise ClickpulseError(f"{option} {text!r}: expected epoch ms, ISO 8601, now or -10m") from e
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1000)


def site_ids(n: int, prefix: str) -> list[str]:
    return [f"{prefix}-{i}" for i in range(1, n + 1)]


def id_prefix(seed: int, site_prefix: str, worker: int) -> str:
    """Ids differ between seeds and site prefixes (tests use their own prefix), so runs
    never collide in the pipeline's dedup state, yet repeat for the same options."""
    return hashlib.sha1(f"{seed}/{site_prefix}/{worker}".encode()).hexdigest()[:6]


@dataclass
class Run:
    """Everything a run needs, resolved from options and settings."""

    settings: Settings
    topic: str
    rate: float
    speed: float
    seed: int
    start_ms: int
    sites: list[str] = field(default_factory=list)
    site_prefix: str = "site"
    end_ts: int | None = None
    limit: int | None = None
    rates: FaultRates = field(default_factory=FaultRates)
    profile: Profile = field(default_factory=Profile)
    replay: Path | None = None
    mapping: dict = field(default_factory=dict)
    event_names: dict = field(default_factory=dict)
    replay_site: str | None = None
    keep_time: bool = False
    worker: int = 0
    workers: int = 1
    bots: float = 0.0  # share of the records that are bot traffic (ingest/bottraffic.py)

    @property
    def bounded(self) -> bool:
        return self.limit is not None or self.end_ts is not None or self.replay is not None

    @property
    def slice_ms(self) -> int:
        # held records wait up to a slice longer than their jitter (sender.pump), and must
        # still be no more than half the watermark delay behind
        return max(1, min(SLICE_MS, self.settings.watermark_delay_ms // 4))

    def chunks(self):
        if self.replay:
            rows = replayed_records(self.replay, self.mapping, self.event_names, self.replay_site,
                                    None if self.keep_time else self.start_ms)
            return chunked(rows)
        sim = Simulation(self.profile, self.sites, self.rate / self.workers, self.start_ms,
                         self.seed * 1000 + self.worker, id_prefix(self.seed, self.site_prefix, self.worker),
                         slice_ms=self.slice_ms)
        if self.bots > 0:
            traffic = BotTraffic(self.bots, self.sites, self.seed * 1000 + self.worker,
                                 id_prefix(self.seed, self.site_prefix, self.worker), self.settings.collector_bot_rate,
                                 self.profile.products)
            return traffic.wrap(sim.chunks())
        return sim.chunks()


def preflight(settings: Settings, topic: str) -> int:
    """Kafka is there and has the topic; returns its partition count."""
    try:
        md = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers,
                          "logger": quiet_logger("clickpulse.generator.kafka")}).list_topics(timeout=5)
    except Exception as e:  # noqa: BLE001
        raise ClickpulseError(f"Kafka at {settings.kafka_bootstrap_servers} is not reachable ({e}): start it with "
                              "`clickpulse stack up --only kafka` or set KAFKA_BOOTSTRAP_SERVERS") from e
    if topic not in md.topics:
        raise ClickpulseError(f"Kafka topic {topic} does not exist at {settings.kafka_bootstrap_servers}: "
                              "`clickpulse stack up --only kafka` creates it (or set CLICKPULSE_EVENTS_TOPIC)")
    return len(md.topics[topic].partitions)


def run_one(run: Run, *, progress=None, keep: list | None = None, stop=lambda: False) -> Stats:
    stats = Stats()
    out = KafkaOut(run.settings, run.topic, stats)
    return pump(run.chunks(), out, rates=run.rates, watermark_delay_ms=run.settings.watermark_delay_ms,
                seed=run.seed * 1000 + run.worker, limit=run.limit, end_ts=run.end_ts, speed=run.speed,
                slice_ms=run.slice_ms, progress=progress, keep=keep, stop=stop)


def _worker(run: Run, i: int, counts, results, halt) -> None:
    """One worker process: its share of the users (and of --events), its own producer."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        part = replace(run, worker=i, limit=None if run.limit is None else
                       run.limit // run.workers + (1 if i < run.limit % run.workers else 0))

        def report(s: Stats) -> None:
            counts[i] = s.records

        stats = run_one(part, progress=report, stop=halt.is_set)
        results.put(("ok", stats.__dict__))
    except Exception as e:  # noqa: BLE001 - reported by the parent
        results.put(("error", f"worker {i}: {e}"))


def run_many(run: Run, *, progress=None, stop=lambda: False) -> Stats:
    """One process per worker, each with 1/N of the users and its own producer. Spawned,
    not forked: librdkafka does not survive a fork of a process that has used it."""
    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", run.workers, lock=False)
    results = ctx.Queue()
    halt = ctx.Event()
    procs = [ctx.Process(target=_worker, args=(run, i, counts, results, halt), daemon=True)
             for i in range(run.workers)]
    started = time.monotonic()
    for p in procs:
        p.start()
    total = Stats()
    done = 0
    try:
        while done < run.workers:
            try:
                kind, payload = results.get(timeout=0.25)
            except Exception:  # noqa: BLE001 - queue.Empty: report progress meanwhile
                if progress:
                    progress(Stats(records=sum(counts), seconds=time.monotonic() - started))
                if stop():
                    halt.set()
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead and results.empty():
                    raise ClickpulseError(f"a generator worker died (exit code {dead[0]})")
                continue
            done += 1
            if kind == "error":
                halt.set()
                raise ClickpulseError(payload)
            total.add(Stats(**payload))
    finally:
        halt.set()
        for p in procs:
            p.join(timeout=30)
    if progress:
        progress(total)
    return total


class Display:
    """A rich progress bar with the achieved rate; plain lines when not on a terminal."""

    def __init__(self, run: Run, quiet: bool):
        self.run = run
        self.quiet = quiet
        self.tty = console.is_terminal
        self.total = run.limit
        self.progress = None
        self.samples: list[tuple[float, int]] = []
        self.last_line = 0.0

    def __enter__(self):
        if not self.quiet and self.tty:
            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total:
                columns.append(BarColumn())
            columns += [TextColumn("{task.completed:,.0f} records"), TextColumn("[cyan]{task.fields[rate]}"),
                        TextColumn("{task.fields[clock]}"), TimeElapsedColumn()]
            if self.total:
                columns.append(TimeRemainingColumn())
            self.progress = Progress(*columns, console=console)
            self.progress.__enter__()
            self.task = self.progress.add_task(f"-> {self.run.topic}", total=self.total, rate="", clock="")
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.__exit__(*exc)

    def __call__(self, s: Stats) -> None:
        now = time.monotonic()
        self.samples.append((now, s.records))
        self.samples = [x for x in self.samples if now - x[0] <= 3.0]
        (t0, n0), (t1, n1) = self.samples[0], self.samples[-1]
        rate = (n1 - n0) / (t1 - t0) if t1 > t0 else s.rate
        clock = ""
        if s.newest_ts:
            lag = time.time() - s.newest_ts / 1000
            when = dt.datetime.fromtimestamp(s.newest_ts / 1000, dt.timezone.utc).strftime("%H:%M:%S")
            clock = f"event time {when}"
            if abs(lag) >= 2:
                clock += f" ({abs(lag):,.0f}s {'behind' if lag > 0 else 'ahead of'} the clock)"
        if self.progress:
            self.progress.update(self.task, completed=s.records, rate=f"{rate:,.0f}/s", clock=clock)
        elif not self.quiet and now - self.last_line >= 10:
            self.last_line = now
            print(f"generate: {s.records:,} records, {rate:,.0f}/s, {clock}", file=sys.stderr, flush=True)


def summary(stats: Stats, run: Run) -> str:
    parts = [f"sent {stats.records:,} records in {stats.seconds:.1f}s ({stats.rate:,.0f}/s) to {run.topic}"]
    faults = [f"{getattr(stats, k):,} {label}" for k, label in (
        ("out_of_order", "out of order"), ("late", "late"), ("duplicates", "duplicates"), ("malformed", "malformed"))
        if getattr(stats, k)]
    if faults:
        parts.append(", ".join(faults))
    parts.append("all acknowledged by Kafka" if not stats.failed else f"{stats.failed:,} NOT acknowledged")
    return "; ".join(parts)


def write_truth(path: Path, kept: list, watermark_delay_ms: int, partitions: int) -> tuple[Path, int]:
    """The records as sent (JSON lines, in order, with the partition each went to), then
    every metric's rows from clickpulse.truth. Returns (records file, tables written)."""
    records_path = path.with_name(path.name.removesuffix(".json") + ".records.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    # lateness is judged per partition, so the reference needs to know them
    parts = [partition_of(key, partitions) if key else 0 for key, _ in kept]
    with records_path.open("wb") as f:
        for (key, value), part in zip(kept, parts):
            f.write(orjson.dumps({"key": key.decode() if key else None, "value": value, "partition": part}) + b"\n")
    tables = compute_truth([{"payload": v, "kafka_partition": p} for (_, v), p in zip(kept, parts)],
                           watermark_delay_ms=watermark_delay_ms)
    path.write_bytes(orjson.dumps(tables, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str))
    return records_path, len(tables)


def main(*, rate, speed, duration, events, sites, site_prefix, seed, start, out_of_order, late, duplicates,
         malformed, funnel, profile, daily_amplitude, replay, mapping, event_names, site, keep_time, truth,
         topic, workers, quiet, bots=0.0) -> None:
    settings = get_settings()
    rate = settings.generator_rate if rate is None else rate
    if rate <= 0 and not replay:
        raise ClickpulseError("--rate must be above 0 (or set CLICKPULSE_GENERATOR_RATE)")
    seed_given = seed is not None
    seed = seed if seed_given else secrets.randbelow(2**31)
    now_ms = int(time.time() * 1000)
    span = parse_duration(duration) if duration else None
    if start:
        start_ms = parse_start(start, now_ms)
    elif speed == 0 and not replay and (span or events):
        # unpaced bounded runs end near now instead of pushing event time into the future
        # (which would move a live pipeline's watermark past everyone else's events)
        start_ms = now_ms - (span or int(events / rate * 1000))
    else:
        start_ms = now_ms
    if replay:
        defaults = FaultRates()
    else:
        defaults = DEMO_RATES
    rates = FaultRates(
        out_of_order=defaults.out_of_order if out_of_order is None else out_of_order,
        late=defaults.late if late is None else late,
        duplicates=defaults.duplicates if duplicates is None else duplicates,
        malformed=defaults.malformed if malformed is None else malformed,
    )
    if rates.total > 1:
        raise ClickpulseError("--out-of-order, --late, --duplicates and --malformed add up to more than 1")
    prof = Profile.load(profile, funnels=parse_funnel_option(funnel), daily_amplitude=daily_amplitude)
    run = Run(settings=settings, topic=topic or settings.events_topic, rate=rate, speed=speed, seed=seed,
              start_ms=start_ms, sites=site_ids(sites, site_prefix), site_prefix=site_prefix,
              end_ts=start_ms + span if span else None, limit=events, rates=rates, profile=prof,
              workers=workers, bots=bots)
    if replay:
        run.replay, run.mapping, run.event_names = replay, parse_mapping(mapping), parse_names(event_names)
        run.replay_site, run.keep_time, run.end_ts = site, keep_time, None
        run.workers = 1
    if replay and bots:
        raise ClickpulseError("--bots adds simulated bot traffic: it does not apply to --replay")
    if truth and not run.bounded:
        raise ClickpulseError("--truth needs a bounded run: add --duration or --events")
    if truth and run.workers > 1:
        raise ClickpulseError("--truth needs one ordered stream: drop --workers")
    partitions = preflight(settings, run.topic)

    stopping = {"flag": False}

    def on_signal(*_):
        stopping["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not quiet and not seed_given and not replay:
        console.print(f"seed {seed} (pass --seed {seed} to repeat this traffic)", soft_wrap=True)
    kept: list | None = [] if truth else None
    with Display(run, quiet) as display:
        if run.workers > 1:
            stats = run_many(run, progress=display, stop=lambda: stopping["flag"])
        else:
            stats = run_one(run, progress=display, keep=kept, stop=lambda: stopping["flag"])
    console.print(summary(stats, run), highlight=False, soft_wrap=True)
    check_delivered(stats, run.topic, settings.kafka_bootstrap_servers)
    if truth:
        records_path, n = write_truth(truth, kept, settings.watermark_delay_ms, partitions)
        console.print(f"ground truth: {n} tables in {truth}, records in {records_path}", soft_wrap=True)
