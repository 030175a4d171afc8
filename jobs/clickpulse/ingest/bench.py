"""Ingestion benchmarks: events/s the generator pushes into Kafka, and events/s and latency
of the collector under load from wrk. Both write into a throwaway topic with the events
topic's partition count, so the running pipeline never sees bench traffic, and both check
afterwards that Kafka holds every record that was acknowledged."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
from confluent_kafka.admin import AdminClient, NewTopic

from ..errors import ClickpulseError
from ..settings import Settings
from ..stack.kafka import records_in
from ..stack.procs import kill_group
from .faults import DEMO_RATES
from .feed import Run, run_many, run_one, site_ids
from .producer import quiet_logger


@contextmanager
def bench_topic(settings: Settings, name: str):
    """A topic shaped like the events topic, deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers,
                         "logger": quiet_logger("clickpulse.bench.kafka")})
    topic = f"clickpulse.bench.{name}.{uuid.uuid4().hex[:8]}"
    try:
        for fut in admin.create_topics([NewTopic(topic, settings.events_partitions, 1)],
                                       operation_timeout=30).values():
            fut.result()
    except Exception as e:  # noqa: BLE001
        raise ClickpulseError(f"cannot create a bench topic on Kafka at {settings.kafka_bootstrap_servers} ({e}): "
                              "is it running (`clickpulse stack status`)? KAFKA_BOOTSTRAP_SERVERS") from e
    try:
        yield topic
    finally:
        for fut in admin.delete_topics([topic], operation_timeout=30).values():
            try:
                fut.result()
            except Exception:  # noqa: BLE001 - best effort; it is a bench topic
                pass


# --- the generator ------------------------------------------------------------------------------

def generate(settings: Settings, *, events: int, workers: int, rate: float, progress=None) -> dict:
    """Push `events` records as fast as possible (speed 0) with the demo's mix of faults."""
    with bench_topic(settings, "generate") as topic:
        run = Run(settings=settings, topic=topic, rate=rate, speed=0.0, seed=1,
                  start_ms=int(time.time() * 1000) - int(events / rate * 1000), sites=site_ids(3, "bench-gen"),
                  site_prefix="bench-gen", limit=events, rates=DEMO_RATES, workers=workers)
        stats = run_many(run, progress=progress) if workers > 1 else run_one(run, progress=progress)
        in_kafka = records_in(settings, topic)
    if stats.failed or in_kafka != stats.records:
        raise ClickpulseError(f"bench generate: {stats.records} records sent, {in_kafka} in Kafka, "
                              f"{stats.failed} failed ({stats.first_error})")
    return {"workers": workers, "records": stats.records, "seconds": round(stats.seconds, 2),
            "records_per_s": round(stats.rate), "in_kafka": in_kafka, "load_after": round(os.getloadavg()[0], 2)}


# --- the collector -------------------------------------------------------------------------------

WRK_SCRIPT = r"""
-- clickpulse collector load: every request posts BATCH events with ids unique per thread
local batch, site = __BATCH__, "__SITE__"
local threads, counter = {}, 0
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
function init(args)
  math.randomseed(os.time() * 1000 + tid)
  prefix = string.format("%d-%x", tid, math.random(0, 0xffffff))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end
function request()
  local now = os.time() * 1000
  local parts = {}
  for i = 1, batch do
    counter = counter + 1
    parts[i] = string.format('{"event_id":"%s-%d","event_type":"page_view","site_id":"%s","user_id":"u%d",' ..
      '"ts":%d,"page":"/products/%d","country":"US"}', prefix, counter, site, counter % 5000, now, counter % 40)
  end
  return wrk.format(nil, nil, nil, "[" .. table.concat(parts, ",") .. "]")
end
function done(summary, latency, requests)
  io.write(string.format('CPJSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def _wrk(url: str, script: Path, seconds: int, connections: int, threads: int) -> dict:
    res = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
                          "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60)
    line = next((l for l in res.stdout.splitlines() if l.startswith("CPJSON ")), None)
    if res.returncode != 0 or line is None:
        raise ClickpulseError(f"wrk failed: {(res.stdout + res.stderr).strip()[-300:]}")
    return json.loads(line[len("CPJSON "):])


def _accepted(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith('clickpulse_collector_events_total{outcome="accepted"}'):
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


def collect(settings: Settings, *, seconds: int, batches: list[int], connections: int, threads: int,
            collector_workers: int, progress=None) -> list[dict]:
    """One wrk run per batch size against a collector of its own; events/s and latency."""
    if not shutil.which("wrk"):
        raise ClickpulseError("bench collect drives the collector with wrk: apt-get install wrk")

    results = []
    with bench_topic(settings, "collect") as topic, tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "CLICKPULSE_EVENTS_TOPIC": topic, "COLLECTOR_WRITE_KEYS": "",
               "COLLECTOR_USER_ID_KEY": "", "COLLECTOR_GEOIP_DB": ""}
        exe = Path(sys.executable).parent / "clickpulse"
        log = Path(tmp) / "collector.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([str(exe), "collect", "--port", str(port), "--workers", str(collector_workers)],
                                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ClickpulseError(f"the collector did not start: {log.read_text()[-300:]}")
                time.sleep(0.2)
            task = progress.add_task("wrk", total=len(batches) * (seconds + 2)) if progress else None
            for batch in batches:
                script = Path(tmp) / f"load-{batch}.lua"
                script.write_text(WRK_SCRIPT.replace("__BATCH__", str(batch)).replace("__SITE__", "bench-collect"))
                _wrk(f"{url}/collect", script, 2, connections, threads)  # warm-up, not counted
                if task is not None:
                    progress.update(task, advance=2, description=f"wrk, batches of {batch}")
                before = _accepted(url)
                w = _wrk(f"{url}/collect", script, seconds, connections, threads)
                accepted = _accepted(url) - before
                if task is not None:
                    progress.update(task, advance=seconds)
                secs = w["duration_us"] / 1e6
                results.append({
                    "batch": batch, "connections": connections, "wrk_threads": threads,
                    "collector_workers": collector_workers, "seconds": round(secs, 1), "requests": w["requests"],
                    "requests_per_s": round(w["requests"] / secs), "events_per_s": round(accepted / secs),
                    "events_acknowledged": accepted, "non_2xx": w["status_errors"],
                    "socket_errors": w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
                    "p50_ms": round(w["p50_us"] / 1000, 2), "p90_ms": round(w["p90_us"] / 1000, 2),
                    "p99_ms": round(w["p99_us"] / 1000, 2), "max_ms": round(w["max_us"] / 1000, 2),
                })
            total_acked = _accepted(url)
        finally:
            kill_group(proc.pid, 30)
        in_kafka = records_in(settings, topic)
    if in_kafka < total_acked:
        raise ClickpulseError(f"bench collect: {total_acked} events acknowledged but only {in_kafka} in Kafka")
    for r in results:
        r["load_after"] = round(os.getloadavg()[0], 2)
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
