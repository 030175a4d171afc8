"""The multi-node mode on one machine, as the README starts it: 3 KRaft brokers whose topics
have 3 replicas and min.insync.replicas=2, 2 TaskManagers, and a JobManager with
ZooKeeper HA. The JobManager is killed with SIGKILL under a running job (one metric of the
suite, to keep the test light): the supervisor
starts it again, and the job comes back from ZooKeeper and its checkpoint, the same job,
with nobody resubmitting it. Runs on a throwaway stack (own ports and state dir)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from clickpulse.paths import state_dir
from clickpulse.stack import procs
from conftest import run_cli
from suites import port_free



def _free_block(size: int) -> int:
    """`size` consecutive free ports (brokers and controllers of the cluster)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size < 65000 and all(port_free(base + i) for i in range(size)):
            return base


@pytest.fixture(scope="module")
def cluster():
    home = state_dir() / "test-stacks" / f"multi-{uuid.uuid4().hex[:8]}"
    home.mkdir(parents=True)
    kafka = _free_block(6)
    rest, rpc, pg, zk = _free_block(1), _free_block(1), _free_block(1), _free_block(1)
    env = {**os.environ, "CLICKPULSE_HOME": str(home), "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
           "FLINK_REST_URL": f"http://127.0.0.1:{rest}", "FLINK_RPC_PORT": str(rpc), "POSTGRES_PORT": str(pg),
           "ZOOKEEPER_PORT": str(zk), "CLICKPULSE_TASKMANAGER_MEMORY": "1536m",
           "CLICKPULSE_CHECKPOINT_INTERVAL_MS": "3000"}
    try:
        run_cli("stack", "up", "--only", "postgres,kafka,flink", "--kafka-brokers", "3", "--taskmanagers", "2",
                env=env, timeout=400)
        yield {"env": env, "home": home, "kafka": kafka, "rest": f"http://127.0.0.1:{rest}"}
    finally:
        run_cli("stack", "clean", env=env)


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _status(env) -> dict[str, dict]:
    res = run_cli("stack", "status", "--json", env=env, check=False)
    return {r["name"]: r for r in json.loads(res.stdout)["services"]}


def test_three_brokers_two_taskmanagers_and_replicated_topics(cluster):
    env = cluster["env"]
    bootstrap = ",".join(f"127.0.0.1:{cluster['kafka'] + 2 * i}" for i in range(3))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 3
    events = md.topics["clickpulse.events"]
    assert all(len(p.replicas) == 3 for p in events.partitions.values())
    resource = ConfigResource(ConfigResource.Type.TOPIC, "clickpulse.events")
    config = admin.describe_configs([resource])[resource].result()
    assert config["min.insync.replicas"].value == "2"
    assert _get(cluster["rest"] + "/overview")["taskmanagers"] == 2
    assert run_cli("stack", "env", "--no-logins", env=env).stdout.count("127.0.0.1:") >= 3


def test_a_stack_up_for_another_topology_is_refused_and_changes_nothing(cluster):
    # a .env copied with CLICKPULSE_KAFKA_BROKERS=1 asks for the single broker, whose port
    # broker 1 of the three holds
    env = {**cluster["env"], "CLICKPULSE_KAFKA_BROKERS": "1", "CLICKPULSE_TASKMANAGERS": "1"}
    res = run_cli("stack", "up", "--only", "kafka", env=env, check=False)
    assert res.returncode == 1
    assert "the running stack has 3 Kafka broker(s) and 2 TaskManager(s)" in res.stderr
    assert "`clickpulse stack down`" in res.stderr
    # the saved topology stays, so the supervisor and a plain `stack up` still know all three
    assert json.loads((cluster["home"] / "run" / "topology.json").read_text()) == {"kafka_brokers": 3,
                                                                                     "taskmanagers": 2}
    assert {"kafka-1", "kafka-2", "kafka-3"} <= set(_status(cluster["env"]))


def _pid_of(home: Path, unit: str) -> int:
    return int((home / "run" / f"{unit}.pid").read_text())


def _restarts(home: Path, unit: str) -> list[dict]:
    path = home / "logs" / "restarts.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [e for e in map(json.loads, lines) if e["unit"] == unit]


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if got := check():
                return got
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(what)


def test_jobmanager_killed_the_job_runs_again_without_resubmission(cluster):
    env, home = cluster["env"], cluster["home"]
    run_cli("db", "migrate", env=env)
    run_cli("jobs", "submit", "--metric", "events_per_minute", env=env, timeout=400)  # one metric: a light job
    jobs = _get(cluster["rest"] + "/jobs/overview")["jobs"]
    assert [j["state"] for j in jobs] == ["RUNNING"]
    jid = jobs[0]["jid"]
    _wait(lambda: _get(f"{cluster['rest']}/jobs/{jid}/checkpoints")["counts"]["completed"] > 0, 240,
          "no checkpoint before the crash")

    jobmanager = procs.children(_pid_of(home, "flink-jobmanager"))
    assert jobmanager, "no JobManager process"
    for pid in jobmanager:
        os.kill(pid, signal.SIGKILL)

    _wait(lambda: any(e["event"] == "restarted" for e in _restarts(home, "flink-jobmanager")), 180,
          "the supervisor did not restart the JobManager")
    again = _wait(lambda: [j for j in _get(cluster["rest"] + "/jobs/overview")["jobs"] if j["state"] == "RUNNING"],
                  180, "the job did not run again after the JobManager's death")
    assert [j["jid"] for j in again] == [jid], "the same job, recovered from ZooKeeper, not a new submission"
    died = next(e for e in _restarts(home, "flink-jobmanager") if e["event"] == "died")
    assert "SIGKILL" in died["reason"]
    rows = _status(env)
    assert rows["flink-jobmanager"]["healthy"] and rows["flink-taskmanager-2"]["healthy"]


def test_a_killed_broker_is_restarted_and_rejoins(cluster):
    env, home = cluster["env"], cluster["home"]
    for pid in procs.children(_pid_of(home, "kafka-2")):
        os.kill(pid, signal.SIGKILL)
    _wait(lambda: any(e["event"] == "restarted" for e in _restarts(home, "kafka-2")), 180,
          "the supervisor did not restart broker 2")
    bootstrap = f"127.0.0.1:{cluster['kafka']}"
    _wait(lambda: len(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=5).brokers) == 3, 120,
          "broker 2 did not rejoin the cluster")
    assert _status(env)["kafka-2"]["healthy"]
