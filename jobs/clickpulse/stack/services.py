"""Start, stop and inspect the local stack as a whole."""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import ROOT, state_dir
from ..settings import Settings, get_settings
from . import flink, kafka, postgres, procs, redis, superset, supervisor, zookeeper
from .secrets import ensure_secrets

ALL = ["postgres", "redis", "kafka", "flink", "superset"]
# Background processes of the stack: the ticker starts with Kafka, the generator and the
# collector, the live gateway, the alert notifier and the pipeline watcher with `make demo`;
# `stack down` stops them like the services.
FEEDERS = ["generator", "collector", "gateway", "notifier", "watcher", "ticker"]


@dataclass
class ServiceStatus:
    name: str
    port: int | None
    healthy: bool
    pid: int | None
    detail: str = ""
    # the service of ALL it belongs to (flink for flink-taskmanager-2, kafka for kafka-3)
    service: str = ""
    restarts: int = 0
    last_restart: str | None = None

    def __post_init__(self):
        self.service = self.service or self.name


@dataclass(frozen=True)
class Topology:
    """How many Kafka brokers and Flink TaskManagers the local stack runs. More than one
    of either is the multi-node mode, which adds ZooKeeper for the JobManager's HA."""
    kafka_brokers: int = 1
    taskmanagers: int = 1

    @property
    def multi_node(self) -> bool:
        return self.kafka_brokers > 1 or self.taskmanagers > 1


def _topology_file() -> Path:
    return procs.run_dir() / "topology.json"


def topology(settings: Settings, kafka_brokers: int | None = None, taskmanagers: int | None = None) -> Topology:
    """The options given, else CLICKPULSE_KAFKA_BROKERS / CLICKPULSE_TASKMANAGERS when set,
    else what the last `stack up` ran (a running stack: `running_topology`)."""
    saved = _saved_topology()

    def pick(given, field):
        if given is not None:
            return given
        if field in settings.model_fields_set or saved is None:
            return getattr(settings, field)
        return getattr(saved, field)

    t = Topology(pick(kafka_brokers, "kafka_brokers"), pick(taskmanagers, "taskmanagers"))
    if t.kafka_brokers < 1 or t.taskmanagers < 1:
        raise ClickpulseError("--kafka-brokers and --taskmanagers must be at least 1 "
                              "(CLICKPULSE_KAFKA_BROKERS, CLICKPULSE_TASKMANAGERS)")
    return t


def _saved_topology() -> Topology | None:
    try:
        saved = json.loads(_topology_file().read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Topology(saved.get("kafka_brokers", 1), saved.get("taskmanagers", 1))


def running_topology(settings: Settings) -> Topology:
    """What the last `stack up` started, which the supervisor, `stack status`, `stack stop`
    and the clients follow whatever the settings say now (a supervisor that read
    CLICKPULSE_KAFKA_BROKERS=1 once watched broker 1 of three and let the others stay dead);
    before any `stack up`, what the settings ask for."""
    return _saved_topology() or topology(settings)


def refuse_topology_change(settings: Settings, t: Topology) -> None:
    """A running stack changes its topology only through `stack down`: the other topology's
    processes would fight the running ones for their ports (broker 1 of three is on the
    single broker's port), and a failed start must not leave the wrong topology saved for
    the supervisor."""
    running_t = _saved_topology()
    if running_t is None or running_t == t:
        return
    running = [n for s in ("kafka", "flink") for n in unit_names(s, running_t, settings) if procs.read_pid(n)]
    if running:
        raise ClickpulseError(
            f"the running stack has {running_t.kafka_brokers} Kafka broker(s) and {running_t.taskmanagers} "
            f"TaskManager(s) ({', '.join(running)}), and this `stack up` asks for {t.kafka_brokers} and "
            f"{t.taskmanagers}: run `clickpulse stack down` first to change the topology, or leave "
            "CLICKPULSE_KAFKA_BROKERS and CLICKPULSE_TASKMANAGERS unset (.env) to keep it")


def save_topology(t: Topology) -> None:
    _topology_file().write_text(json.dumps({"kafka_brokers": t.kafka_brokers, "taskmanagers": t.taskmanagers}))


def unit_names(name: str, t: Topology, settings: Settings) -> list[str]:
    """The supervised processes of one service of ALL."""
    if name == "kafka":
        return [n.name for n in kafka.nodes(settings, t.kafka_brokers)]
    if name == "flink":
        return [flink.JOBMANAGER, *(flink.taskmanager_name(i) for i in range(1, t.taskmanagers + 1))]
    if name == "superset":
        return [superset.NAME, superset.WORKER, superset.BEAT]
    return [name]


def preflight(names: list[str]) -> None:
    if any(n in names for n in ("kafka", "flink")):
        if not shutil.which("java"):
            raise ClickpulseError("Java 17+ is needed for Kafka and Flink: apt-get install openjdk-17-jre-headless")
    if "kafka" in names and not shutil.which("mvn"):
        raise ClickpulseError("Maven is needed to fetch Kafka's jars from Maven Central: apt-get install maven")
    if "postgres" in names:
        postgres.bin_dir()
    if "redis" in names and not redis.is_ready(get_settings()):
        redis.server_bin()


def up(names: list[str] | None = None, progress=None, kafka_brokers: int | None = None,
       taskmanagers: int | None = None) -> Settings:
    """Start the given services (default all), in dependency order, and the supervisor.
    Idempotent, and repairs a partly failed stack: only what is not running is started."""
    names = [n for n in ALL if n in (names or ALL)]
    unknown = set(names or []) - set(ALL)
    if unknown:
        raise ClickpulseError(f"unknown service(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL)}")
    preflight(names)
    settings = ensure_secrets()
    t = topology(settings, kafka_brokers, taskmanagers)
    if t.kafka_brokers > 1:
        # every broker for what the stack starts (ticker, supervisor, the demo's jobs and
        # feeders), so that none depends on one broker being up when it starts
        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap(settings, t.kafka_brokers)
    steps = {
        "postgres": lambda: postgres.start(settings),
        "redis": lambda: redis.start(settings),
        "kafka": lambda: (kafka.start(settings, t.kafka_brokers), start_feeder("ticker", ["jobs", "ticker"])),
        "flink": lambda: _start_flink(settings, t, progress),
        "superset": lambda: superset.start(settings),
    }
    with supervisor.lock():
        refuse_topology_change(settings, t)
        save_topology(t)
        if "superset" in names and "postgres" not in names:
            steps["postgres"]()
        if "superset" in names and "redis" not in names:  # its caches
            steps["redis"]()
            supervisor.want("redis")
        for n in names:
            task = progress.add_task(f"starting {n}", total=None) if progress else None
            steps[n]()
            supervisor.want(*unit_names(n, t, settings))
            if task is not None:
                progress.update(task, description=f"[green]{n} ready", total=1, completed=1)
    ensure_supervisor()
    return settings


def _start_flink(settings: Settings, t: Topology, progress=None) -> None:
    if t.multi_node:
        zookeeper.start(settings, progress)
        supervisor.want("zookeeper")
    flink.start(settings, progress, t.taskmanagers, ha=t.multi_node)


def kafka_bootstrap(settings: Settings) -> str:
    """Every broker of the local Kafka, for clients."""
    return kafka.bootstrap(settings, running_topology(settings).kafka_brokers)


def ensure_supervisor() -> int:
    """`clickpulse stack supervise` in the background, unless one runs for this state dir."""
    if pid := procs.read_pid(supervisor.NAME):
        return pid
    return procs.start(supervisor.NAME, [*_clickpulse(), "stack", "supervise"])


def units(settings: Settings) -> dict[str, supervisor.Unit]:
    """Every process the supervisor may have to start again, by name."""
    t = running_topology(settings)
    out = {
        "postgres": supervisor.Unit("postgres", lambda: postgres.pid() is not None, lambda: postgres.start(settings)),
        "redis": supervisor.Unit("redis", lambda: procs.read_pid("redis") is not None, lambda: redis.start(settings)),
        "superset": supervisor.Unit("superset", lambda: procs.read_pid("superset") is not None,
                                    lambda: superset.start_web(settings)),
        superset.WORKER: supervisor.Unit(superset.WORKER, lambda: procs.read_pid(superset.WORKER) is not None,
                                         lambda: superset.start_worker(settings)),
        superset.BEAT: supervisor.Unit(superset.BEAT, lambda: procs.read_pid(superset.BEAT) is not None,
                                       lambda: superset.start_beat(settings)),
        "zookeeper": supervisor.Unit("zookeeper", lambda: procs.read_pid("zookeeper") is not None,
                                     lambda: zookeeper.start(settings)),
        flink.JOBMANAGER: supervisor.Unit(flink.JOBMANAGER, lambda: flink.jobmanager_pid() is not None,
                                          lambda: flink.start_jobmanager(settings, wait=True)),
    }
    for i in range(1, t.taskmanagers + 1):
        name = flink.taskmanager_name(i)
        out[name] = supervisor.Unit(name, lambda n=name: procs.read_pid(n) is not None,
                                    lambda i=i: flink.start_taskmanager(settings, i))
    for node in kafka.nodes(settings, t.kafka_brokers):
        restart = ((lambda: kafka.start(settings)) if t.kafka_brokers == 1
                   else (lambda node=node: _restart_kafka_node(settings, node, t.kafka_brokers)))
        out[node.name] = supervisor.Unit(node.name, lambda n=node.name: procs.read_pid(n) is not None, restart)
    for feeder in FEEDERS:
        out[feeder] = supervisor.Unit(feeder, lambda f=feeder: procs.read_pid(f) is not None,
                                      lambda f=feeder: _restart_feeder(f))
    return out


def _restart_kafka_node(settings: Settings, node, brokers: int) -> None:
    pid = kafka.start_node(settings, node, brokers)
    procs.wait_for(lambda: procs.port_open(node.port), f"Kafka broker {node.index}", 90,
                   procs.log_dir() / f"{node.name}.log", pid)


def _restart_feeder(name: str) -> None:
    args = json.loads((procs.run_dir() / f"{name}.args.json").read_text())
    start_feeder(name, args)


def start_again(name: str) -> int:
    """A feeder stopped with `stack stop`, started with the arguments it last ran with."""
    if name not in FEEDERS:
        raise ClickpulseError(f"stack start starts a background process again: one of {', '.join(FEEDERS)} "
                              "(services: `clickpulse stack up`)")
    if not (procs.run_dir() / f"{name}.args.json").exists():
        raise ClickpulseError(f"{name} never ran on this stack: `clickpulse demo` starts it")
    _restart_feeder(name)
    return procs.read_pid(name)


def supervise() -> None:
    settings = ensure_secrets()
    supervisor.run(lambda: units(settings), set(FEEDERS))


def stop(name: str, settings: Settings | None = None) -> bool:
    """Stop one service on purpose: the supervisor stops watching it first."""
    settings = settings or ensure_secrets()
    if name not in ALL + FEEDERS + ["zookeeper", supervisor.NAME, superset.WORKER, superset.BEAT]:
        raise ClickpulseError(f"unknown service {name}; choose from {', '.join(ALL + FEEDERS)}")
    t = running_topology(settings)
    if name == "flink":
        supervisor.unwant(flink.JOBMANAGER, *flink.taskmanager_units(), *unit_names("flink", t, settings))
    elif name == "kafka":
        supervisor.unwant(*unit_names("kafka", t, settings), "kafka", *(f"kafka-{i}" for i in range(1, 10)))
    elif name == "superset":
        supervisor.unwant(*unit_names("superset", t, settings))
    else:
        supervisor.unwant(name)
    if name == "postgres":
        return postgres.stop()
    if name == "redis":
        return redis.stop()
    if name == "kafka":
        return kafka.stop()
    if name == "flink":
        return flink.stop(settings)
    if name == "superset":
        return superset.stop()
    if name == "zookeeper":
        return zookeeper.stop()
    return procs.stop(name)


def down(settings: Settings | None = None) -> list[str]:
    """Stop everything the stack started: the supervisor first (so that it restarts
    nothing), then the feeders, then the services in reverse order."""
    settings = settings or ensure_secrets()
    stopped = ["supervisor"] if procs.stop(supervisor.NAME) else []
    for name in FEEDERS + list(reversed(ALL)) + ["zookeeper"]:
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
    """Run a `clickpulse` subcommand (generate, collect) in the background, supervised."""
    if pid := procs.read_pid(name):
        return pid
    (procs.run_dir() / f"{name}.args.json").write_text(json.dumps(args))
    pid = procs.start(name, [*_clickpulse(), *args])
    supervisor.want(name)
    return pid


def _clickpulse() -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "clickpulse")
    return [exe] if os.path.exists(exe) else [sys.executable, "-m", "clickpulse"]


def status(settings: Settings | None = None) -> tuple[list[ServiceStatus], list[dict]]:
    settings = settings or ensure_secrets()
    t = running_topology(settings)
    rows = [ServiceStatus("postgres", settings.postgres_port, postgres.is_ready(settings), postgres.pid(),
                          f"db {settings.postgres_db}"),
            ServiceStatus("redis", redis.port(settings), redis.is_ready(settings), procs.read_pid("redis"),
                          "Superset's caches")]
    rows += _kafka_rows(settings, t)
    if t.multi_node or procs.read_pid("zookeeper"):
        rows.append(ServiceStatus("zookeeper", settings.zookeeper_port, zookeeper.is_ready(settings),
                                  procs.read_pid("zookeeper"), "Flink JobManager HA", service="flink"))
    rows += _flink_rows(settings, t)
    rows.append(ServiceStatus("superset", superset.port(settings), superset.is_ready(settings),
                              procs.read_pid("superset"), settings.superset_url))
    for unit, detail in ((superset.WORKER, "Alerts & Reports: runs the reports (Celery, broker REDIS_URL)"),
                         (superset.BEAT, "Alerts & Reports: starts the due reports every minute")):
        pid = procs.read_pid(unit)
        rows.append(ServiceStatus(unit, None, pid is not None, pid, detail, service="superset"))
    for feeder, port, detail in (("ticker", None, f"ticks quiet partitions of {settings.events_topic}"),
                                 ("generator", None, "synthetic traffic"),
                                 ("collector", settings.collector_port, "POST /collect, /demo"),
                                 ("gateway", settings.gateway_port, "Live page, Server-Sent Events"),
                                 ("notifier", None, f"delivers {settings.alerts_topic} to sql/alerts/channels.yaml"),
                                 ("watcher", None, "judges the pipeline rules (job state, freshness, lag, dead letters)")):
        pid = procs.read_pid(feeder)
        if pid or feeder in supervisor.wanted():
            healthy = bool(pid) and (procs.port_open(port) if port else True)
            rows.append(ServiceStatus(feeder, port, healthy, pid, detail))
    pid = procs.read_pid(supervisor.NAME)
    rows.append(ServiceStatus(supervisor.NAME, None, pid is not None, pid,
                              "restarts crashed services (.clickpulse/logs/restarts.jsonl)"))
    restarts = supervisor.summary()
    for r in rows:
        if r.name in restarts:
            r.restarts, r.last_restart = restarts[r.name].restarts, restarts[r.name].last_restart
            if restarts[r.name].gave_up and not r.healthy:
                r.detail += " — supervisor gave up: `clickpulse stack up` after fixing the cause"
    return rows, flink.jobs(settings)


def _kafka_rows(settings: Settings, t: Topology) -> list[ServiceStatus]:
    topics = f"topics {settings.events_topic}, {settings.dead_letter_topic}"
    if t.kafka_brokers == 1:
        return [ServiceStatus("kafka", kafka.port(settings), kafka.is_ready(settings), procs.read_pid("kafka"), topics)]
    return [ServiceStatus(n.name, n.port, procs.port_open(n.port) and procs.read_pid(n.name) is not None,
                          procs.read_pid(n.name), f"broker {n.index} of {t.kafka_brokers}, controller :{n.controller_port}",
                          service="kafka")
            for n in kafka.nodes(settings, t.kafka_brokers)]


def _flink_rows(settings: Settings, t: Topology) -> list[ServiceStatus]:
    """The JobManager and each TaskManager on their own row: a TaskManager that died is
    down even while the JobManager still lists it (until its heartbeat times out)."""
    _, rest_port = settings.flink_rest_host_port
    jm_pid = flink.jobmanager_pid()
    jm_up = jm_pid is not None and flink.is_answering(settings)
    rows = [ServiceStatus(flink.JOBMANAGER, rest_port, jm_up, jm_pid,
                          settings.flink_rest_url + (" (HA: ZooKeeper)" if t.multi_node else ""), service="flink")]
    registered = flink.registered_taskmanagers(settings)
    for i in range(1, t.taskmanagers + 1):
        name = flink.taskmanager_name(i)
        pid = procs.read_pid(name)
        rows.append(ServiceStatus(name, None, pid is not None and f"tm-{i}" in registered, pid,
                                  f"tm-{i}" + ("" if f"tm-{i}" in registered else ", not registered"),
                                  service="flink"))
    return rows


def healthy_services(rows: list[ServiceStatus]) -> set[str]:
    """Services of ALL (and feeders) whose every process is healthy."""
    by_service: dict[str, bool] = {}
    for r in rows:
        by_service[r.service] = by_service.get(r.service, True) and r.healthy
    return {name for name, ok in by_service.items() if ok}
