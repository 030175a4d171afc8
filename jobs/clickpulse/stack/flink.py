"""A standalone Flink session cluster from the distribution inside the apache-flink wheel.

The wheel's pyflink/ folder is a complete Flink distribution (bin/, lib/, opt/). We do not
write into site-packages: .clickpulse/flink/ holds our own conf/ and a lib/ that links the
wheel's jars plus the pinned connector jars, and the wheel's scripts are pointed at them
through FLINK_CONF_DIR / FLINK_LIB_DIR / FLINK_LOG_DIR / FLINK_PID_DIR.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path
from string import Template

import pyflink
import yaml

from ..errors import ClickpulseError
from ..jars import connector_jars
from ..paths import INFRA_DIR, state_dir
from ..settings import Settings
from . import procs

NAME = "flink"
JOBMANAGER = "flink-jobmanager"


def taskmanager_name(i: int) -> str:
    return f"flink-taskmanager-{i}"


def dist_dir() -> Path:
    return Path(pyflink.__file__).parent


def home() -> Path:
    return state_dir() / "flink"


def checkpoint_dir() -> Path:
    return home() / "checkpoints"


def savepoint_dir() -> Path:
    return home() / "savepoints"


def _env() -> dict[str, str]:
    return {
        "FLINK_CONF_DIR": str(home() / "conf"),
        "FLINK_LIB_DIR": str(home() / "lib"),
        "FLINK_LOG_DIR": str(procs.log_dir() / "flink"),
        "FLINK_PID_DIR": str(procs.run_dir()),
        "FLINK_OPT_DIR": str(dist_dir() / "opt"),
        "FLINK_PLUGINS_DIR": str(dist_dir() / "plugins"),
    }


def ha_dir() -> Path:
    return home() / "ha"


def _ha_config(settings: Settings) -> str:
    """Flink's ZooKeeper HA services: the leader, the jobs and their latest checkpoints are
    found again by a JobManager that is started anew. The session timeout is Flink's
    default, 60 s: a new JobManager takes over only once the dead one's session expires,
    but on two overloaded cores a TaskManager went unheard for 17 s and took 19 s more to
    reconnect (`bench faults`, multi-node): with 10 s and then 20 s sessions the
    TaskManagers dropped the job with "Job leader ... lost leadership" while every process
    lived, each time a full restart of the job. A suspended connection is tolerated until
    the session is lost, for the same reason."""
    return f"""
high-availability:
  type: zookeeper
  storageDir: file://{ha_dir()}
  cluster-id: clickpulse
  jobmanager:
    port: {settings.flink_rpc_port}
  zookeeper:
    quorum: 127.0.0.1:{settings.zookeeper_port}
    path:
      root: /flink
    client:
      session-timeout: 60000
      connection-timeout: 5000
      tolerate-suspended-connections: true
"""


def prepare(settings: Settings, progress=None, ha: bool = False, taskmanagers: int = 1) -> None:
    conf, lib = home() / "conf", home() / "lib"
    conf.mkdir(parents=True, exist_ok=True)
    lib.mkdir(parents=True, exist_ok=True)
    for d in (checkpoint_dir(), savepoint_dir(), procs.log_dir() / "flink"):
        d.mkdir(parents=True, exist_ok=True)
    wanted = {p.name: p for p in (dist_dir() / "lib").glob("*.jar")}
    wanted.update({p.name: p for p in connector_jars(progress)})
    for existing in lib.iterdir():
        if existing.name not in wanted or existing.resolve() != wanted[existing.name].resolve():
            existing.unlink()
    for name, src in wanted.items():
        if not (lib / name).exists():
            (lib / name).symlink_to(src)
    dist_conf = yaml.safe_load((dist_dir() / "conf" / "config.yaml").read_text())
    java_opts = dist_conf["env"]["java"]["opts"]["all"]  # the JDK 17 --add-opens Flink needs
    _, rest_port = settings.flink_rest_host_port
    text = Template((INFRA_DIR / "flink" / "config.yaml").read_text()).substitute(
        java_opts=java_opts,
        # room for the suite, a second suite (tests, a replay) and a benchmark job side by side,
        # spread over the TaskManagers: each slot keeps the managed memory it has with one
        # (too little fails operators with "minBucketMemorySize is not valid"; every window
        # aggregation takes a share: 5% failed once the alert rules or two more metrics were
        # added, 10% once both were, on a 3g TaskManager; 20% leaves twice that)
        slots=max(settings.job_parallelism, max(8, settings.job_parallelism * 4) // taskmanagers),
        parallelism=settings.job_parallelism,
        taskmanager_memory=settings.taskmanager_memory,
        state_backend=settings.state_backend,
        managed_fraction="0.4" if settings.state_backend == "rocksdb" else "0.2",
        rest_port=rest_port,
        rpc_port=settings.flink_rpc_port,
        checkpoint_dir=checkpoint_dir(),
        savepoint_dir=savepoint_dir(),
    )
    (conf / "config.yaml").write_text(text + (_ha_config(settings) if ha else ""))
    (conf / "log4j.properties").write_text((INFRA_DIR / "flink" / "log4j.properties").read_text())
    # the processes run in the foreground (under the supervisor's eye), which reads this one
    (conf / "log4j-console.properties").write_text((INFRA_DIR / "flink" / "log4j.properties").read_text())
    (conf / "log4j-cli.properties").write_text((dist_dir() / "conf" / "log4j-cli.properties").read_text())
    (conf / "masters").write_text(f"127.0.0.1:{rest_port}\n")
    (conf / "workers").write_text("localhost\n")


def _script(name: str) -> list[str]:
    return ["bash", str(dist_dir() / "bin" / name)]


def start(settings: Settings, progress=None, taskmanagers: int = 1, ha: bool = False) -> None:
    """Start what is missing: the JobManager if none runs, then each TaskManager that is not
    running. A JobManager that still holds the REST port after its TaskManager died is kept,
    and only the TaskManager is started again."""
    prepare(settings, progress, ha, taskmanagers)
    if not jobmanager_pid():
        _, rest_port = settings.flink_rest_host_port
        procs.ensure_port_free(rest_port, "Flink's REST API", "FLINK_REST_URL")
        procs.ensure_port_free(settings.flink_rpc_port, "Flink's JobManager RPC", "FLINK_RPC_PORT")
        start_jobmanager(settings)
    before = _taskmanager_paths(settings)
    missing = [i for i in range(1, taskmanagers + 1) if not procs.read_pid(taskmanager_name(i))]
    for i in missing:
        start_taskmanager(settings, i, wait=False)
    procs.wait_for(lambda: _registered_anew(settings, missing, before) and _taskmanagers(settings) >= taskmanagers,
                   f"Flink cluster (JobManager + {taskmanagers} TaskManager(s))", 120, procs.log_dir() / "flink")


def start_jobmanager(settings: Settings, wait: bool = False) -> int:
    pid = procs.start(JOBMANAGER, [*_script("jobmanager.sh"), "start-foreground"], env=_env())
    if wait:
        procs.wait_for(lambda: rest(settings, "/overview") is not None, "Flink JobManager", 120,
                       procs.log_dir() / f"{JOBMANAGER}.log", pid)
    return pid


def start_taskmanager(settings: Settings, i: int = 1, wait: bool = True) -> int:
    """Start TaskManager number i. Its resource id is stable (tm-i): when it comes back
    after a crash, the JobManager replaces the dead registration at once instead of
    waiting for heartbeats to time out, so the job restarts within seconds."""
    if pid := procs.read_pid(taskmanager_name(i)):  # already back (the supervisor was first)
        return pid
    before = _taskmanager_paths(settings)
    pid = procs.start(taskmanager_name(i), [*_script("taskmanager.sh"), "start-foreground",
                                            f"-Dtaskmanager.resource-id=tm-{i}"], env=_env())
    if wait:
        procs.wait_for(lambda: _registered_anew(settings, [i], before), f"Flink TaskManager {i}", 120,
                       procs.log_dir() / f"{taskmanager_name(i)}.log", pid)
    return pid


def _taskmanager_paths(settings: Settings) -> dict[str, str]:
    try:
        return {tm["id"]: tm["path"] for tm in rest(settings, "/taskmanagers")["taskmanagers"]}
    except Exception:  # noqa: BLE001
        return {}


def _registered_anew(settings: Settings, numbers: list[int], before: dict[str, str]) -> bool:
    """TaskManagers tm-i registered from a new process (a dead one's entry has the old address)."""
    now = _taskmanager_paths(settings)
    return all(f"tm-{i}" in now and now[f"tm-{i}"] != before.get(f"tm-{i}") for i in numbers)


def jobmanager_pid() -> int | None:
    """Ours, or one that an earlier version started through Flink's daemon scripts."""
    if pid := procs.read_pid(JOBMANAGER):
        return pid
    return next(iter(_pids_in("flink-*standalonesession*.pid")), None)


def taskmanager_units() -> list[str]:
    return sorted(p.stem for p in procs.run_dir().glob("flink-taskmanager-*.pid"))


def registered_taskmanagers(settings: Settings) -> list[str]:
    """Resource ids of the TaskManagers the JobManager knows (a dead one stays until its
    heartbeat times out, or it is replaced)."""
    try:
        return [tm["id"] for tm in rest(settings, "/taskmanagers")["taskmanagers"]]
    except Exception:  # noqa: BLE001
        return []


def stop(settings: Settings) -> bool:
    was = bool(pids())
    for name in [*taskmanager_units(), JOBMANAGER]:
        procs.stop(name, timeout=20)
    env = {**os.environ, **_env()}
    for script in ("taskmanager.sh", "jobmanager.sh"):  # a cluster an earlier version started as daemons
        subprocess.run([*_script(script), "stop-all"], env=env, capture_output=True, text=True)
    for pid in pids():  # anything the scripts missed
        procs.kill_group(pid, 10)
    return was


def _pids_in(pattern: str) -> list[int]:
    out = []
    for f in procs.run_dir().glob(pattern):
        out += [int(x) for x in f.read_text().split() if x.isdigit() and procs.pid_alive(int(x))]
    return out


def taskmanager_pids() -> list[int]:
    return _pids_in("flink-*taskexecutor*.pid")


def kill_taskmanager(i: int | None = None) -> list[int]:
    """SIGKILL TaskManager i (default: every one), as a crash would (for recovery tests);
    the supervisor starts it again."""
    names = [taskmanager_name(i)] if i else taskmanager_units()
    return [pid for n in names for pid in procs.kill9(n)]


def kill_jobmanager() -> list[int]:
    return procs.kill9(JOBMANAGER)


def pids() -> list[int]:
    return _pids_in("flink-*.pid")


def rest(settings: Settings, path: str, method: str = "GET", body: dict | None = None, timeout: float = 5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(settings.flink_rest_url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def _taskmanagers(settings: Settings) -> int:
    return int(rest(settings, "/overview")["taskmanagers"])


def is_answering(settings: Settings) -> bool:
    try:
        return rest(settings, "/overview", timeout=2) is not None
    except Exception:  # noqa: BLE001
        return False


def is_ready(settings: Settings) -> bool:
    try:
        return _taskmanagers(settings) > 0
    except Exception:  # noqa: BLE001
        return False


def jobs(settings: Settings) -> list[dict]:
    try:
        return rest(settings, "/jobs/overview")["jobs"]
    except Exception:  # noqa: BLE001
        return []
