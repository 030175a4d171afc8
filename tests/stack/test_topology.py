"""The topology a running stack keeps: what the last `stack up` started, whatever the
settings say later. A supervisor that read CLICKPULSE_KAFKA_BROKERS=1 from a copied .env
watched broker 1 of three and let the other two stay dead (bench faults, multi-node)."""

from __future__ import annotations

import json

import pytest

from clickpulse.settings import Settings
from clickpulse.stack import services


@pytest.fixture
def started_three_brokers(tmp_path, monkeypatch):
    monkeypatch.setenv("CLICKPULSE_HOME", str(tmp_path))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "topology.json").write_text(json.dumps({"kafka_brokers": 3, "taskmanagers": 2}))
    # what a .env copied from an older .env.example said
    return Settings(CLICKPULSE_KAFKA_BROKERS=1, CLICKPULSE_TASKMANAGERS=1)


def test_the_supervisor_watches_every_node_the_last_stack_up_started(started_three_brokers):
    units = services.units(started_three_brokers)
    assert {"kafka-1", "kafka-2", "kafka-3", "flink-taskmanager-1", "flink-taskmanager-2"} <= set(units)
    assert "kafka" not in units


def test_clients_and_status_follow_the_running_topology_not_the_settings(started_three_brokers):
    assert services.running_topology(started_three_brokers) == services.Topology(3, 2)
    assert services.kafka_bootstrap(started_three_brokers).count(",") == 2
    # only a `stack up` reads the settings (and is refused while the other topology runs)
    assert services.topology(started_three_brokers) == services.Topology(1, 1)


def test_before_any_stack_up_the_settings_decide(tmp_path, monkeypatch):
    monkeypatch.setenv("CLICKPULSE_HOME", str(tmp_path))
    assert services.running_topology(Settings(CLICKPULSE_KAFKA_BROKERS=3)) == services.Topology(3, 1)
