"""Apache Kafka in KRaft mode from its jars on Maven Central: one node by default, or a
cluster of combined broker/controller nodes on consecutive ports (`--kafka-brokers 3`)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from string import Template

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from ..errors import ClickpulseError
from ..jars import kafka_classpath
from ..paths import INFRA_DIR, state_dir
from ..settings import Settings
from . import procs

NAME = "kafka"


def port(settings: Settings) -> int:
    return int(settings.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])


def controller_port(settings: Settings) -> int:
    return port(settings) + 1


def home() -> Path:
    return state_dir() / "kafka"


@dataclass(frozen=True)
class Node:
    """One Kafka process: `kafka` alone, or `kafka-1`.. in a cluster."""
    index: int
    name: str
    port: int
    controller_port: int
    home: Path


def nodes(settings: Settings, brokers: int = 1) -> list[Node]:
    if brokers <= 1:
        return [Node(1, NAME, port(settings), controller_port(settings), home())]
    base = port(settings)
    return [Node(i, f"{NAME}-{i}", base + 2 * (i - 1), base + 2 * (i - 1) + 1, home() / f"cluster-{brokers}" / f"node-{i}")
            for i in range(1, brokers + 1)]


def bootstrap(settings: Settings, brokers: int = 1) -> str:
    """Every broker's address: what clients should be given, so that any one of them
    being down does not keep a new client from starting."""
    if brokers <= 1:
        return settings.kafka_bootstrap_servers
    return ",".join(f"127.0.0.1:{n.port}" for n in nodes(settings, brokers))


def java() -> str:
    java = shutil.which("java")
    if not java:
        raise ClickpulseError("Java 17+ is needed for Kafka and Flink: apt-get install openjdk-17-jre-headless")
    return java


def _config(settings: Settings) -> Path:
    home().mkdir(parents=True, exist_ok=True)
    cfg = home() / "server.properties"
    text = Template((INFRA_DIR / "kafka" / "server.properties").read_text()).substitute(
        port=port(settings), controller_port=controller_port(settings), data_dir=home() / "data"
    )
    cfg.write_text(text)
    return cfg


def _node_config(settings: Settings, node: Node, brokers: int) -> Path:
    node.home.mkdir(parents=True, exist_ok=True)
    cfg = node.home / "server.properties"
    replication = min(3, brokers)
    text = Template((INFRA_DIR / "kafka" / "server-cluster.properties").read_text()).substitute(
        node_id=node.index, port=node.port, controller_port=node.controller_port, data_dir=node.home / "data",
        voters=",".join(f"{n.index}@127.0.0.1:{n.controller_port}" for n in nodes(settings, brokers)),
        replication=replication, min_isr=max(1, replication - 1),
    )
    cfg.write_text(text)
    return cfg


def _cluster_id(node: Node) -> str:
    """One id for every node of a cluster, kept next to the nodes' folders."""
    f = node.home.parent / "cluster.id"
    if not f.exists():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
    return f.read_text().strip()


def _format(cfg: Path, libs: Path, data: Path | None = None, cluster_id: str | None = None) -> None:
    # KRaft storage must be formatted exactly once, with a cluster id, before the first start.
    if ((data or home() / "data") / "meta.properties").exists():
        return
    cluster_id = cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    res = subprocess.run(
        [java(), "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(cfg)],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise ClickpulseError(f"formatting Kafka storage failed: {(res.stdout + res.stderr).strip()[-300:]}")


def start(settings: Settings, brokers: int = 1) -> None:
    if brokers > 1:
        start_cluster(settings, brokers)
        return
    if procs.read_pid(NAME) and is_ready(settings):
        return
    procs.ensure_port_free(port(settings), "Kafka", "KAFKA_BOOTSTRAP_SERVERS")
    procs.ensure_port_free(controller_port(settings), "Kafka's KRaft controller", "KAFKA_BOOTSTRAP_SERVERS")
    libs = kafka_classpath()
    cfg = _config(settings)
    _format(cfg, libs)
    pid = procs.start(
        NAME,
        _command(libs, cfg, procs.log_dir()),
    )
    procs.wait_for(lambda: is_ready(settings), "Kafka", 90, procs.log_dir() / "kafka.log", pid)
    create_topics(settings)


def _command(libs: Path, cfg: Path, logs: Path, heap: str = "1g") -> list[str]:
    return [java(), "-Xms256m", f"-Xmx{heap}", "-XX:+UseG1GC", "-Duser.timezone=UTC",
            f"-Dkafka.logs.dir={logs}",
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.properties'}",
            "-cp", f"{libs}/*", "kafka.Kafka", str(cfg)]


def start_node(settings: Settings, node: Node, brokers: int) -> int:
    """Start one node of the cluster (it becomes ready once a quorum of controllers runs)."""
    procs.ensure_port_free(node.port, f"Kafka broker {node.index}", "KAFKA_BOOTSTRAP_SERVERS")
    procs.ensure_port_free(node.controller_port, f"Kafka controller {node.index}", "KAFKA_BOOTSTRAP_SERVERS")
    libs = kafka_classpath()
    cfg = _node_config(settings, node, brokers)
    _format(cfg, libs, node.home / "data", _cluster_id(node))
    logs = procs.log_dir() / node.name
    logs.mkdir(parents=True, exist_ok=True)
    return procs.start(node.name, _command(libs, cfg, logs, heap="768m"))


def start_cluster(settings: Settings, brokers: int) -> None:
    for node in nodes(settings, brokers):
        if not procs.read_pid(node.name):
            start_node(settings, node, brokers)
    procs.wait_for(lambda: _broker_count(settings, brokers) >= brokers, f"Kafka cluster ({brokers} brokers)", 120,
                   procs.log_dir() / f"{NAME}-1.log")
    create_topics(settings, bootstrap(settings, brokers))


def _broker_count(settings: Settings, brokers: int) -> int:
    md = admin(settings, bootstrap(settings, brokers)).list_topics(timeout=3)
    return len(md.brokers)


def stop(brokers: int | None = None) -> bool:
    names = [NAME] + [p.stem for p in procs.run_dir().glob(f"{NAME}-*.pid")]
    stopped = [procs.stop(n, timeout=30) for n in names]
    return any(stopped)


def admin(settings: Settings, servers: str | None = None):
    return AdminClient({"bootstrap.servers": servers or settings.kafka_bootstrap_servers, "socket.timeout.ms": 3000})


def records_in(settings: Settings, topic: str) -> int:
    """Records the topic holds (end offsets summed over its partitions; 0 when it does not exist)."""
    c = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": f"clickpulse-{uuid.uuid4().hex}",
                  "enable.auto.commit": False})
    try:
        meta = c.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                   for p in meta.partitions)
    finally:
        c.close()


def is_ready(settings: Settings) -> bool:
    if not procs.port_open(port(settings)):
        return False
    try:
        md = admin(settings).list_topics(timeout=3)
        return bool(md.brokers)
    except Exception:  # noqa: BLE001
        return False


def create_topics(settings: Settings, servers: str | None = None) -> None:
    """The events, dead-letter and alerts topics; on a cluster of 3 or more brokers with 3 replicas
    and min.insync.replicas=2, so one broker's death loses no acknowledged event."""
    a = admin(settings, servers)
    md = a.list_topics(timeout=10)
    existing = md.topics
    replication = min(3, max(1, len(md.brokers)))
    durable = {"min.insync.replicas": str(max(1, replication - 1))}
    wanted = [
        NewTopic(settings.events_topic, settings.events_partitions, replication, config=durable),
        NewTopic(settings.dead_letter_topic, 3, replication,
                 config={"retention.ms": str(30 * 24 * 3600 * 1000), **durable}),
        # alert transitions (docs/design.md, *Alerts*): few records, kept 30 days for the notifier
        NewTopic(settings.alerts_topic, 1, replication,
                 config={"retention.ms": str(30 * 24 * 3600 * 1000), **durable}),
    ]

    todo = [t for t in wanted if t.topic not in existing]
    if not todo:
        return
    for topic, fut in a.create_topics(todo, operation_timeout=30).items():
        try:
            fut.result()
        except Exception as e:  # noqa: BLE001
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise ClickpulseError(f"could not create Kafka topic {topic}: {e}") from e
