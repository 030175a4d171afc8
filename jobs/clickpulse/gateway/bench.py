"""`clickpulse bench viewers`: how many live viewers one gateway (or Superset) holds.

sse mode: a dedicated `clickpulse gateway` process on a free port of 127.0.0.1; simulated
viewers in a few client processes, a mix of admin viewers (every site, or one site picked
by filter) and site viewers bound to one site, each holding an EventSource-like connection
for a bounded time. Every message carries its tick's time (the SSE id): its delay is receipt
minus tick. The gateway's CPU and RSS come from /proc/<pid>.

superset mode: each viewer posts the Live dashboard's chart queries to
`/api/v1/chart/data` every refresh period, as the dashboard does (`force`, no cache),
through one login per client process; the delay is the time to answer all charts.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

from .. import reports
from ..dashboards.bench import dashboard_charts, percentile
from ..dashboards.client import Superset
from ..errors import ClickpulseError
from ..paths import state_dir
from ..settings import Settings
from ..stack import procs

CLIENT_PROCESSES = 2
RAMP_PER_S = 1000


@dataclass
class Login:
    name: str
    cookie: str | None      # sse: the gateway's session cookie
    sites: list[str] | None  # None: every site
    password: str = ""


@dataclass
class ClientResult:
    connected: int = 0
    refused: int = 0
    errors: int = 0
    dropped: int = 0
    messages: int = 0
    delays_ms: list[float] = field(default_factory=list)


@dataclass
class Run:
    mode: str
    viewers: int
    seconds: float
    connected: int
    refused: int
    errors: int
    dropped: int
    messages: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu_pct: float
    rss_mb: float
    delays_ms: list[float] = field(default_factory=list)
    idle_cpu_pct: float = 0.0    # the server with no viewers (its tick alone)
    idle_rss_mb: float = 0.0

    def row(self) -> dict:
        per_k = 1000 / self.viewers
        return {"mode": self.mode, "viewers": self.viewers, "connected": self.connected,
                "refused": self.refused, "errors": self.errors + self.dropped, "messages": self.messages,
                "delay_p50_ms": self.p50_ms, "delay_p95_ms": self.p95_ms, "delay_p99_ms": self.p99_ms,
                "delay_max_ms": self.max_ms, "cpu_pct_of_core": self.cpu_pct,
                "idle_cpu_pct": self.idle_cpu_pct, "cpu_pct_per_1000": max(0.0, self.cpu_pct - self.idle_cpu_pct) * per_k,
                "rss_mb": self.rss_mb, "rss_mb_per_1000": max(0.0, self.rss_mb - self.idle_rss_mb) * per_k}


# --- the gateway under test ---------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """`clickpulse gateway` on a free port, only for the bench."""

    def __init__(self, settings: Settings):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).parent / "clickpulse"
        log_dir = state_dir() / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / "bench-gateway.log"
        self.proc = subprocess.Popen([str(exe), "gateway", "--port", str(self.port)], stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise ClickpulseError(f"the bench's gateway exited {self.proc.returncode}: see {self.log}")
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ClickpulseError(f"the bench's gateway did not become healthy in 60 s: see {self.log}")
            time.sleep(0.3)

    def idle(self, seconds: float = 5.0) -> tuple[float, float]:
        """CPU (% of a core) and RSS of the gateway ticking with no viewer."""
        cpu0, t0 = cpu_seconds([self.pid]), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds([self.pid]) - cpu0) / (time.monotonic() - t0) * 100, rss_mb([self.pid])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RunningGateway(GatewayProcess):
    """The stack's own gateway (`make demo`), e.g. to time freshness under viewer load."""

    def __init__(self, settings: Settings):
        pid = procs.read_pid("gateway")
        if not pid:
            raise ClickpulseError("the stack's gateway is not running: `make demo`, or drop --running")
        self._pid = pid
        self.url = f"http://{settings.gateway_host}:{settings.gateway_port}"

    @property
    def pid(self) -> int:
        return self._pid

    def stop(self) -> None:
        """Left running: it is the stack's."""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (from /proc/<pid>/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def superset_pids() -> list[int]:
    """The Superset server (gunicorn) and its workers."""
    root = procs.read_pid("superset")
    if not root:
        raise ClickpulseError("Superset is not running: clickpulse stack up")
    out = [root]
    for pid in out:
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
    return out


# --- logins -----------------------------------------------------------------------------------

def gateway_logins(url: str, settings: Settings) -> list[Login]:
    """An admin (every site) and the demo's site viewer (one site)."""
    out = []
    for user, password in ((settings.superset_admin_user, settings.superset_admin_password),
                           (settings.superset_site_viewer_user, settings.superset_site_viewer_password)):
        r = httpx.post(url + "/login", json={"username": user, "password": password}, timeout=60)
        if r.status_code != 200:
            raise ClickpulseError(f"cannot sign in to the gateway as {user}: {r.status_code} {r.text} "
                                  "(run `clickpulse dashboards sync` for the demo users)")
        out.append(Login(user, r.cookies["clickpulse_live"], r.json()["sites"], password))
    return out


def current_sites(url: str, cookie: str) -> list[str]:
    r = httpx.get(url + "/api/live", cookies={"clickpulse_live": cookie}, timeout=30)
    r.raise_for_status()
    return r.json()["sites"]


def viewer_paths(logins: list[Login], sites: list[str], n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(cookie, path) per viewer: half admins (a third of them all sites, the rest one site
    by filter), half site viewers on their own site."""
    rnd = random.Random(seed)
    admin, site_viewer = logins
    out = []
    for i in range(n):
        if i % 2 == 0:
            site = rnd.choice([None, *sites]) if sites else None
            out.append((admin.cookie, "/stream" + (f"?site={site}" if site else "")))
        else:
            out.append((site_viewer.cookie, "/stream"))
    return out


# --- sse clients --------------------------------------------------------------------------------

async def _sse_viewer(session: aiohttp.ClientSession, url: str, cookie: str, path: str, res: ClientResult,
                      measure_from_ms: float) -> None:
    """Holds one stream until cancelled at the end of the run; delays count once every
    viewer of the run has had time to connect (the held period, not the ramp)."""
    try:
        async with session.get(url + path, headers={"Cookie": f"clickpulse_live={cookie}"}) as r:
            if r.status != 200:
                res.refused += 1
                return
            res.connected += 1
            first = True
            while True:
                message = await r.content.readuntil(b"\n\n")
                if not message:
                    res.dropped += 1
                    return
                now = time.time() * 1000
                if message.startswith(b"id: "):
                    tick = int(message[4:message.index(b"\n")])
                    res.messages += 1
                    # the first message is the state at connect, not a tick's push
                    if not first and now >= measure_from_ms:
                        res.delays_ms.append(now - tick)
                    first = False
    except asyncio.CancelledError:
        return
    except (aiohttp.ClientError, OSError, ValueError):
        res.errors += 1


async def _sse_clients(url: str, viewers: list[tuple[str, str]], measure_from: float, stop_at: float) -> ClientResult:
    res = ClientResult()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = []
        for i, (cookie, path) in enumerate(viewers):
            tasks.append(asyncio.create_task(_sse_viewer(session, url, cookie, path, res, measure_from * 1000)))
            if i % 100 == 99:
                await asyncio.sleep(100 / RAMP_PER_S * CLIENT_PROCESSES)
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, stop_at - time.time()))
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return res


def _sse_process(url: str, viewers: list, measure_from: float, stop_at: float, queue) -> None:
    queue.put(asyncio.run(_sse_clients(url, viewers, measure_from, stop_at)))


def run_sse(settings: Settings, n: int, seconds: float, gateway: GatewayProcess, logins: list[Login],
            sites: list[str], idle: tuple[float, float], progress=None) -> Run:
    viewers = viewer_paths(logins, sites, n)
    ramp_s = n / RAMP_PER_S + 2
    measure_from = time.time() + ramp_s
    stop_at = measure_from + seconds
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    shares = [viewers[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES)]
    clients = [ctx.Process(target=_sse_process, args=(gateway.url, s, measure_from, stop_at, queue), daemon=True)
               for s in shares if s]
    for c in clients:
        c.start()
    task = progress.add_task(f"{n:,} viewers (sse)", total=ramp_s + seconds) if progress else None
    started = time.time()
    time.sleep(ramp_s)
    cpu0, t0 = cpu_seconds([gateway.pid]), time.monotonic()
    while time.time() < stop_at - 0.5:
        time.sleep(0.5)
        if task is not None:
            progress.update(task, completed=time.time() - started)
    cpu1, t1 = cpu_seconds([gateway.pid]), time.monotonic()
    rss = rss_mb([gateway.pid])
    results = [queue.get(timeout=120) for _ in clients]
    for c in clients:
        c.join(timeout=30)
    run = _combine("sse", n, seconds, results, (cpu1 - cpu0) / (t1 - t0) * 100, rss)
    run.idle_cpu_pct, run.idle_rss_mb = idle
    return run


def _combine(mode: str, n: int, seconds: float, results: list[ClientResult], cpu_pct: float, rss: float) -> Run:
    delays = [d for r in results for d in r.delays_ms]
    return Run(mode, n, seconds, sum(r.connected for r in results), sum(r.refused for r in results),
               sum(r.errors for r in results), sum(r.dropped for r in results), sum(r.messages for r in results),
               percentile(delays, 50), percentile(delays, 95), percentile(delays, 99), max(delays, default=0.0),
               cpu_pct, rss, delays)


# --- superset mode ------------------------------------------------------------------------------

def live_queries(settings: Settings) -> list[dict]:
    with Superset(settings.superset_url, settings.superset_admin_user, settings.superset_admin_password) as sp:
        charts = [qc for title, _, _, qc in dashboard_charts(sp) if title == "Live"]
    if not charts:
        raise ClickpulseError("no Live dashboard in Superset: run `clickpulse dashboards sync`")
    return [{**qc, "force": True, "result_format": "json", "result_type": "full"} for qc in charts]


async def _superset_viewer(client: httpx.AsyncClient, queries: list[dict], refresh_s: float, stop_at: float,
                           res: ClientResult) -> None:
    await asyncio.sleep(random.random() * refresh_s)
    res.connected += 1
    while time.time() < stop_at:
        t0 = time.time()
        try:
            answers = await asyncio.gather(*(client.post("/api/v1/chart/data", json=q) for q in queries))
            bad = [a.status_code for a in answers if a.status_code != 200]
            if bad:
                res.refused += 1
            else:
                res.messages += 1
                res.delays_ms.append((time.time() - t0) * 1000)
        except httpx.HTTPError:
            res.errors += 1
        await asyncio.sleep(max(0.0, refresh_s - (time.time() - t0)))


async def _superset_clients(settings: Settings, queries: list[dict], n: int, refresh_s: float,
                            stop_at: float) -> ClientResult:
    res = ClientResult()
    with Superset(settings.superset_url, settings.superset_admin_user, settings.superset_admin_password) as sp:
        headers = dict(sp._http.headers)  # the logged-in session's bearer token and CSRF header
        cookies = dict(sp._http.cookies)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=settings.superset_url, headers=headers, cookies=cookies, limits=limits,
                                 timeout=120) as client:
        await asyncio.gather(*(_superset_viewer(client, queries, refresh_s, stop_at, res) for _ in range(n)))
    return res


def _superset_process(settings: Settings, queries: list[dict], n: int, refresh_s: float, stop_at: float,
                      queue) -> None:
    queue.put(asyncio.run(_superset_clients(settings, queries, n, refresh_s, stop_at)))


def superset_idle(seconds: float = 5.0) -> tuple[float, float]:
    pids = superset_pids()
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pids) - cpu0) / (time.monotonic() - t0) * 100, rss_mb(pids)


def run_superset(settings: Settings, n: int, seconds: float, refresh_s: float, progress=None) -> Run:
    queries = live_queries(settings)
    pids = superset_pids()
    idle = superset_idle()
    stop_at = time.time() + seconds
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    shares = [n // CLIENT_PROCESSES + (1 if i < n % CLIENT_PROCESSES else 0) for i in range(CLIENT_PROCESSES)]
    clients = [ctx.Process(target=_superset_process, args=(settings, queries, k, refresh_s, stop_at, queue),
                           daemon=True) for k in shares if k]
    cpu0, t0 = cpu_seconds(pids), time.monotonic()
    for c in clients:
        c.start()
    task = progress.add_task(f"{n:,} viewers (superset)", total=seconds) if progress else None
    started = time.time()
    while time.time() < stop_at:
        time.sleep(0.5)
        if task is not None:
            progress.update(task, completed=time.time() - started)
    cpu1, t1 = cpu_seconds(pids), time.monotonic()
    rss = rss_mb(pids)
    results = [queue.get(timeout=300) for _ in clients]
    for c in clients:
        c.join(timeout=30)
    run = _combine("superset", n, seconds, results, (cpu1 - cpu0) / (t1 - t0) * 100, rss)
    run.idle_cpu_pct, run.idle_rss_mb = idle
    return run


def plot(runs: list[Run]):
    """Delay percentiles and CPU against viewers."""
    fig = reports.new_figure(8, 3.5)
    ax1, ax2 = fig.subplots(1, 2)
    for mode in sorted({r.mode for r in runs}):
        rs = [r for r in runs if r.mode == mode]
        xs = [r.viewers for r in rs]
        ax1.plot(xs, [r.p50_ms for r in rs], marker="o", label=f"{mode} p50")
        ax1.plot(xs, [r.p99_ms for r in rs], marker="o", label=f"{mode} p99")
        ax2.plot(xs, [r.cpu_pct for r in rs], marker="o", label=mode)
    ax1.set(xlabel="viewers", ylabel="update delay (ms)", xscale="log", title="update delay")
    ax2.set(xlabel="viewers", ylabel="% of one core", xscale="log", title="server CPU")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return fig
