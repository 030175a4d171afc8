"""Background processes with pid files and logs under the state dir.

Services are started detached in their own session so that a terminal closing does not
kill them, and stopped by process group so that no child (gunicorn workers, Flink's
JVMs) is left behind holding a port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import state_dir


def run_dir() -> Path:
    d = state_dir() / "run"
    d.mkdir(parents=True, exist_ok=True)
    return d


def log_dir() -> Path:
    d = state_dir() / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_file(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def read_pid(name: str) -> int | None:
    try:
        pid = int(pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); treat it as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def exit_file(name: str) -> Path:
    return run_dir() / f"{name}.exit"


def start(name: str, cmd: list[str], *, env: dict | None = None, cwd: Path | None = None) -> int:
    """Start `cmd` detached, logging to logs/<name>.log; returns its pid.

    A small bash wrapper waits for it and writes its exit status to run/<name>.exit: the
    process that started it (`stack up`) is gone by the time it dies, and the supervisor
    reports why a service died from that file."""
    log = (log_dir() / f"{name}.log").open("ab")
    exit_file(name).unlink(missing_ok=True)
    wrapped = ["bash", "-c", '"${@:2}"; echo $? > "$1"', "clickpulse-wrap", str(exit_file(name)), *cmd]
    proc = subprocess.Popen(
        wrapped,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        start_new_session=True,
    )
    pid_file(name).write_text(str(proc.pid))
    return proc.pid


def stop(name: str, timeout: float = 20.0) -> bool:
    """Stop the process group started under `name`; True if something was running."""
    pid = read_pid(name)
    pid_file(name).unlink(missing_ok=True)
    if pid is None:
        return False
    kill_group(pid, timeout)
    return True


def exit_reason(name: str) -> str:
    """Why the process started under `name` ended, as far as its exit file tells."""
    try:
        code = int(exit_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return "exited (no exit status recorded: killed together with its wrapper, or started elsewhere)"
    if code > 128:
        try:
            return f"killed by {signal.Signals(code - 128).name} (exit status {code})"
        except ValueError:
            pass
    return f"exited with status {code}"


def last_log_line(name: str) -> str:
    path = log_dir() / f"{name}.log"
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 4096))
            lines = f.read().decode("utf-8", "replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return lines[-1][-200:] if lines else ""


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (FileNotFoundError, ValueError):
        return []


def kill9(name: str) -> list[int]:
    """SIGKILL the service started under `name` (not its wrapper, which records the
    status), as a crash or the OOM killer would."""
    pid = read_pid(name)
    killed = children(pid) if pid else []
    for child in killed:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return killed


def kill_group(pid: int, timeout: float = 20.0) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not pid_alive(pid) and not _group_alive(pgid):
                return
            time.sleep(0.2)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg also reaches zombies, which a long-lived starter (the supervisor, a test) has
    # not reaped yet; they hold nothing, so waiting for them would only stall a stop
    return any(_live_member(stat, pgid) for stat in Path("/proc").glob("[0-9]*/stat"))


def _live_member(stat: Path, pgid: int) -> bool:
    try:
        fields = stat.read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z" and int(fields[2]) == pgid


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def port_owner(port: int) -> str:
    """'pid 123 (java)' for a listening port, best effort from /proc (no lsof needed)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inode = parts[9]
                break
        if inode:
            break
    if not inode:
        return "another process"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    comm = Path(f"/proc/{pid}/comm").read_text().strip()
                    return f"pid {pid} ({comm})"
        except OSError:
            continue
    return "another process"


def ensure_port_free(port: int, service: str, setting: str) -> None:
    if port_open(port):
        raise ClickpulseError(
            f"port {port} needed by {service} is taken by {port_owner(port)}: stop it, "
            f"or run `clickpulse stack down` if it is an earlier clickpulse stack, or set {setting}"
        )


def wait_for(check, what: str, timeout: float, log: Path | None = None, pid: int | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a service still starting answers with errors
            pass
        if pid is not None and not pid_alive(pid):
            break
        time.sleep(0.5)
    hint = f"; see {log}" if log else ""
    tail = ""
    if log and log.exists():
        tail = " | last log line: " + (log.read_text(errors="replace").strip().splitlines() or [""])[-1][-200:]
    raise ClickpulseError(f"{what} did not become ready in {timeout:.0f}s{hint}{tail}")
