"""Kafka going away under load: the collector answers 503 while it is gone, recovers by
itself when it is back, and every event it acknowledged (2xx) is in Kafka — zero
acknowledged-but-missing. Uses a throwaway Kafka on its own ports and state dir, never the
shared one."""

from __future__ import annotations

import os
import threading
import time
import uuid

import httpx
import pytest

from clickpulse.paths import state_dir
from conftest import run_cli
from suites import port_free

from .support import KafkaTail, collector_process, event, free_port


@pytest.fixture
def throwaway_kafka():
    while True:
        port = free_port()
        if all(port_free(p) for p in (port + 1,)):
            break
    home = state_dir() / "test-stacks" / f"ingest-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    env = {**os.environ, "CLICKPULSE_HOME": str(home), "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    try:
        run_cli("stack", "up", "--only", "kafka", env=env)
        yield env
    finally:
        run_cli("stack", "clean", env=env)



class Client(threading.Thread):
    """Sends batches of 5 events back to back and remembers what each answer was."""

    def __init__(self, url: str, site: str):
        super().__init__(daemon=True)
        self.url, self.site = url, site
        self.acked: list[str] = []
        self.refused: list[str] = []
        self.statuses: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self.halt.is_set():
                batch = [event(self.site, user_id=f"u{i % 7}") for i in range(5)]
                ids = [e["event_id"] for e in batch]
                try:
                    r = http.post(f"{self.url}/collect", json=batch)
                    status = r.status_code
                except httpx.HTTPError:
                    status = 0
                self.statuses.append((time.monotonic(), status))
                (self.acked if 200 <= status < 300 else self.refused).extend(ids)
                if status == 503:
                    assert r.headers.get("Retry-After")
                    time.sleep(0.05)

    def count(self, status: int, since: float = 0) -> int:
        return sum(1 for t, s in self.statuses if s == status and t >= since)


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_kafka_stopped_mid_run_loses_no_acknowledged_event(throwaway_kafka, tmp_path):
    env = throwaway_kafka
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    site = f"test-{uuid.uuid4().hex[:10]}"
    tail = KafkaTail(bootstrap, "clickpulse.events", from_beginning=True)
    start_offsets = tail.start
    tail.close()
    with collector_process(tmp_path, {**env, "COLLECTOR_KAFKA_TIMEOUT_MS": "3000"}) as c:
        client = Client(c.url, site)
        client.start()
        _wait(lambda: client.count(200) >= 20, 60, "no 200s before the outage")

        run_cli("stack", "stop", "kafka", env=env)
        down_since = time.monotonic()
        _wait(lambda: client.count(503, down_since) >= 10, 60, "no 503s while Kafka is down")
        health = httpx.get(f"{c.url}/health")
        assert health.status_code == 503 and health.json()["kafka"] == "down"

        run_cli("stack", "up", "--only", "kafka", env=env)
        up_since = time.monotonic()
        _wait(lambda: client.count(200, up_since) >= 20, 90, "no 200s after Kafka came back")
        client.halt.set()
        client.join(timeout=60)
        assert httpx.get(f"{c.url}/health").status_code == 200

    assert {s for _, s in client.statuses} <= {200, 503}, "only 200 or 503 are expected"
    tail = KafkaTail(bootstrap, "clickpulse.events")
    tail.start = start_offsets
    in_kafka = {r.event["event_id"] for r in tail.read(site, count=len(client.acked), timeout=60)}
    tail.close()
    missing = set(client.acked) - in_kafka
    assert not missing, f"{len(missing)} of {len(client.acked)} acknowledged events are not in Kafka"
    assert client.count(503) >= 10 and len(client.acked) >= 200
