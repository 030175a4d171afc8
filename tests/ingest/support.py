"""Helpers for the ingestion tests: read back what reached Kafka, run a collector process."""

from __future__ import annotations

import fnmatch
import os
import socket
import subprocess
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import httpx
import orjson
import yaml
from confluent_kafka import Consumer, KafkaException, TopicPartition

from clickpulse.paths import SQL_DIR
from conftest import CLI, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Record:
    key: bytes | None
    value: bytes
    partition: int
    offset: int

    @property
    def event(self) -> dict:
        return orjson.loads(self.value)


class KafkaTail:
    """What arrives on a topic from now on: the end offsets are taken when it is created,
    so a test reads only records written after that (and filters on its own site_id)."""

    def __init__(self, bootstrap: str, topic: str, from_beginning: bool = False):
        self.topic = topic
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}",
                                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        md = self.consumer.list_topics(topic, timeout=10)
        assert topic in md.topics and md.topics[topic].error is None, f"topic {topic} missing"
        self.start = []
        for p in md.topics[topic].partitions:
            low, high = self._offsets(TopicPartition(topic, p))
            self.start.append(TopicPartition(topic, p, low if from_beginning else high))

    def _offsets(self, tp) -> tuple[int, int]:
        deadline = time.monotonic() + 60
        while True:
            try:
                return self.consumer.get_watermark_offsets(tp, timeout=10)
            except KafkaException:
                # a broker that just started may still be electing partition leaders
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def read(self, marker: str, count: int | None = None, timeout: float = 30.0, settle: float = 1.0) -> list[Record]:
        """Records containing `marker` (a site id, say): until `count` are there (then `settle`
        seconds more, to catch extras), or until `timeout`."""
        self.consumer.assign(self.start)
        needle = marker.encode()
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        settle_until = None
        while time.monotonic() < (settle_until or deadline):
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            if needle in msg.value():
                found.append(Record(msg.key(), msg.value(), msg.partition(), msg.offset()))
                if count is not None and len(found) >= count and settle_until is None:
                    settle_until = min(deadline, time.monotonic() + settle)
        return found

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Collector:
    url: str
    proc: subprocess.Popen
    log: Path

    def post(self, body, *, content_type: str = "application/json", headers: dict | None = None,
             params: dict | None = None, client: httpx.Client | None = None) -> httpx.Response:
        data = body if isinstance(body, (bytes, str)) else orjson.dumps(body)
        h = {"Content-Type": content_type, **(headers or {})} if content_type else dict(headers or {})
        c = client or httpx
        return c.post(f"{self.url}/collect", content=data, headers=h, params=params, timeout=30)

    def alive(self) -> bool:
        return self.proc.poll() is None


@contextmanager
def collector_process(log_dir: Path, env: dict | None = None, expect_kafka: bool = True):
    """`clickpulse collect` as a user starts it, on a free port, with `env` on top."""
    port = free_port()
    log = log_dir / f"collector-{port}.log"
    full_env = {**os.environ, "COLLECTOR_HOST": "127.0.0.1", "COLLECTOR_PORT": str(port), **(env or {})}
    with log.open("wb") as out:
        proc = subprocess.Popen([*CLI, "collect"], env=full_env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"collector exited: {log.read_text()[-2000:]}"
            try:
                r = httpx.get(f"{url}/health", timeout=2)
                if r.status_code == 200 or not expect_kafka:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"collector not healthy in 60 s: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield Collector(url, proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def event(site: str, **fields) -> dict:
    ev = {"event_id": uuid.uuid4().hex, "event_type": "page_view", "site_id": site, "user_id": "u-1",
          "ts": int(time.time() * 1000), "page": "/"}
    ev.update(fields)
    return ev


@lru_cache(maxsize=1)
def funnels() -> list[dict]:
    return yaml.safe_load((SQL_DIR / "funnels.yaml").read_text())["funnels"]


def funnel_length(name: str) -> int:
    return next(len(f["steps"]) for f in funnels() if f["name"] == name)


def step_matches(step: dict, e: dict) -> bool:
    """A funnel step of sql/funnels.yaml (event_type, page, page_like) against one event."""
    if e.get("event_type") != step["event_type"]:
        return False
    if "page" in step:
        pages = step["page"] if isinstance(step["page"], list) else [step["page"]]
        return e.get("page") in pages
    if "page_like" in step:
        likes = step["page_like"] if isinstance(step["page_like"], list) else [step["page_like"]]
        return any(fnmatch.fnmatchcase(e.get("page", ""), p.replace("%", "*").replace("_", "?")) for p in likes)
    return True


def funnel_steps_reached(events: list[dict]) -> dict[str, int]:
    """How far each funnel gets through `events` (one user's, in time order)."""
    out = {}
    for funnel in funnels():
        i = 0
        for e in events:
            if i < len(funnel["steps"]) and step_matches(funnel["steps"][i], e):
                i += 1
        out[funnel["name"]] = i
    return out
