"""`clickpulse bench alerts`: how soon an incident's alert reaches a webhook, and how many
alerts a day of normal traffic raises.

Incidents are injected on live traffic (clickpulse.alerts.incidents): in turn, site 1 of
the bench sends nothing for one minute, or site 2 gets 300 bot events in one minute; a
normal minute follows each. The latency of a transition is the wall-clock time the local
webhook receiver (`Receiver`, a real HTTP server the bench's `clickpulse alerts notify`
posts to) got it, minus the end of the minute that broke (or healed) the rule; the time
its record arrived on the alerts topic is kept too (the evaluator's share). The minute
closes CLICKPULSE_WATERMARK_DELAY_MS after its end at the earliest."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ..errors import ClickpulseError
from ..reports import new_figure
from ..settings import Settings
from .incidents import MINUTE, AlertReader, Traffic, latency_s, live, next_minute
from .watch import Probe

RULE = {"drop": "traffic_drop", "bots": "bot_flood"}


@dataclass
class Incident:
    n: int
    kind: str          # drop | bots
    site: str
    minute_ms: int     # start of the breaking minute
    fired_s: float | None = None        # to the record on the alerts topic
    resolved_s: float | None = None
    hook_fired_s: float | None = None   # to the webhook call
    hook_resolved_s: float | None = None
    alert_id: str | None = None

    @property
    def caught(self) -> bool:
        """Fired and resolved, on the webhook when the bench has one (else on the topic)."""
        if self.hook_fired_s is not None or self.hook_resolved_s is not None:
            return self.hook_fired_s is not None and self.hook_resolved_s is not None
        return self.fired_s is not None and self.resolved_s is not None


@dataclass
class Receiver:
    """A local Slack-compatible webhook receiver: every POST's arrival time and its `alert`."""
    posts: list[tuple[float, dict]] = field(default_factory=list)

    def __post_init__(self):
        posts, lock = self.posts, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    posts.append((time.time(), body.get("alert") or {}))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/hooks/bench"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for_job(settings: Settings, log=print, timeout_s: float = 1800, behind: int = 1000) -> float:
    """Until the job has read (committed) all but `behind` records of the events topic: the
    normal replay must be judged before the live incidents, or their minutes close late.
    Returns the seconds waited."""
    probe = Probe(settings)
    began = time.time()
    said = 0.0
    try:
        while time.time() - began < timeout_s:
            lag = probe.lag(probe.end_offsets(settings.events_topic))
            if lag is not None and lag <= behind:
                return time.time() - began
            if time.time() - said >= 30:
                log(f"waiting for the job to read the replay: {'?' if lag is None else f'{lag:,}'} records behind")
                said = time.time()
            time.sleep(5)
    finally:
        probe.close()
    raise ClickpulseError(f"the job did not read the replay within {timeout_s:.0f} s")


def run_incidents(settings: Settings, prefix: str, count: int, log=print, history_minutes: int = 36,
                  timeout_s: float = 60, hook: Receiver | None = None) -> tuple[list[Incident], list[dict]]:
    """Inject `count` incidents; returns them with their latencies (to the topic, and to
    `hook` when given), and every alert record the topic carried for the bench's sites (to
    count false alarms)."""
    traffic = Traffic(settings, prefix=prefix, sites=2, per_minute=120)
    log(f"history: {history_minutes} minutes of traffic for {', '.join(traffic.site_ids)}")
    traffic.history(history_minutes)
    reader = AlertReader(settings)
    quiet, flooded = traffic.site_ids
    incidents: list[Incident] = []
    start = next_minute(int(time.time() * 1000))
    for n in range(count):
        kind = "drop" if n % 2 == 0 else "bots"
        incidents.append(Incident(n + 1, kind, quiet if kind == "drop" else flooded, start + 2 * n * MINUTE))

    def script(ts: int) -> None:
        current = next((i for i in incidents if i.minute_ms <= ts < i.minute_ms + MINUTE), None)
        traffic.silent = {current.site} if current and current.kind == "drop" else set()
        if current and current.kind == "bots" and ts == current.minute_ms + 10_000:
            traffic.bots(current.site, ts, 300)

    for inc in incidents:
        log(f"incident {inc.n}: {inc.kind} on {inc.site} in the minute from "
            f"{time.strftime('%H:%M', time.gmtime(inc.minute_ms / 1000))} UTC")
        # through the incident minute and the normal one after it, and until both transitions arrive
        end_ms = inc.minute_ms + 2 * MINUTE
        live(traffic, reader, max(0.0, end_ms / 1000 - time.time()), on_second=script)
        deadline = time.time() + timeout_s
        while time.time() < deadline and not (_after(reader, inc) and (hook is None or _hooked(hook, inc))):
            live(traffic, reader, 1.0, on_second=script)
        _measure(reader, inc)
        if hook is not None:
            _measure_hook(hook, inc)
            log(f"  webhook: fired after {_fmt(inc.hook_fired_s)}, resolved after {_fmt(inc.hook_resolved_s)} "
                f"(topic: {_fmt(inc.fired_s)}, {_fmt(inc.resolved_s)})")
        else:
            log(f"  fired after {_fmt(inc.fired_s)}, resolved after {_fmt(inc.resolved_s)}")
    reader.close()
    return incidents, [r for _, r in reader.records]


def _after(reader: AlertReader, inc: Incident) -> bool:
    return any(r["rule"] == RULE[inc.kind] and r["site_id"] == inc.site and r["state"] == "resolved"
               and _ms(r["window_start"]) == inc.minute_ms + MINUTE for _, r in reader.records)


def _mine(r: dict, inc: Incident, state: str) -> bool:
    """The incident's transition: its rule and site, the breaking minute (firing) or the
    normal minute after it (resolved)."""
    minute = inc.minute_ms if state == "firing" else inc.minute_ms + MINUTE
    return (r.get("rule") == RULE[inc.kind] and r.get("site_id") == inc.site and r.get("state") == state
            and _ms(r["window_start"]) == minute)


def _hooked(hook: Receiver, inc: Incident) -> bool:
    return any(_mine(r, inc, "resolved") for _, r in list(hook.posts))


def _measure_hook(hook: Receiver, inc: Incident) -> None:
    for arrived, r in list(hook.posts):
        if inc.hook_fired_s is None and _mine(r, inc, "firing"):
            inc.hook_fired_s = latency_s(arrived, r)
        if inc.hook_resolved_s is None and _mine(r, inc, "resolved"):
            inc.hook_resolved_s = latency_s(arrived, r)


def webhook_copies(hook: Receiver) -> int:
    """Posts of a transition the receiver had already got (the notifier delivers once)."""
    seen = [(r.get("alert_id"), r.get("state")) for _, r in hook.posts]
    return len(seen) - len(set(seen))


def _ms(iso: str) -> int:
    """Epoch ms of a record's ISO-8601 UTC time (`2026-12-02T13:05:00Z`)."""
    return round(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _measure(reader: AlertReader, inc: Incident) -> None:
    for arrived, r in reader.records:
        if r["rule"] != RULE[inc.kind] or r["site_id"] != inc.site:
            continue
        if r["state"] == "firing" and _ms(r["window_start"]) == inc.minute_ms and inc.fired_s is None:
            inc.fired_s, inc.alert_id = latency_s(arrived, r), r["alert_id"]
        if r["state"] == "resolved" and _ms(r["window_start"]) == inc.minute_ms + MINUTE and inc.resolved_s is None:
            inc.resolved_s = latency_s(arrived, r)


def false_alarms(records: list[dict], incidents: list[Incident]) -> list[dict]:
    """Alert records that belong to no injected incident (each incident owns one firing and
    one resolved record of its rule and site; copies of those are not alarms)."""
    owned = {(RULE[i.kind], i.site, i.minute_ms) for i in incidents}
    out = []
    for r in records:
        first = _ms(r["window_start"]) if r["state"] == "firing" else None
        if r["state"] == "firing" and (r["rule"], r["site_id"], first) not in owned:
            out.append(r)
    return out


def _fmt(s: float | None) -> str:
    return "never" if s is None else f"{s:.1f} s"


def stats(values: list[float]) -> dict:
    if not values:
        return {"p50_s": None, "p95_s": None, "max_s": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {"p50_s": round(statistics.median(ordered), 2), "p95_s": round(p95, 2), "max_s": round(ordered[-1], 2)}


def plot(incidents: list[Incident], target_s: float):
    fig = new_figure()
    ax = fig.add_subplot()
    xs = [i.n for i in incidents]
    ax.bar([x - 0.2 for x in xs], [i.hook_fired_s or 0 for i in incidents], width=0.4, label="fired (webhook)")
    ax.bar([x + 0.2 for x in xs], [i.hook_resolved_s or 0 for i in incidents], width=0.4, label="resolved (webhook)")
    ax.scatter([x - 0.2 for x in xs], [i.fired_s or 0 for i in incidents], color="black", marker="_", s=200,
               label="on the topic", zorder=3)
    ax.scatter([x + 0.2 for x in xs], [i.resolved_s or 0 for i in incidents], color="black", marker="_", s=200,
               zorder=3)
    ax.axhline(target_s, color="red", linestyle="--", label=f"target {target_s:g} s")
    ax.set_xlabel("incident (odd: traffic to zero, even: bot burst)")
    ax.set_ylabel("s after the minute's end")
    ax.legend()
    return fig
