"""`clickpulse gateway`: the Live page and its Server-Sent Events stream.

Once per tick (GATEWAY_TICK_MS) one task reads the live views for every site
(`live.read_snapshot`), then computes one payload per distinct view among the connected
streams (a view = the viewer's site scope + their filters) and writes it, once encoded, to
every stream of that view whose numbers changed. The cost of a tick grows with the number
of distinct views, not of viewers; a viewer costs a socket and a few bytes per change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from urllib.parse import quote

import httpx
import orjson
import psycopg
from aiohttp import web

from ..settings import Settings
from . import live
from .auth import COOKIE, SESSION_SECONDS, Cookies, SignInError, User, session_secret, sign_in

log = logging.getLogger("clickpulse.gateway")

# A stream whose socket buffer holds this much unsent data is too slow to follow: it is
# closed (the browser's EventSource reconnects and gets the current numbers).
MAX_BUFFER_BYTES = 1_000_000
KEEPALIVE_S = 15.0
STATIC = resources.files(__package__) / "static"


@dataclass(eq=False)
class Stream:
    user: User
    view: live.View
    transport: asyncio.Transport
    closed: asyncio.Future
    sent: bytes | None = None     # the body of the last payload sent, to push only changes


@dataclass
class ViewState:
    streams: set[Stream] = field(default_factory=set)
    body: bytes | None = None     # the current payload's JSON (without the tick)


class Gateway:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.tick_s = settings.gateway_tick_ms / 1000
        self.cookies = Cookies(session_secret(settings))
        self.views: dict[live.View, ViewState] = {}
        self.snapshot: live.Snapshot | None = None
        self.ticks = 0
        self.tick_ms_last = 0.0
        self.read_ms_last = 0.0      # the queries of the last tick
        self.publish_ms_last = 0.0   # payloads and writes of the last tick
        self.db_error: str | None = None
        self._http: httpx.AsyncClient | None = None
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    # --- app ---------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors])
        app.router.add_get("/", self.page)
        app.router.add_get("/live", self.page)
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login)
        app.router.add_post("/logout", self.logout)
        app.router.add_get("/api/live", self.snapshot_json)
        app.router.add_get("/stream", self.stream)
        app.router.add_get("/health", self.health)
        app.router.add_get("/static/{name}", self.static)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)
        app.on_cleanup.append(self._cleanup)
        return app

    async def _start(self, _app) -> None:
        self._http = httpx.AsyncClient(timeout=30)
        self._task = asyncio.create_task(self._ticker(), name="gateway-ticker")

    async def _shutdown(self, _app) -> None:
        # open streams never end by themselves: end them so that the server can stop
        for state in self.views.values():
            for s in list(state.streams):
                if not s.closed.done():
                    s.closed.set_result(None)

    async def _cleanup(self, _app) -> None:
        if self._task:
            self._task.cancel()
        if self._http:
            await self._http.aclose()

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except SignInError as e:
            return web.json_response({"error": str(e)}, status=e.status)

    # --- the tick ----------------------------------------------------------------------------
    async def _ticker(self) -> None:
        conn = None
        while True:
            started = time.monotonic()
            try:
                if conn is None or conn.closed:
                    conn = await psycopg.AsyncConnection.connect(self.settings.dsn("reader"), autocommit=True,
                                                                 connect_timeout=5)
                    await conn.execute("SET default_transaction_read_only = on; SET statement_timeout = '5s'")
                self.snapshot = await live.read_snapshot(conn, int(time.time() * 1000))
                self.db_error = None
                read = time.monotonic()
                self.read_ms_last = (read - started) * 1000
                self.publish()
                self.publish_ms_last = (time.monotonic() - read) * 1000
                self._ready.set()
            except (psycopg.Error, OSError) as e:
                if self.db_error != str(e):
                    log.warning("cannot read the live tables (%s): retrying every tick", e)
                self.db_error = str(e)
                if conn is not None:
                    await conn.close()
                conn = None
            except Exception:  # noqa: BLE001 - a bug in one tick must not stop the stream
                log.exception("tick failed")
            self.ticks += 1
            self.tick_ms_last = (time.monotonic() - started) * 1000
            await asyncio.sleep(max(0.0, self.tick_s - (time.monotonic() - started)))

    def publish(self) -> None:
        """Recompute each watched view's payload and write it to the streams that have not
        seen it yet; keep-alive comments to the others now and then."""
        snap = self.snapshot
        for view, state in list(self.views.items()):
            if not state.streams:
                del self.views[view]
                continue
            state.body = orjson.dumps(live.payload(snap, view))
            message = _event(state.body, snap.tick_ms)
            for s in list(state.streams):
                if s.sent != state.body:
                    self._write(s, message)
                    s.sent = state.body

    def _write(self, s: Stream, data: bytes) -> None:
        if s.transport.is_closing() or s.transport.get_write_buffer_size() > MAX_BUFFER_BYTES:
            if not s.closed.done():
                s.closed.set_result(None)
            return
        s.transport.write(data)

    # --- requests ----------------------------------------------------------------------------
    def user(self, request: web.Request) -> User | None:
        return self.cookies.open(request.cookies.get(COOKIE))

    def view_for(self, request: web.Request, user: User) -> live.View:
        """The viewer's filters, refused (403) when they name a site outside their scope."""
        q = request.query
        site = q.get("site") or None
        if site is not None and user.sites is not None and site not in user.sites:
            raise web.HTTPForbidden(text=f"{user.name} may not see site {site}")
        return live.View(user.sites, site, *(q.get(s) or None for s in live.SEGMENTS))

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = self.user(request)
        if user is None:
            raise web.HTTPFound("/login")
        self.view_for(request, user)   # refuses a site outside the viewer's scope
        html = (STATIC / "live.html").read_text()
        html = (html.replace("{{user}}", _html(user.name)).replace("{{scope}}", _html(user.label))
                .replace("{{superset_live}}", _html(self.settings.superset_url.rstrip("/") + "/superset/dashboard/live/"))
                .replace("{{tick_ms}}", str(self.settings.gateway_tick_ms)))
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def login_page(self, request: web.Request) -> web.Response:
        message = _html(request.query.get("error", ""))
        html = (STATIC / "login.html").read_text().replace("{{error}}", message)
        return web.Response(text=html, content_type="text/html")

    async def login(self, request: web.Request) -> web.Response:
        as_json = request.content_type == "application/json"
        form = await (request.json() if as_json else request.post())
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        try:
            user = await sign_in(self._http, self.settings.superset_url, username, password)
        except SignInError as e:
            if as_json:
                raise
            raise web.HTTPFound("/login?error=" + quote(str(e))) from e
        resp = (web.json_response({"user": user.name, "sites": None if user.sites is None else sorted(user.sites)})
                if as_json else web.HTTPFound("/"))
        resp.set_cookie(COOKIE, self.cookies.seal(user), max_age=SESSION_SECONDS, httponly=True, samesite="Lax",
                        path="/")
        if not as_json:
            raise resp
        return resp

    async def logout(self, _request: web.Request) -> web.Response:
        resp = web.HTTPFound("/login")
        resp.del_cookie(COOKIE, path="/")
        raise resp

    async def snapshot_json(self, request: web.Request) -> web.Response:
        user = self.user(request)
        if user is None:
            raise web.HTTPUnauthorized(text="sign in first: POST /login")
        view = self.view_for(request, user)
        snap = await self._current()
        return web.Response(body=orjson.dumps({"tick": snap.tick_ms, **live.payload(snap, view)}),
                            content_type="application/json")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        user = self.user(request)
        if user is None:
            raise web.HTTPUnauthorized(text="sign in first: POST /login")
        view = self.view_for(request, user)
        snap = await self._current()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
        # the tick writes each encoded event (already framed as a chunk) straight to the
        # socket, once per stream, without awaiting anything; the connection ends with the stream
        resp.force_close()
        await resp.prepare(request)
        transport = request.transport
        if transport is None:
            return resp
        s = Stream(user, view, transport, asyncio.get_running_loop().create_future())
        state = self.views.setdefault(view, ViewState())
        if state.body is None:
            state.body = orjson.dumps(live.payload(snap, view))
        transport.write(RETRY + _event(state.body, snap.tick_ms))
        s.sent = state.body
        state.streams.add(s)
        try:
            while not s.closed.done():
                await asyncio.wait([s.closed], timeout=KEEPALIVE_S)
                if s.closed.done() or transport.is_closing():
                    break
                self._write(s, KEEPALIVE)
        finally:
            state.streams.discard(s)
        return resp

    async def health(self, _request: web.Request) -> web.Response:
        ok = self.snapshot is not None and self.db_error is None
        streams = sum(len(v.streams) for v in self.views.values())
        return web.json_response({"status": "ok" if ok else "unavailable", "database": self.db_error or "ok",
                                  "streams": streams, "views": len(self.views), "ticks": self.ticks,
                                  "tick_ms": round(self.tick_ms_last, 1), "read_ms": round(self.read_ms_last, 1),
                                  "publish_ms": round(self.publish_ms_last, 1)}, status=200 if ok else 503)

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in ("live.js", "live.css"):
            raise web.HTTPNotFound()
        kind = "application/javascript" if name.endswith(".js") else "text/css"
        return web.Response(text=(STATIC / name).read_text(), content_type=kind,
                            headers={"Cache-Control": "no-cache"})

    async def _current(self) -> live.Snapshot:
        if self.snapshot is None:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout=10)
            except asyncio.TimeoutError:
                raise web.HTTPServiceUnavailable(text=f"the live tables cannot be read: {self.db_error}") from None
        return self.snapshot


def _event(body: bytes, tick_ms: int) -> bytes:
    # the tick's time travels in the event id, so the payload itself stays comparable
    return _chunk(b"id: %d\nevent: live\ndata: " % tick_ms + body + b"\n\n")


def _chunk(data: bytes) -> bytes:
    """`data` as one HTTP/1.1 chunk: aiohttp has announced chunked encoding for the stream,
    and the tick writes to the socket without going through its writer."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


KEEPALIVE = _chunk(b": keep-alive\n\n")
RETRY = _chunk(b"retry: 2000\n\n")


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def run(settings: Settings, host: str, port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    gateway = Gateway(settings)   # fails fast on a missing secret
    log.info("gateway listening on http://%s:%d (tick %d ms, database %s)", host, port, settings.gateway_tick_ms,
             settings.dsn("reader").split("@")[-1])
    web.run_app(gateway.app(), host=host, port=port, access_log=None, print=None, shutdown_timeout=5,
                backlog=4096)
