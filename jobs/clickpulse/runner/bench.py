"""`clickpulse bench pipeline`: how many events per second the metric suite processes.

The events are produced first, into a topic of their own, by `clickpulse generate` as fast
as it can; then a separate deployment of the suite (its own job name, consumer group and
database, so a running demo is not disturbed) reads the backlog, and its source's record
counter is sampled until every record has been read. That measures the suite's own
throughput, not the generator's. After a flush the time until the last windows are in
PostgreSQL is measured too."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from ..errors import ClickpulseError
from ..paths import ROOT
from ..settings import Settings
from ..stack.kafka import admin
from ..stack.postgres import connect
from .deploy import Flink


@dataclass
class Result:
    events: int
    parallelism: int
    raw_events: bool
    produce_s: float
    produce_rate: float
    consume_s: float
    consume_rate: float
    peak_rate: float
    flush_to_tables_s: float
    rows_written: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)


def _cli(args: list[str], env: dict, timeout: float = 3600) -> str:
    exe = Path(sys.executable).parent / "clickpulse"
    res = subprocess.run([str(exe), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if res.returncode != 0:
        raise ClickpulseError(f"`clickpulse {' '.join(args)}` failed: {(res.stdout + res.stderr).strip()[-500:]}")
    return res.stdout + res.stderr


def _source_records(flink: Flink, jid: str) -> int:
    """Records the job's Kafka source has emitted so far (all subtasks)."""
    job = flink.call(f"/jobs/{jid}")
    source = next(v for v in job["vertices"] if v["name"].startswith("Source:"))
    return int(source["metrics"]["write-records"])


def run(settings: Settings, events: int, parallelism: int, raw_events: bool, workers: int, progress=None,
        keep: bool = False) -> Result:
    tag = uuid.uuid4().hex[:8]
    env = {**os.environ, "CLICKPULSE_EVENTS_TOPIC": f"bench-{tag}", "CLICKPULSE_DEAD_LETTER_TOPIC": f"bench-{tag}-dlq",
           "CLICKPULSE_JOB_NAME": f"clickpulse-bench-{tag}", "POSTGRES_DB": f"clickpulse_bench_{tag}",
           "CLICKPULSE_PARALLELISM": str(parallelism), "CLICKPULSE_RAW_EVENTS": str(raw_events).lower()}
    flink = Flink(settings.flink_rest_url)
    step = progress.add_task("prepare topic and database", total=None) if progress else None
    try:
        _cli(["stack", "topics"], env)
        _cli(["db", "migrate"], env)
        if progress:
            progress.update(step, description=f"produce {events:,} events", total=None)
        # Event time from yesterday 08:00 UTC: the flush moves event time only up to about
        # now (events more than CLICKPULSE_MAX_FUTURE_MS ahead are invalid), so the day of
        # the traffic must be over for its cumulating window to close.
        day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(8, 0), dt.timezone.utc).isoformat()
        t0 = time.monotonic()
        _cli(["generate", "--topic", env["CLICKPULSE_EVENTS_TOPIC"], "--events", str(events), "--speed", "0",
              "--rate", "2000", "--start", start, "--seed", "1", "--workers", str(workers), "--quiet"], env)
        produce_s = time.monotonic() - t0
        if progress:
            progress.update(step, description="submit the suite", total=None)
        _cli(["jobs", "submit", "--fresh"], env, timeout=600)
        jid = next(j.jid for j in flink.active(env["CLICKPULSE_JOB_NAME"]))
        if progress:
            progress.update(step, description="suite reads the backlog", total=events, completed=0)
        samples, start, last = [], None, (time.monotonic(), 0)
        peak = 0.0
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            time.sleep(2)
            n, now = _source_records(flink, jid), time.monotonic()
            if n > 0 and start is None:
                start = last   # the first records arrived since the previous sample
            rate = (n - last[1]) / (now - last[0])
            peak = max(peak, rate)
            samples.append({"t": round(now - t0, 1), "records": n, "rate": round(rate)})
            last = (now, n)
            if progress:
                progress.update(step, completed=min(n, events))
            if n >= events:
                break
        else:
            raise ClickpulseError(f"the suite read {last[1]:,} of {events:,} records in an hour")
        consume_s = last[0] - start[0]
        if progress:
            progress.update(step, description="flush: the last windows into PostgreSQL", total=None)
        t1 = time.monotonic()
        _cli(["jobs", "flush"], env)
        rows = _wait_for_last_windows(settings, env["POSTGRES_DB"], t1)
        flush_s = time.monotonic() - t1
        return Result(events, parallelism, raw_events, round(produce_s, 1), round(events / produce_s),
                      round(consume_s, 1), round(events / consume_s), round(peak), round(flush_s, 1), rows,
                      samples)
    finally:
        if not keep:
            _cli(["jobs", "stop"], env)

            admin(settings).delete_topics([env["CLICKPULSE_EVENTS_TOPIC"], env["CLICKPULSE_DEAD_LETTER_TOPIC"]])
            with connect(settings, "admin", "postgres", autocommit=True) as c:
                c.execute(f'drop database if exists "{env["POSTGRES_DB"]}" with (force)')


def _wait_for_last_windows(settings: Settings, db: str, since: float, timeout: float = 600) -> dict:
    """Wait until the daily table shows the whole day counted (the flush closed it)."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(settings.dsn("reader", db)) as c:
            open_days = c.execute("select count(*) from active_users_daily "
                                  "where updated_through < (day + 1)::timestamptz").fetchone()[0]
            sessions = c.execute("select count(*) from sessions_1h").fetchone()[0]
            if open_days == 0 and sessions > 0:
                return {t: c.execute(f"select count(*) from {t}").fetchone()[0]
                        for t in ("events_per_minute", "active_users_1m", "active_users_live", "active_users_daily",
                                  "top_pages_1m", "top_pages_1h", "sessions_1h", "funnel_conversions", "events",
                                  "late_events", "invalid_events")}
        time.sleep(2)
    raise ClickpulseError(f"the last windows did not reach PostgreSQL within {timeout:.0f} s of the flush")
