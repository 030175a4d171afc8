"""A standalone Flink session cluster from the distribution inside the apache-flink wheel.

The wheel's pyflink/ folder is a complete Flink distribution (bin/, lib/, opt/). We do not
write into site-packages: .clickpulse/flink/ holds our own conf/ and a lib/ that links the
wheel's jars plus the pinned connector jars, and the wheel's scripts are pointed at them
through FLINK_CONF_DIR / FLINK_LIB_DIR / FLINK_LOG_DIR / FLINK_PID_DIR.
"""

from __future__ import annotations

import json
import os
import signal
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


def prepare(settings: Settings, progress=None) -> None:
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
        # room for the suite, a second suite (tests, a replay) and a benchmark job side by side
        slots=max(8, settings.job_parallelism * 4),
        parallelism=settings.job_parallelism,
        taskmanager_memory=settings.taskmanager_memory,
        state_backend=settings.state_backend,
        managed_fraction="0.4" if settings.state_backend == "rocksdb" else "0.05",
        rest_port=rest_port,
        rpc_port=settings.flink_rpc_port,
        checkpoint_dir=checkpoint_dir(),
        savepoint_dir=savepoint_dir(),
    )
    (conf / "config.yaml").write_text(text)
    (conf / "log4j.properties").write_text((INFRA_DIR / "flink" / "log4j.properties").read_text())
    (conf / "log4j-cli.properties").write_text((dist_dir() / "conf" / "log4j-cli.properties").read_text())
    (conf / "masters").write_text(f"127.0.0.1:{rest_port}\n")
    (conf / "workers").write_text("localhost\n")


def _script(name: str) -> list[str]:
    return ["bash", str(dist_dir() / "bin" / name)]


def start(settings: Settings, progress=None) -> None:
    if is_ready(settings):
        return
    _, rest_port = settings.flink_rest_host_port
    procs.ensure_port_free(rest_port, "Flink's REST API", "FLINK_REST_URL")
    procs.ensure_port_free(settings.flink_rpc_port, "Flink's JobManager RPC", "FLINK_RPC_PORT")
    prepare(settings, progress)
    env = {**os.environ, **_env()}
    # The wheel does not mark its scripts executable; start-cluster.sh calls the others
    # by path, so run them through bash with the bin dir first on PATH.
    for script in ("jobmanager.sh", "taskmanager.sh"):
        res = subprocess.run([*_script(script), "start"], env=env, capture_output=True, text=True)
        if res.returncode != 0:
            raise ClickpulseError(f"Flink {script} failed: {(res.stdout + res.stderr).strip()[-300:]}")
    procs.wait_for(lambda: _taskmanagers(settings) > 0, "Flink cluster (JobManager + TaskManager)", 120,
                   procs.log_dir() / "flink")


def stop(settings: Settings) -> bool:
    was = bool(pids())
    env = {**os.environ, **_env()}
    for script in ("taskmanager.sh", "jobmanager.sh"):
        subprocess.run([*_script(script), "stop-all"], env=env, capture_output=True, text=True)
    for pid in pids():  # anything the scripts missed
        procs.kill_group(pid, 10)
    return was


def taskmanager_pids() -> list[int]:
    out = []
    for f in procs.run_dir().glob("flink-*taskexecutor*.pid"):
        out += [int(x) for x in f.read_text().split() if x.isdigit() and procs.pid_alive(int(x))]
    return out


def kill_taskmanager() -> list[int]:
    """SIGKILL the TaskManager, as a crash would (for recovery tests)."""
    killed = taskmanager_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    for f in procs.run_dir().glob("flink-*taskexecutor*.pid"):
        f.unlink()
    return killed


def start_taskmanager(settings: Settings) -> None:
    env = {**os.environ, **_env()}
    res = subprocess.run([*_script("taskmanager.sh"), "start"], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise ClickpulseError(f"Flink taskmanager.sh failed: {(res.stdout + res.stderr).strip()[-300:]}")
    procs.wait_for(lambda: _taskmanagers(settings) > 0, "Flink TaskManager", 120, procs.log_dir() / "flink")


def pids() -> list[int]:
    out = []
    for f in procs.run_dir().glob("flink-*.pid"):
        for line in f.read_text().split():
            if line.isdigit() and procs.pid_alive(int(line)):
                out.append(int(line))
    return out


def rest(settings: Settings, path: str, method: str = "GET", body: dict | None = None, timeout: float = 5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(settings.flink_rest_url.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def _taskmanagers(settings: Settings) -> int:
    return int(rest(settings, "/overview")["taskmanagers"])


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
