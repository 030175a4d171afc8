"""`clickpulse alerts watch`: the pipeline-health rules (`kind: pipeline` in sql/alerts/),
judged outside Flink, because a job that is down judges nothing.

Every CLICKPULSE_WATCH_POLL_MS (5 s) the watcher observes the pipeline from outside:

- the suite's job state (Flink REST `/jobs/overview`, the newest job named
  CLICKPULSE_JOB_NAME; the REST API not answering counts as not running);
- freshness: the age of the newest closed minute the minute tables hold (the view
  `pipeline_health` the Pipeline health dashboard reads, the hourly metric aside);
- the end offsets of the events and dead-letter topics, and the offsets the job committed
  (its consumer group commits at every checkpoint);

and turns them into one value per rule:

| metric | value | judged when |
|---|---|---|
| `job_not_running` | 1 while the job is not RUNNING, else 0 | always |
| `freshness_s` | seconds since the end of the newest closed minute in the minute tables | traffic arrives: at least MIN_RECORDS records in the last minute (a stopped generator is no stale pipeline) |
| `consumer_lag` | records of the events topic the job has not committed | it is higher than `window` before (growing: catching up on a backlog is not) |
| `dead_letter_share` | dead letters / (events + dead letters) over the last `window` | at least MIN_RECORDS records in the window |

`for` and `cooldown` are durations: a rule fires when it has broken at every poll for
`for`, and resolves when it has been good at every poll for `cooldown`, exactly like
AlertStep for the stream rules, with the same record (docs/design.md, *Alerts*): site
`all`, alert_id = sha256(rule|all|epoch ms of the first breaking poll), written to the
`alerts` table first and then to the alerts topic. A restarted watcher reads its open
alerts back from the table (so it never fires an alert twice) and writes their records,
and those it resolved in the last RECENT_S, to the topic again, in case it stopped between
the table and the topic; the notifier de-duplicates by alert id and state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import operator
import re
import signal
import time
from collections import deque
from dataclasses import dataclass, field

import httpx
import psycopg
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from ..errors import ClickpulseError
from ..settings import Settings
from ..stack import postgres
from .rules import Rule

log = logging.getLogger("clickpulse.alerts.watch")

SITE = "all"
# fewer records than this in the last minute (freshness) or window (dead letters): not
# judged; the ticker writes at most one tick per quiet partition every 10 s
MIN_RECORDS = 100
RECENT_S = 900
# consumer_lag grows by more than this per minute of `window` to count as growing: the
# ticker's clock ticks alone add at most 6 a minute per partition while the job is down
MIN_GROWTH_PER_MINUTE = 100
OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
# the minute tables of the view pipeline_health (top_pages_1h closes once an hour)
FRESHNESS_SQL = "SELECT max(age_s) FROM pipeline_health WHERE metric <> 'top_pages_1h'"


@dataclass
class Observation:
    at: float                      # epoch seconds
    job_state: str                 # RUNNING, ..., MISSING (no such job), UNREACHABLE (no REST answer)
    freshness_s: float | None      # None: the tables hold no minute yet, or the database did not answer
    events_end: int | None         # sum of the events topic's end offsets
    dead_end: int | None           # sum of the dead-letter topic's end offsets
    lag: int | None                # records of the events topic past the job's committed offsets


@dataclass
class RuleState:
    open: dict | None = None       # the firing record, while the alert is open
    bad_since: float | None = None
    good_since: float | None = None


def _iso(t: float) -> str:
    """ISO-8601 UTC with a Z, as the stream's sink writes times."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alert_id(rule: str, first_ms: int) -> str:
    return hashlib.sha256(f"{rule}|{SITE}|{first_ms}".encode()).hexdigest()


def _at(history: deque, seconds_ago: float) -> Observation | None:
    """The newest observation at least `seconds_ago` older than the latest (None: history too short)."""
    cutoff = history[-1].at - seconds_ago
    older = [o for o in history if o.at <= cutoff]
    return older[-1] if older else None


def value(rule: Rule, history: deque) -> float | None:
    """The rule's metric at the latest observation (None: cannot be judged now)."""
    now = history[-1]
    if rule.metric == "job_not_running":
        return 0.0 if now.job_state == "RUNNING" else 1.0
    if rule.metric == "freshness_s":
        minute = _at(history, 60)
        traffic = (now.events_end - minute.events_end if minute and None not in (now.events_end, minute.events_end)
                   else None)
        return now.freshness_s if traffic is not None and traffic >= MIN_RECORDS else None
    if rule.metric == "consumer_lag":
        return None if now.lag is None else float(now.lag)
    then = _at(history, rule.window_s)
    if then is None or None in (now.events_end, now.dead_end, then.events_end, then.dead_end):
        return None
    dead, events = now.dead_end - then.dead_end, now.events_end - then.events_end
    return dead / (dead + events) if dead + events >= MIN_RECORDS else None


def breaking(rule: Rule, history: deque, v: float | None) -> bool | None:
    if v is None:
        return None
    broken = OPS[rule.op](v, rule.threshold)
    if broken and rule.metric == "consumer_lag":
        # growing: higher than `window` before (a job catching up on a backlog is not), by more
        # than clock ticks add
        then = _at(history, rule.window_s)
        if then is None or then.lag is None:
            return None
        broken = v - then.lag > MIN_GROWTH_PER_MINUTE * rule.window_s / 60
    return broken


def _band(rule: Rule) -> tuple[float | None, float | None]:
    return (rule.threshold, None) if rule.op in ("<", "<=") else (None, rule.threshold)


def _show(rule: Rule, v: float, obs: Observation) -> str:
    if rule.metric == "job_not_running":
        return f"job state {obs.job_state}"
    if rule.metric == "dead_letter_share":
        return f"{rule.metric} = {v:.2%}"
    return f"{rule.metric} = {v:,.0f}"


def record(rule: Rule, state: str, v: float, start: float, obs: Observation, fired: dict | None,
           job_name: str) -> dict:
    """One transition with the fields of docs/design.md, *Alerts*."""
    low, high = _band(rule)
    first_ms = round(start * 1000)
    aid = fired["alert_id"] if fired else alert_id(rule.name, first_ms)
    what = f"{_show(rule, v, obs)} (rule: {rule.op} {rule.threshold:g}" + (
        f" and growing over {int(rule.window_s)} s)" if rule.metric == "consumer_lag" else ")")
    subject = f"job {job_name}" if rule.metric == "job_not_running" else "the pipeline"
    return {
        "alert_id": aid, "rule": rule.name, "kind": rule.kind, "severity": rule.severity, "site_id": SITE,
        "metric": rule.metric, "state": state, "value": float(v), "expected_low": low, "expected_high": high,
        "window_start": _iso(start), "window_end": _iso(obs.at),
        "fired_at": fired["fired_at"] if fired else _iso(obs.at),
        "resolved_at": _iso(obs.at) if state == "resolved" else None,
        "channels": list(rule.channels),
        "message": f"{rule.name} {state} on {SITE}: {subject}: {what} at {_iso(obs.at)[:19]} UTC",
    }


def step(rule: Rule, st: RuleState, history: deque, job_name: str) -> dict | None:
    """Judge the latest observation; returns a transition record or None."""
    obs = history[-1]
    v = value(rule, history)
    b = breaking(rule, history, v)
    if st.open is None:
        if not b:
            st.bad_since = None
            return None
        st.bad_since = st.bad_since or obs.at
        if obs.at - st.bad_since < rule.for_s:
            return None
        st.open = record(rule, "firing", v, st.bad_since, obs, None, job_name)
        st.bad_since = st.good_since = None
        return st.open
    if b is not False:
        st.good_since = None   # breaking, or cannot say: not recovered
        return None
    st.good_since = st.good_since or obs.at
    if obs.at - st.good_since < rule.cooldown_s:
        return None
    rec = record(rule, "resolved", v, st.good_since, obs, st.open, job_name)
    st.open, st.good_since = None, None
    return rec


# --- observing the pipeline ----------------------------------------------------------------------

class Probe:
    """What the watcher can see of the pipeline, without Flink's help."""

    def __init__(self, settings: Settings):
        self.settings = settings
        conf = {"bootstrap.servers": settings.kafka_bootstrap_servers}
        self.offsets = Consumer({**conf, "group.id": f"{settings.job_name}-watch", "enable.auto.commit": False})
        self.admin = AdminClient(conf)
        self.committers: dict[str, Consumer] = {}
        self.moved: dict[str, tuple[int, float]] = {}   # group -> (committed sum, when it last changed)
        self.db: psycopg.Connection | None = None
        self.http = httpx.Client(timeout=3.0)

    def close(self) -> None:
        for c in [self.offsets, *self.committers.values()]:
            c.close()
        if self.db:
            self.db.close()
        self.http.close()

    def observe(self) -> Observation:
        now = time.time()
        events = self.end_offsets(self.settings.events_topic)
        return Observation(now, self.job_state(), self.freshness(), sum(events.values()) if events else None,
                           self._end_sum(self.settings.dead_letter_topic), self.lag(events))

    def job_state(self) -> str:
        try:
            r = self.http.get(self.settings.flink_rest_url.rstrip("/") + "/jobs/overview")
            r.raise_for_status()
        except httpx.HTTPError:
            return "UNREACHABLE"
        mine = [j for j in r.json()["jobs"] if j["name"] == self.settings.job_name]
        return max(mine, key=lambda j: j.get("start-time", 0))["state"] if mine else "MISSING"

    def freshness(self) -> float | None:
        try:
            if self.db is None or self.db.closed:
                self.db = postgres.connect(self.settings, "reader", autocommit=True)
            row = self.db.execute(FRESHNESS_SQL).fetchone()
        except psycopg.Error as e:
            log.warning("freshness: %s", str(e).strip().splitlines()[-1])
            self.db = None
            return None
        return None if row[0] is None else float(row[0])

    def _partitions(self, topic: str) -> list[int]:
        md = self.offsets.list_topics(topic, timeout=5)
        t = md.topics.get(topic)
        return sorted(t.partitions) if t is not None and not t.error else []

    def end_offsets(self, topic: str) -> dict[int, int] | None:
        try:
            return {p: self.offsets.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)[1]
                    for p in self._partitions(topic)} or None
        except KafkaException as e:
            log.warning("end offsets of %s: %s", topic, e)
            return None

    def _end_sum(self, topic: str) -> int | None:
        ends = self.end_offsets(topic)
        return sum(ends.values()) if ends else None

    def lag(self, ends: dict[int, int] | None) -> int | None:
        """Records past the committed offsets of the job's consumer group: CLICKPULSE_JOB_NAME,
        or `<job>-<epoch>` for a run started with --fresh/--start-at; the group whose
        commits moved last."""
        if not ends:
            return None
        best: tuple[float, int] | None = None
        for group in self._groups():
            committed = self._committed(group, list(ends))
            if committed is None:
                continue
            total = sum(committed.values())
            last = self.moved.get(group)
            changed = last[1] if last and last[0] == total else time.time() if last else 0.0
            self.moved[group] = (total, changed)
            lag = sum(max(0, ends[p] - committed.get(p, 0)) for p in ends)
            if best is None or changed > best[0]:
                best = (changed, lag)
        return None if best is None else best[1]

    def _groups(self) -> list[str]:
        name = self.settings.job_name
        try:
            listed = self.admin.list_consumer_groups(request_timeout=5).result()
            ids = [g.group_id for g in listed.valid]
        except KafkaException as e:
            log.warning("consumer groups: %s", e)
            ids = []
        fresh = re.compile(re.escape(name) + r"-\d+$")
        return [name] + sorted(g for g in ids if fresh.match(g))

    def _committed(self, group: str, partitions: list[int]) -> dict[int, int] | None:
        c = self.committers.get(group)
        if c is None:
            # never subscribes: asking for a group's offsets does not join it
            c = self.committers[group] = Consumer({"bootstrap.servers": self.settings.kafka_bootstrap_servers,
                                                   "group.id": group, "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(self.settings.events_topic, p) for p in partitions], timeout=5)
        except KafkaException as e:
            log.warning("committed offsets of %s: %s", group, e)
            return None
        got = {tp.partition: tp.offset for tp in tps if tp.offset >= 0}
        return got or None


# --- writing the transitions ---------------------------------------------------------------------

COLUMNS = ("alert_id", "rule", "kind", "severity", "site_id", "metric", "state", "value", "expected_low",
           "expected_high", "window_start", "window_end", "fired_at", "resolved_at", "channels", "message")
TIMES = ("window_start", "window_end", "fired_at", "resolved_at")


class Sink:
    """The `alerts` table (upsert by alert_id, as the stream's JDBC sink) and the alerts topic."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.db = postgres.connect(settings, "writer", autocommit=True)
        self.producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "acks": "all",
                                  "enable.idempotence": True, "linger.ms": 0})

    def close(self) -> None:
        self.producer.flush(10)
        self.db.close()

    def write(self, rec: dict) -> None:
        self.to_table(rec)
        self.to_topic(rec)

    def to_table(self, rec: dict) -> None:
        values = [dt.datetime.fromisoformat(rec[c].replace("Z", "+00:00")) if c in TIMES and rec[c] else rec[c]
                  for c in COLUMNS]
        values[COLUMNS.index("channels")] = json.dumps(rec["channels"])
        self.db.execute(f"INSERT INTO alerts ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
                        "ON CONFLICT (alert_id) DO UPDATE SET "
                        + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS[1:]), values)

    def to_topic(self, rec: dict) -> None:
        self.producer.produce(self.settings.alerts_topic, key=rec["alert_id"], value=json.dumps(rec))
        if self.producer.flush(30) != 0:
            raise ClickpulseError(f"could not write to {self.settings.alerts_topic}")

    def recover(self, names: set[str]) -> tuple[dict[str, dict], list[dict]]:
        """(the open pipeline alerts by rule, the records to write to the topic again: the
        open ones and those resolved in the last RECENT_S)."""
        rows = self.db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM alerts WHERE kind = 'pipeline' AND site_id = %s "
            "AND (state = 'firing' OR resolved_at > now() - make_interval(secs => %s)) ORDER BY fired_at",
            (SITE, RECENT_S)).fetchall()
        records = []
        for row in rows:
            rec = dict(zip(COLUMNS, row))
            for c in TIMES:
                rec[c] = _iso(rec[c].timestamp()) if rec[c] else None
            rec["channels"] = json.loads(rec["channels"])
            records.append(rec)
        open_ = {r["rule"]: r for r in records if r["state"] == "firing" and r["rule"] in names}
        return open_, records


# --- the loop ------------------------------------------------------------------------------------

@dataclass
class Watcher:
    settings: Settings
    rules: list[Rule]
    states: dict[str, RuleState] = field(default_factory=dict)
    history: deque = field(default_factory=deque)
    stopping: bool = False

    def __post_init__(self):
        self.states = {r.name: RuleState() for r in self.rules}
        self.keep_s = max([r.window_s for r in self.rules] + [60.0]) + 60

    def start(self, sink: Sink) -> None:
        open_, again = sink.recover({r.name for r in self.rules})
        for r in self.rules:
            self.states[r.name] = RuleState(open=open_.get(r.name))
        for rec in again:
            sink.to_topic(rec)
        if open_:
            log.info("open since before this start: %s", ", ".join(f"{n} ({r['alert_id'][:12]})"
                                                                   for n, r in open_.items()))

    def judge(self, obs: Observation) -> list[dict]:
        self.history.append(obs)
        while self.history and self.history[0].at < obs.at - self.keep_s:
            self.history.popleft()
        out = []
        for r in self.rules:
            rec = step(r, self.states[r.name], self.history, self.settings.job_name)
            if rec:
                out.append(rec)
        return out

    def run(self, probe: Probe, sink: Sink, once: bool = False) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: setattr(self, "stopping", True))
        self.start(sink)
        log.info("watching %s every %d ms: %s", self.settings.job_name, self.settings.watch_poll_ms,
                 ", ".join(f"{r.name} ({r.metric} {r.op} {r.threshold:g}, for {r.for_s:g} s)" for r in self.rules))
        poll_s = self.settings.watch_poll_ms / 1000
        while not self.stopping:
            began = time.monotonic()
            obs = probe.observe()
            for rec in self.judge(obs):
                sink.write(rec)
                log.info("%s %s: %s", rec["alert_id"][:12], rec["state"], rec["message"])
            if once:
                break
            while not self.stopping and time.monotonic() - began < poll_s:
                time.sleep(0.2)


def run(settings: Settings, rules: list[Rule], once: bool = False) -> None:
    rules = [r for r in rules if r.kind == "pipeline"]
    if not rules:
        log.warning("no pipeline rule in the rule folder: nothing to watch")
    try:
        sink = Sink(settings)
    except psycopg.OperationalError as e:
        raise ClickpulseError(f"cannot reach PostgreSQL as {settings.postgres_writer_user} for the alerts table: "
                              f"{str(e).strip().splitlines()[-1]} (POSTGRES_HOST, POSTGRES_PORT; "
                              "run `clickpulse db migrate`)") from None
    probe = Probe(settings)
    try:
        Watcher(settings, rules).run(probe, sink, once=once)
    finally:
        probe.close()
        sink.close()
