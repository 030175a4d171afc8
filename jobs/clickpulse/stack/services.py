"""Start, stop and inspect the local stack as a whole."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import ROOT, state_dir
from ..settings import Settings
from . import flink, kafka, postgres, procs, superset
from .secrets import ensure_secrets

ALL = ["postgres", "kafka", "flink", "superset"]
# Background processes of the stack: the ticker starts with Kafka, the generator and the
# collector and the live gateway with `make demo`; `stack down` stops them like the services.
FEEDERS = ["generator", "collector", "gateway", "ticker"]


@dataclass
class ServiceStatus:
    name: str
    port: int | None
    healthy: bool
    pid: int | None
    detail: str = ""


def preflight(names: list[str]) -> None:
    if any(n in names for n in ("kafka", "flink")):
        if not shutil.which("java"):
            raise ClickpulseError("Java 17+ is needed for Kafka and Flink: apt-get install openjdk-17-jre-headless")
    if "kafka" in names and not shutil.which("mvn"):
        raise ClickpulseError("Maven is needed to fetch Kafka's jars from Maven Central: apt-get install maven")
    if "postgres" in names:
        postgres.bin_dir()


def up(names: list[str] | None = None, progress=None) -> Settings:
    """Start the given services (default all), in dependency order. Idempotent."""
    names = [n for n in ALL if n in (names or ALL)]
    unknown = set(names or []) - set(ALL)
    if unknown:
        raise ClickpulseError(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}")
    preflight(names)
    settings = ensure_secrets()
    steps = {
        "postgres": lambda: postgres.start(settings),
        "kafka": lambda: (kafka.start(settings), start_feeder("ticker", ["jobs", "ticker"])),
        "flink": lambda: flink.start(settings, progress),
        "superset": lambda: superset.start(settings),
    }
    if "superset" in names and "postgres" not in names:
        steps["postgres"]()
    for n in names:
        task = progress.add_task(f"starting {n}", total=None) if progress else None
        steps[n]()
        if task is not None:
            progress.update(task, description=f"[green]{n} ready", total=1, completed=1)
    return settings


def stop(name: str, settings: Settings | None = None) -> bool:
    settings = settings or ensure_secrets()
    if name == "postgres":
        return postgres.stop()
    if name == "kafka":
        return kafka.stop()
    if name == "flink":
        return flink.stop(settings)
    if name == "superset":
        return superset.stop()
    if name in FEEDERS:
        return procs.stop(name)
    raise ClickpulseError(f"unknown service {name}; choose from {', '.join(ALL + FEEDERS)}")


def down(settings: Settings | None = None) -> list[str]:
    """Stop everything the stack started (feeders first, then services in reverse order)."""
    settings = settings or ensure_secrets()
    stopped = []
    for name in FEEDERS + list(reversed(ALL)):
        if stop(name, settings):
            stopped.append(name)
    return stopped


def clean(settings: Settings | None = None) -> list[Path]:
    """Stop everything and delete the stack's state: CLICKPULSE_HOME and the PostgreSQL
    cluster's files, which live outside it when clickpulse runs as root. Returns what was
    deleted."""
    down(settings)
    removed = [p for p in (postgres.remove(),) if p]
    home = state_dir()
    if home == Path("/") or home == Path.home() or home in ROOT.parents:
        raise ClickpulseError(f"CLICKPULSE_HOME={home} holds more than the stack's state: delete what you need by hand")
    if home.exists():
        shutil.rmtree(home)
        removed.append(home)
    return removed


def start_feeder(name: str, args: list[str]) -> int:
    """Run a `clickpulse` subcommand (generate, collect) in the background."""
    if pid := procs.read_pid(name):
        return pid
    exe = os.path.join(os.path.dirname(sys.executable), "clickpulse")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "clickpulse"]
    return procs.start(name, [*cmd, *args])


def status(settings: Settings | None = None) -> tuple[list[ServiceStatus], list[dict]]:
    settings = settings or ensure_secrets()
    rows = [
        ServiceStatus("postgres", settings.postgres_port, postgres.is_ready(settings), postgres.pid(),
                      f"db {settings.postgres_db}"),
        ServiceStatus("kafka", kafka.port(settings), kafka.is_ready(settings), procs.read_pid("kafka"),
                      f"topics {settings.events_topic}, {settings.dead_letter_topic}"),
        ServiceStatus("flink", settings.flink_rest_host_port[1], flink.is_ready(settings),
                      (flink.pids() or [None])[0], settings.flink_rest_url),
        ServiceStatus("superset", superset.port(settings), superset.is_ready(settings), procs.read_pid("superset"),
                      settings.superset_url),
    ]
    for feeder, port, detail in (("ticker", None, f"ticks quiet partitions of {settings.events_topic}"),
                                 ("generator", None, "synthetic traffic"),
                                 ("collector", settings.collector_port, "POST /collect, /demo"),
                                 ("gateway", settings.gateway_port, "Live page, Server-Sent Events")):
        pid = procs.read_pid(feeder)
        if pid:
            healthy = procs.port_open(port) if port else True
            rows.append(ServiceStatus(feeder, port, healthy, pid, detail))
    return rows, flink.jobs(settings)
