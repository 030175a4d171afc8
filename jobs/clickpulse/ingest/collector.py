"""`clickpulse collect`: the HTTP collector browsers and servers send events to.

POST /collect answers 2xx only once Kafka has acknowledged every event of the request
(acks=all, idempotent producer); anything else is a 4xx with the reason, or a 503 when
Kafka cannot be reached, so a client may retry whatever did not get a 2xx (event_id makes
the retry harmless). Invalid events also go to the dead-letter topic with their reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import multiprocessing as mp
import signal
import threading
import time
from dataclasses import dataclass, field

import orjson
from aiohttp import web
from confluent_kafka import KafkaError, Producer

from .. import bots
from ..errors import ClickpulseError
from ..settings import Settings
from . import useragent
from .counters import Counters
from .geoip import GeoIP
from .producer import dead_letter, producer_config
from .schema import MAX_FUTURE_MS, EventSchema, tags_from_page
from .snippet import DEMO_SITE, SITE_RE, demo_page, snippet

log = logging.getLogger("clickpulse.collector")

# Fields only the collector may set: a client's values are dropped before validation.
# `ip` is dropped too, so that no raw address is ever stored, whoever sends it, and
# `$clickpulse`, which marks the pipeline's own clock ticks, so no client can forge one.
COLLECTOR_FIELDS = ("received_at", "browser", "bot", "ip", "$clickpulse")
# Kafka's default message.max.bytes is 1 MB; one event may not use all of it.
MAX_EVENT_BYTES = 900_000
ACCEPTED_TYPES = ("application/json", "text/plain")
DEMO_PATHS = ("/demo", "/", "/pricing", "/signup", "/cart", "/checkout", "/landing/{name}",
              "/products/{name}", "/blog/{name}")


class KafkaUnavailable(Exception):
    pass


def _json(body: dict, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")


def parse_write_keys(spec: str) -> dict[str, set[str]]:
    """COLLECTOR_WRITE_KEYS "site-1:key1,site-2:key2" as {key: {sites}}."""
    keys: dict[str, set[str]] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        site, sep, key = item.partition(":")
        site, key = site.strip(), key.strip()
        if not sep or not site or not key:
            raise ClickpulseError(f"COLLECTOR_WRITE_KEYS: {item!r} is not SITE:KEY (expected e.g. site-1:key1,site-2:key2)")
        keys.setdefault(key, set()).add(site)
    return keys


def parse_origins(spec: str) -> set[str] | None:
    """COLLECTOR_ALLOWED_ORIGINS as a set of origins, or None for any origin ("*")."""
    items = {o.strip().rstrip("/").lower() for o in spec.split(",") if o.strip()}
    return None if not items or "*" in items else items


class KafkaSink:
    """Produces from the event loop and resolves one future per request once Kafka has
    acknowledged (or refused) all of its records. Delivery reports are served by a
    thread, so a slow broker never blocks the loop."""

    def __init__(self, settings: Settings, counters: Counters):
        self.counters = counters
        self.timeout_s = settings.collector_kafka_timeout_ms / 1000
        self._lock = threading.Lock()
        self._conf = producer_config(
            settings, "clickpulse-collector",
            **{
                # a record not acknowledged in time fails, and its request gets a 503
                "message.timeout.ms": settings.collector_kafka_timeout_ms,
                "queue.buffering.max.messages": 200_000,
                # a request waits for its acknowledgement: batch briefly, concurrency fills batches
                "linger.ms": 2,
                "reconnect.backoff.max.ms": 1000,
                "error_cb": self._on_error,
                "logger": logging.getLogger("clickpulse.collector.kafka"),
            },
        )
        self.producer = Producer(self._conf)
        self.up = self._probe(min(self.timeout_s, 5.0))
        self._last_probe = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_reports, name="kafka-reports", daemon=True)
        self._thread.start()

    def _probe(self, timeout: float) -> bool:
        try:
            self.producer.list_topics(timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable now"
            return False

    def _on_error(self, err) -> None:
        self.counters.inc("clickpulse_collector_kafka_errors_total")
        if err.code() == KafkaError._ALL_BROKERS_DOWN or err.fatal():
            if self.up:
                log.warning("Kafka unreachable (%s): answering 503 until it is back", err.str())
            self.up = False

    def _serve_reports(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.05)
            # While Kafka is down requests are refused without producing; a metadata
            # request tells when it is back (librdkafka reconnects by itself).
            if not self.up and time.monotonic() - self._last_probe > 1.0:
                self._last_probe = time.monotonic()
                if self._probe(1.0):
                    log.warning("Kafka reachable again")
                    self.up = True

    async def send(self, records: list[tuple[str, bytes | None, bytes]]) -> None:
        """Produce `records` (topic, key, value); return once Kafka acknowledged them all,
        raise KafkaUnavailable otherwise."""
        if not records:
            return
        if not self.up:
            raise KafkaUnavailable("Kafka is unreachable")
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        state = {"pending": len(records), "error": None}

        def settle(error):
            if not done.done():
                done.set_result(error)

        def report(err, _msg):  # runs on the report thread
            with self._lock:
                if err is not None and state["error"] is None:
                    state["error"] = err
                state["pending"] -= 1
                finished = state["pending"] == 0
            if finished:
                if state["error"] is None:
                    self.up = True
                loop.call_soon_threadsafe(settle, state["error"])

        produced = 0
        try:
            for topic, key, value in records:
                self.producer.produce(topic, value, key, on_delivery=report)
                produced += 1
        except (BufferError, Exception) as e:  # noqa: BLE001 - queue full or client failure
            with self._lock:
                state["error"] = state["error"] or e
                state["pending"] -= len(records) - produced
                finished = state["pending"] == 0
            if finished:
                settle(state["error"])
        try:
            # librdkafka fails each record after message.timeout.ms; the margin only guards
            # against a report that never comes
            error = await asyncio.wait_for(asyncio.shield(done), self.timeout_s + 5)
        except asyncio.TimeoutError:
            error = "no delivery report"
        if error is not None:
            self.counters.inc("clickpulse_collector_kafka_errors_total")
            raise KafkaUnavailable(str(error))

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.producer.flush(timeout)


@dataclass
class Outcome:
    valid: list[tuple[bytes, bytes]] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    dead_letters: list[bytes] = field(default_factory=list)


class Collector:
    def __init__(self, settings: Settings, schema: EventSchema | None = None):
        self.settings = settings
        self.schema = schema or EventSchema()
        self.write_keys = parse_write_keys(settings.collector_write_keys)
        self.origins = parse_origins(settings.collector_allowed_origins)
        self.hmac_key = settings.collector_user_id_key.encode() if settings.collector_user_id_key else None
        # the pipeline's limit when it has one as a setting, else the contract's 24 h
        self.max_future_ms = getattr(settings, "max_future_ms", MAX_FUTURE_MS)
        self.geoip = None
        if settings.collector_geoip_db:
            self.geoip = GeoIP(settings.collector_geoip_db)
        self.counters = Counters()
        self.sink: KafkaSink | None = None
        # per collector process: with several workers each counts the requests it serves
        self.bot_rate = bots.RateRule(settings.collector_bot_rate)

    # --- app -------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.settings.collector_max_body_bytes, middlewares=[self._guard])
        app.router.add_post("/collect", self.collect)
        app.router.add_route("OPTIONS", "/collect", self.preflight)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/clickpulse.js", self.script)
        if self.settings.collector_demo:
            for path in DEMO_PATHS:
                app.router.add_get(path, self.demo)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app) -> None:
        # the producer's first connection attempt blocks; keep the loop free meanwhile
        self.sink = await asyncio.get_running_loop().run_in_executor(None, KafkaSink, self.settings, self.counters)
        if not self.sink.up:
            log.warning("Kafka at %s is not reachable yet: POST /collect answers 503 until it is",
                        self.settings.kafka_bootstrap_servers)

    async def _stop(self, _app) -> None:
        if self.sink:
            await asyncio.get_running_loop().run_in_executor(None, self.sink.close)
        if self.geoip:
            self.geoip.close()

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        start = time.perf_counter()
        try:
            resp = await handler(request)
        except web.HTTPException as e:
            resp = web.json_response({"error": e.reason}, status=e.status)
            if e.status == 405:
                resp.headers["Allow"] = e.headers.get("Allow", "")
        except Exception:  # noqa: BLE001 - a bug must not take the collector down
            log.exception("unexpected error on %s %s", request.method, request.path)
            resp = web.json_response({"error": "internal error"}, status=500)
        route = request.path if request.path in ("/collect", "/health", "/metrics", "/clickpulse.js") else "other"
        self.counters.inc("clickpulse_collector_requests_total", route=route, code=str(resp.status))
        if route == "/collect":
            self.counters.observe(time.perf_counter() - start)
            origin = request.headers.get("Origin")
            if origin and self._origin_allowed(origin):
                resp.headers["Access-Control-Allow-Origin"] = "*" if self.origins is None else origin
                resp.headers["Vary"] = "Origin"
        return resp

    # --- handlers ----------------------------------------------------------------------------
    def _origin_allowed(self, origin: str) -> bool:
        return self.origins is None or origin.rstrip("/").lower() in self.origins

    async def preflight(self, request: web.Request) -> web.Response:
        origin = request.headers.get("Origin")
        if not origin or not self._origin_allowed(origin):
            return web.json_response({"error": "origin not allowed (COLLECTOR_ALLOWED_ORIGINS)"}, status=403)
        return web.Response(status=204, headers={
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type, X-Clickpulse-Key",
            "Access-Control-Max-Age": "86400",
        })

    async def health(self, _request: web.Request) -> web.Response:
        up = bool(self.sink and self.sink.up)
        return web.json_response({"status": "ok" if up else "unavailable", "kafka": "up" if up else "down"},
                                 status=200 if up else 503)

    async def metrics(self, _request: web.Request) -> web.Response:
        self.counters.set("clickpulse_collector_kafka_up", 1 if (self.sink and self.sink.up) else 0)
        return web.Response(text=self.counters.render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def script(self, _request: web.Request) -> web.Response:
        return web.Response(body=snippet(), content_type="application/javascript", charset="utf-8",
                            headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"})

    async def demo(self, request: web.Request) -> web.Response:
        site = request.query.get("site") or DEMO_SITE
        if not SITE_RE.match(site):
            site = DEMO_SITE
        key = next((k for k, sites in self.write_keys.items() if site in sites), None)
        return web.Response(text=demo_page(site if site != DEMO_SITE else None, key), content_type="text/html")

    def _error(self, status: int, message: str, **extra) -> web.Response:
        return _json({"error": message, **extra}, status=status)

    async def collect(self, request: web.Request) -> web.Response:
        s = self.settings
        origin = request.headers.get("Origin")
        if origin and not self._origin_allowed(origin):
            return self._error(403, "origin not allowed (COLLECTOR_ALLOWED_ORIGINS)")
        if request.content_type not in ACCEPTED_TYPES:
            return self._error(415, f"Content-Type must be application/json or text/plain, not {request.content_type}")
        charset = (request.charset or "utf-8").lower()
        if charset not in ("utf-8", "utf8"):
            return self._error(415, f"charset must be UTF-8, not {charset}")
        if request.content_length is not None and request.content_length > s.collector_max_body_bytes:
            return self._error(413, f"body larger than {s.collector_max_body_bytes} bytes (COLLECTOR_MAX_BODY_BYTES)")
        allowed_sites = None
        if self.write_keys:
            key = request.headers.get("X-Clickpulse-Key") or request.query.get("key")
            if not key:
                return self._error(401, "write key missing: send it as X-Clickpulse-Key or ?key=")
            allowed_sites = next((sites for k, sites in self.write_keys.items()
                                  if hmac.compare_digest(k.encode(), key.encode())), None)
            if allowed_sites is None:
                return self._error(401, "unknown write key")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return self._error(413, f"body larger than {s.collector_max_body_bytes} bytes (COLLECTOR_MAX_BODY_BYTES)")
        self.counters.inc("clickpulse_collector_request_bytes_total", len(body))
        received = int(time.time() * 1000)

        events, problem = self._events(body)
        if problem:
            await self._dead_letters([dead_letter(body.decode("utf-8", "replace"), problem, None, received,
                                                  "collector")])
            return self._error(400, problem, accepted=0)
        if len(events) > s.collector_max_batch:
            return self._error(413, f"batch of {len(events)} events is larger than {s.collector_max_batch} "
                                    "(COLLECTOR_MAX_BATCH)")
        if allowed_sites is not None:
            for ev in events:
                site = ev.get("site_id") if isinstance(ev, dict) else None
                if isinstance(site, str) and site not in allowed_sites:
                    return self._error(403, f"the write key is not valid for site {site!r}")

        out = self._check(events, request, received, body)
        produce = self.sink.send([(s.events_topic, k, v) for k, v in out.valid]) if out.valid else None
        dead = self._dead_letters(out.dead_letters)
        if produce is not None:
            try:
                await produce
            except KafkaUnavailable as e:
                await dead
                self.counters.inc("clickpulse_collector_events_total", len(out.valid), outcome="failed")
                log.warning("503: %s", e)
                return _json({"error": "Kafka did not acknowledge the events; retry later", "accepted": 0},
                             status=503, headers={"Retry-After": "5"})
        await dead
        self.counters.inc("clickpulse_collector_events_total", len(out.valid), outcome="accepted")
        self.counters.inc("clickpulse_collector_events_total", len(out.rejected), outcome="invalid")
        if out.rejected:
            summary = (out.rejected[0]["reason"] if len(events) == 1
                       else f"{len(out.rejected)} of {len(events)} events rejected")
            return self._error(400, summary, accepted=len(out.valid), rejected=out.rejected)
        return _json({"accepted": len(out.valid)}, status=200)

    async def _dead_letters(self, records: list[bytes]) -> None:
        """Best effort: the client's answer (400) does not depend on the dead-letter topic."""
        if not records:
            return
        try:
            await self.sink.send([(self.settings.dead_letter_topic, None, r) for r in records])
            self.counters.inc("clickpulse_collector_dead_letters_total", len(records))
        except KafkaUnavailable as e:
            log.warning("could not write %d dead letter(s): %s", len(records), e)

    @staticmethod
    def _events(body: bytes) -> tuple[list, str | None]:
        """The events of a body: one event, an array of events, or {"events": [...]}."""
        if not body.strip():
            return [], "empty body"
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            if "UTF-8" in str(e):
                return [], "body is not valid UTF-8"
            return [], f"body is not valid JSON: {e}"
        if isinstance(doc, list):
            events = doc
        elif isinstance(doc, dict) and isinstance(doc.get("events"), list) and "event_id" not in doc:
            events = doc["events"]
        elif isinstance(doc, dict):
            events = [doc]
        else:
            return [], 'body must be an event, an array of events or {"events": [...]}'
        if not events:
            return [], "no events in the body"
        return events, None

    def _client_ip(self, request: web.Request) -> str | None:
        if self.settings.collector_trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "")
            first = forwarded.split(",")[0].strip()
            if first:
                return first
        return request.remote

    def _check(self, events: list, request: web.Request, received: int, body: bytes) -> Outcome:
        out = Outcome()
        user_agent = request.headers.get("User-Agent")
        device, browser = useragent.parse(user_agent)
        bot_ua = bots.user_agent_reason(user_agent)
        # per address only for browsers: a server posting its users' events sends them all
        # from one address
        address = bots.ip_hash(self._client_ip(request)) if device else None
        country: list = []  # looked up once per request, only if an event needs it
        for i, ev in enumerate(events):
            if isinstance(ev, dict):
                # the parsed body is ours alone: events are changed in place
                for name in COLLECTOR_FIELDS:
                    ev.pop(name, None)
            reason = self.schema.reason(ev, received, self.max_future_ms)
            value = None
            if reason is None:
                tags_from_page(self.schema.normalize_in_place(ev))
                ev["received_at"] = received
                if device and "device" not in ev:
                    ev["device"] = device
                if browser:
                    ev["browser"] = browser
                # marked, not dropped: the stream counts bot events apart from users'
                too_fast = self.bot_rate.over(received, ev["user_id"], address)
                if bot_ua or too_fast:
                    ev["bot"] = bot_ua or bots.RATE
                if self.geoip and "country" not in ev:
                    if not country:
                        ip = self._client_ip(request)
                        country.append(self.geoip.country(ip) if ip else None)
                    if country[0]:
                        ev["country"] = country[0]
                if self.hmac_key:
                    ev["user_id"] = hmac.new(self.hmac_key, ev["user_id"].encode(), hashlib.sha256).hexdigest()
                value = orjson.dumps(ev)
                if len(value) > MAX_EVENT_BYTES:
                    reason = f"event: larger than {MAX_EVENT_BYTES} bytes"
            if reason is None:
                out.valid.append((ev["user_id"].encode(), value))
                continue
            out.rejected.append({"index": i, "reason": reason})
            try:
                payload = orjson.dumps(ev).decode()
            except (orjson.JSONEncodeError, TypeError):
                payload = body.decode("utf-8", "replace")
            site = ev.get("site_id") if isinstance(ev, dict) else None
            out.dead_letters.append(dead_letter(payload, reason, site, received, "collector"))
        return out


def run(settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve until interrupted; with several workers each process has its own producer and
    the kernel spreads connections over them (SO_REUSEPORT). GET /metrics then shows the
    counters of whichever worker answers."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    collector = Collector(settings)  # fails fast on bad settings, before any fork
    if workers <= 1:
        _serve(collector, host, port, reuse_port=False)
        return

    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_serve, args=(Collector(settings), host, port, True), daemon=True)
             for _ in range(workers)]
    for p in procs:
        p.start()

    def stop(*_):
        # each worker drains its in-flight requests and flushes its producer on SIGTERM
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=settings.collector_kafka_timeout_ms / 1000 + 10)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for p in procs:
        p.join()


def _serve(collector: Collector, host: str, port: int, reuse_port: bool) -> None:
    app = collector.app()
    log.info("collector listening on http://%s:%d (Kafka %s, topic %s)", host, port,
             collector.settings.kafka_bootstrap_servers, collector.settings.events_topic)
    web.run_app(app, host=host, port=port, reuse_port=reuse_port, access_log=None, print=None,
                shutdown_timeout=collector.settings.collector_kafka_timeout_ms / 1000 + 5)
