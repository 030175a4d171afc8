"""Apache Kafka in KRaft mode, single node, from its jars on Maven Central."""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
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


def _java() -> str:
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


def _format(cfg: Path, libs: Path) -> None:
    # KRaft storage must be formatted exactly once, with a cluster id, before the first start.
    if (home() / "data" / "meta.properties").exists():
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    res = subprocess.run(
        [_java(), "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(cfg)],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise ClickpulseError(f"formatting Kafka storage failed: {(res.stdout + res.stderr).strip()[-300:]}")


def start(settings: Settings) -> None:
    if procs.read_pid(NAME) and is_ready(settings):
        return
    procs.ensure_port_free(port(settings), "Kafka", "KAFKA_BOOTSTRAP_SERVERS")
    procs.ensure_port_free(controller_port(settings), "Kafka's KRaft controller", "KAFKA_BOOTSTRAP_SERVERS")
    libs = kafka_classpath()
    cfg = _config(settings)
    _format(cfg, libs)
    pid = procs.start(
        NAME,
        [_java(), "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Duser.timezone=UTC",
         f"-Dkafka.logs.dir={procs.log_dir()}",
         f"-Dlog4j2.configurationFile={INFRA_DIR / 'kafka' / 'log4j2.properties'}",
         "-cp", f"{libs}/*", "kafka.Kafka", str(cfg)],
    )
    procs.wait_for(lambda: is_ready(settings), "Kafka", 90, procs.log_dir() / "kafka.log", pid)
    create_topics(settings)


def stop() -> bool:
    return procs.stop(NAME, timeout=30)


def admin(settings: Settings):
    return AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers, "socket.timeout.ms": 3000})


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


def create_topics(settings: Settings) -> None:
    a = admin(settings)
    existing = a.list_topics(timeout=10).topics
    wanted = [
        NewTopic(settings.events_topic, settings.events_partitions, 1),
        NewTopic(settings.dead_letter_topic, 3, 1, config={"retention.ms": str(30 * 24 * 3600 * 1000)}),
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
