"""Redis from Debian's `redis-server`, Superset's shared cache (chart results, metadata,
filter and explore state), on the host and port of REDIS_URL.

A cache only: no snapshots or append-only file (a restart empties it, and Superset then
queries PostgreSQL again), a memory cap with eviction of the least recently used keys
that have a timeout (every key Superset writes has one). Its working folder is
.clickpulse/redis, its log .clickpulse/logs/redis.log.
"""

from __future__ import annotations

import shutil
import socket
from urllib.parse import urlparse

from ..errors import ClickpulseError
from ..paths import state_dir
from ..settings import Settings
from . import procs

NAME = "redis"
MAX_MEMORY = "256mb"


def host_port(settings: Settings) -> tuple[str, int]:
    u = urlparse(settings.redis_url)
    return u.hostname or "127.0.0.1", u.port or 6379


def port(settings: Settings) -> int:
    return host_port(settings)[1]


def server_bin() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise ClickpulseError("redis-server not found (Superset's cache): apt-get install redis-server, "
                              "or point REDIS_URL at a running Redis")
    return found


def start(settings: Settings) -> None:
    if is_ready(settings):
        return
    host, p = host_port(settings)
    procs.ensure_port_free(p, "Redis", "REDIS_URL")
    home = state_dir() / "redis"
    home.mkdir(parents=True, exist_ok=True)
    pid = procs.start(NAME, [
        server_bin(), "--bind", host, "--port", str(p), "--dir", str(home),
        "--daemonize", "no", "--save", "", "--appendonly", "no",
        "--maxmemory", MAX_MEMORY, "--maxmemory-policy", "volatile-lru",
    ])
    procs.wait_for(lambda: is_ready(settings), "Redis", 30, procs.log_dir() / "redis.log", pid)


def stop() -> bool:
    return procs.stop(NAME)


def is_ready(settings: Settings) -> bool:
    """Answers PING (a raw RESP exchange: the stack does not need the redis package)."""
    try:
        with socket.create_connection(host_port(settings), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False
