"""ZooKeeper, single server, for the JobManager's high availability in the multi-node stack.

Flink's ZooKeeper HA services keep the leader's address, the submitted jobs and the
pointers to their latest checkpoints there: a JobManager that dies and is started again
(by the supervisor) finds the jobs and resumes them from their checkpoints, with no one
resubmitting anything. The server's jars come from Maven Central (connectors/jars.toml,
`use = "zookeeper"`); its logging jars from Kafka's classpath.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from ..jars import kafka_classpath, zookeeper_jars
from ..paths import state_dir
from ..settings import Settings
from . import procs
from .kafka import java

NAME = "zookeeper"


def home() -> Path:
    return state_dir() / "zookeeper"


def _config(settings: Settings) -> Path:
    (home() / "data").mkdir(parents=True, exist_ok=True)
    cfg = home() / "zoo.cfg"
    cfg.write_text(
        f"dataDir={home() / 'data'}\n"
        f"clientPort={settings.zookeeper_port}\n"
        "clientPortAddress=127.0.0.1\n"
        "tickTime=1000\n"
        # the session timeout Flink asks for (10 s) must fit between 2 and 20 ticks
        "maxSessionTimeout=20000\n"
        "admin.enableServer=false\n"
        "4lw.commands.whitelist=ruok,srvr\n"
        "autopurge.purgeInterval=1\n"
    )
    return cfg


def start(settings: Settings, progress=None) -> None:
    if procs.read_pid(NAME) and is_ready(settings):
        return
    procs.ensure_port_free(settings.zookeeper_port, "ZooKeeper", "ZOOKEEPER_PORT")
    classpath = os.pathsep.join([*map(str, zookeeper_jars(progress)), f"{kafka_classpath()}/*"])
    pid = procs.start(
        NAME,
        # log4j's default configuration: errors only, to logs/zookeeper.log
        [java(), "-Xmx256m", "-cp", classpath,
         "org.apache.zookeeper.server.ZooKeeperServerMain", str(_config(settings))],
    )
    procs.wait_for(lambda: is_ready(settings), "ZooKeeper", 60, procs.log_dir() / "zookeeper.log", pid)


def stop() -> bool:
    return procs.stop(NAME)


def is_ready(settings: Settings) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", settings.zookeeper_port), timeout=2) as s:
            s.sendall(b"ruok")
            return s.recv(16) == b"imok"
    except OSError:
        return False
