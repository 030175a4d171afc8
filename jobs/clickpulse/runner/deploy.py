"""Deploy the metric suite to a Flink session cluster through its REST API: submit (with
a stable job name, optionally from a savepoint), list, stop (optionally with a
savepoint) and upgrade (stop with a savepoint, then submit from it)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from confluent_kafka import Consumer, TopicPartition

from ..alerts import rules as alert_rules
from ..db.schema import check_tables
from ..errors import ClickpulseError
from ..paths import state_dir
from ..settings import Settings
from ..stack import flink as local_flink, kafka
from . import pipeline
from .funnels import load_funnels
from .metric import Metric, discover

ACTIVE = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING", "FAILING", "CANCELLING"}


@dataclass
class Job:
    jid: str
    name: str
    state: str
    start_time: int


class Flink:
    """The few REST calls we need (https://nightlies.apache.org/flink/flink-docs-stable/docs/ops/rest_api/)."""

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def call(self, path: str, method: str = "GET", body: dict | None = None, timeout: float = 10):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:300]
            raise ClickpulseError(f"Flink REST {method} {self.url}{path}: HTTP {e.code} {detail}") from None
        except OSError as e:
            raise ClickpulseError(f"cannot reach the Flink REST API at {self.url} ({e}): start the cluster "
                                  "(`clickpulse stack up --only flink`) or set FLINK_REST_URL / --rest-url") from None

    def jobs(self) -> list[Job]:
        return [Job(j["jid"], j["name"], j["state"], j.get("start-time", 0)) for j in self.call("/jobs/overview")["jobs"]]

    def active(self, name: str) -> list[Job]:
        return [j for j in self.jobs() if j.name == name and j.state in ACTIVE]

    def wait_state(self, jid: str, wanted: set[str], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        state = "?"
        while time.monotonic() < deadline:
            state = self.call(f"/jobs/{jid}")["state"]
            if state in wanted:
                return state
            if state in {"FAILED", "CANCELED"} - wanted:
                break
            time.sleep(0.5)
        exc = self.call(f"/jobs/{jid}/exceptions").get("root-exception") or ""
        raise ClickpulseError(f"job {jid} is {state}, expected {'/'.join(sorted(wanted))}"
                              + (f": {exc.strip().splitlines()[0][:300]}" if exc else ""))


    def wait_restored(self, jid: str, timeout: float = 300) -> str | None:
        """After a submit from a savepoint: wait until every task runs, which is when each
        operator has read its state back. Returns the first line of a restore that cannot
        succeed (the saved state does not fit the new plan: Flink retries it for ever), or
        None; a restore still under way after `timeout` is left to run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = next((j for j in self.call("/jobs/overview")["jobs"] if j["jid"] == jid), None)
            if job and job["state"] == "RUNNING" and job["tasks"]["running"] == job["tasks"]["total"]:
                return None
            for entry in self.call(f"/jobs/{jid}/exceptions").get("exceptionHistory", {}).get("entries", []):
                trace = entry.get("stacktrace") or ""
                if any(sign in trace for sign in UNRESTORABLE):
                    cause = next((line for line in trace.splitlines() if any(s in line for s in UNRESTORABLE)), "")
                    return cause.strip()[:400]
            time.sleep(1)
        return None


# Signs in a task's failure that the savepoint's state can never be read by the new plan.
UNRESTORABLE = ("StateMigrationException", "must not be incompatible with the old state serializer")


def _lineage_file() -> Path:
    return state_dir() / "flink" / "lineage.json"


def _lineage(name: str) -> dict:
    f = _lineage_file()
    return (json.loads(f.read_text()) if f.exists() else {}).get(name, {})


def _record(name: str, **values) -> None:
    """Remember the last job id and savepoint of the suite (for resuming after a restart)."""
    f = _lineage_file()
    f.parent.mkdir(parents=True, exist_ok=True)
    every = json.loads(f.read_text()) if f.exists() else {}
    every[name] = {**every.get(name, {}), **values}
    f.write_text(json.dumps(every, indent=2))


def last_savepoint(name: str) -> str:
    sp = _lineage(name).get("savepoint")
    if not sp:
        raise ClickpulseError(f"no savepoint recorded in {_lineage_file()}: take one with "
                              "`clickpulse jobs stop --savepoint`, or pass its path to --from-savepoint")
    return sp["location"]


def previous_state(flink: Flink, name: str) -> tuple[str, str] | None:
    """Where the last run of the suite left its state: (location, what), newest first among
    the last savepoint taken by `jobs stop --savepoint`, the last completed checkpoint the
    cluster reports for earlier runs, and (after a restart of the local cluster, which
    forgets its job history) the newest retained checkpoint on disk."""
    candidates: list[tuple[int, str, str]] = []
    lineage = _lineage(name)
    if sp := lineage.get("savepoint"):
        candidates.append((sp["time"], sp["location"], "savepoint"))
    known = {j.jid for j in flink.jobs() if j.name == name}
    for jid in known | ({lineage["job_id"]} if lineage.get("job_id") else set()):
        if jid not in known:
            continue
        latest = (flink.call(f"/jobs/{jid}/checkpoints").get("latest") or {}).get("completed") or {}
        if latest.get("external_path"):
            candidates.append((latest.get("latest_ack_timestamp", 0), latest["external_path"], f"checkpoint of {jid}"))
    if lineage.get("job_id") and lineage["job_id"] not in known and _is_local(flink):
        chks = sorted((local_flink.checkpoint_dir() / lineage["job_id"]).glob("chk-*/_metadata"),
                      key=lambda p: p.stat().st_mtime)
        if chks:
            candidates.append((int(chks[-1].stat().st_mtime * 1000), f"file://{chks[-1].parent}",
                               f"checkpoint of {lineage['job_id']}"))
    if not candidates:
        return None
    _, location, what = max(candidates)
    return location, what


def _is_local(flink: Flink) -> bool:
    return urlparse(flink.url).hostname in ("127.0.0.1", "localhost")


def plan(settings: Settings, metrics: list[Metric], *, remote: bool, rest_url: str | None = None,
         savepoint: str | None = None, allow_non_restored_state: bool = False, start_at_ms: int | None = None,
         group_id: str | None = None):
    """The table environment and statement set of the whole suite (nothing runs yet)."""
    t_env = pipeline.create_table_env(settings, remote=remote, rest_url=rest_url, savepoint=savepoint,
                                      allow_non_restored_state=allow_non_restored_state)
    pipeline.create_kafka_source(t_env, settings, group_id=group_id, start_at_ms=start_at_ms)
    pipeline.create_views(t_env, settings)
    # the alert rules (sql/alerts/*.yaml) run in the same job, on the same views
    funnels = load_funnels()
    rules = alert_rules.discover(funnels=funnels)
    pipeline.create_alert_views(t_env, rules, funnels)
    columns = {m.name: pipeline.resolved_columns(t_env, m) for m in metrics}
    return t_env, pipeline.build_statement_set(t_env, settings, metrics, rules=rules, funnels=funnels), columns


def submit(settings: Settings, *, rest_url: str | None = None, from_savepoint: str | None = None,
           allow_non_restored_state: bool = False, names: list[str] | None = None, start_at_ms: int | None = None,
           fresh: bool = False, log=print) -> Job:
    """Deploy the suite as one job named clickpulse-events; a no-op when it already runs.

    By default a new run continues from the state the previous one left (its savepoint or
    last checkpoint): starting empty from the committed Kafka offsets would lose the
    windows that were open and then overwrite their rows with partial counts. `fresh`
    (or `start_at_ms`) starts with empty state and reads the topics from the beginning
    (or from that record time), rewriting every row it covers."""
    flink = Flink(rest_url or settings.flink_rest_url)
    running = flink.active(settings.job_name)
    if running:
        log(f"{settings.job_name} is already running ({running[0].jid}); to deploy changes use "
            "`clickpulse jobs upgrade`")
        return running[0]
    if from_savepoint == "latest":
        from_savepoint = last_savepoint(settings.job_name)
    group_id = None
    if fresh or start_at_ms is not None:
        if from_savepoint:
            raise ClickpulseError("--fresh/--start-at start with empty state; drop --from-savepoint")
        # a new consumer group, so that "the beginning" is not the old group's offsets
        group_id = f"{settings.job_name}-{int(time.time())}"
    elif not from_savepoint:
        prev = previous_state(flink, settings.job_name)
        if prev:
            from_savepoint = prev[0]
            log(f"continuing from the {prev[1]}: {from_savepoint}")
        elif _has_committed_offsets(settings):
            raise ClickpulseError(
                f"an earlier run of {settings.job_name} read the topic, but none of its savepoints or checkpoints "
                "can be found; starting empty from where it stopped would rewrite the windows that were open with "
                "partial counts. Use --from-savepoint PATH, or --fresh to recompute every table from the topic")
    metrics = pipeline.enabled(discover(names), settings)
    _ensure_topics(settings, log)
    t_env, stmt_set, columns = plan(settings, metrics, remote=True, rest_url=rest_url, savepoint=from_savepoint,
                                    allow_non_restored_state=allow_non_restored_state, start_at_ms=start_at_ms,
                                    group_id=group_id)
    try:
        problems = check_tables(settings, metrics, columns)
    except Exception as e:  # noqa: BLE001 - the cluster may reach a database this machine cannot
        log(f"note: could not check the tables ({str(e).strip().splitlines()[0]}); submitting anyway")
        problems = []
    if problems:
        raise ClickpulseError("\n".join(problems))
    try:
        result = stmt_set.execute()
    except Exception as e:  # noqa: BLE001 - the client's message, first line
        hint = (" (the saved state does not fit the changed metric files: add --allow-non-restored-state to drop "
                "the state of removed operators, or --fresh to recompute from the topic)") if from_savepoint else ""
        raise ClickpulseError(f"submitting {settings.job_name} to {flink.url} failed: "
                              f"{pipeline._planner_message(str(e))}{hint}") from None
    jid = str(result.get_job_client().get_job_id())
    _record(settings.job_name, job_id=jid)
    flink.wait_state(jid, {"RUNNING"})
    if from_savepoint and (cause := flink.wait_restored(jid)):
        flink.call(f"/jobs/{jid}?mode=cancel", "PATCH")
        raise ClickpulseError(
            f"{settings.job_name} ({jid}) cannot restore {from_savepoint}: an operator's saved state does not fit "
            f"the new plan ({cause}); the job was cancelled rather than left restarting. Either `clickpulse jobs "
            "submit --fresh` (recompute every table from the topic: exact while the topic holds the events), or "
            "go back to the previous version and `jobs submit --from-savepoint` this savepoint")
    job = next(j for j in flink.jobs() if j.jid == jid)
    log(f"{job.name} is RUNNING ({jid}) with {len(metrics)} metrics"
        + (f", restored from {from_savepoint}" if from_savepoint else ""))
    return job


def _has_committed_offsets(settings: Settings) -> bool:
    try:
        c = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": settings.job_name,
                      "enable.auto.commit": False})
        try:
            parts = c.list_topics(settings.events_topic, timeout=10).topics[settings.events_topic].partitions
            committed = c.committed([TopicPartition(settings.events_topic, p) for p in parts], timeout=10)
        finally:
            c.close()
        return any(tp.offset >= 0 for tp in committed)
    except Exception:  # noqa: BLE001 - Kafka not reachable from here: nothing to say
        return False


def _ensure_topics(settings: Settings, log) -> None:
    try:
        kafka.create_topics(settings)
    except Exception as e:  # noqa: BLE001 - a remote cluster's Kafka may not be reachable from here
        log(f"note: could not check the Kafka topics ({str(e).strip().splitlines()[0]})")


def stop(settings: Settings, *, rest_url: str | None = None, savepoint: bool = False,
         savepoint_dir: str | None = None, log=print) -> str | None:
    """Stop the suite; with a savepoint, return its location (also remembered for
    `jobs submit --from-savepoint latest`)."""
    flink = Flink(rest_url or settings.flink_rest_url)
    running = flink.active(settings.job_name)
    if not running:
        log(f"{settings.job_name} is not running")
        return None
    location = None
    for job in running:
        if savepoint and job.state != "RUNNING":
            raise ClickpulseError(f"{job.name} is {job.state}, and only a running job can take a savepoint: see "
                                  f"`clickpulse jobs list` and the Flink UI; `clickpulse jobs stop` cancels it and "
                                  "keeps its last checkpoint, which the next `jobs submit` continues from")
        if savepoint:
            body = {"drain": False, "formatType": "CANONICAL"}
            if savepoint_dir:
                body["targetDirectory"] = savepoint_dir
            trigger = flink.call(f"/jobs/{job.jid}/stop", "POST", body)["request-id"]
            location = _await_savepoint(flink, job.jid, trigger)
            _record(settings.job_name, savepoint={"location": location, "time": int(time.time() * 1000)})
            log(f"stopped {job.name} ({job.jid}) with a savepoint at {location}")
        else:
            flink.call(f"/jobs/{job.jid}?mode=cancel", "PATCH")
            flink.wait_state(job.jid, {"CANCELED"})
            log(f"cancelled {job.name} ({job.jid}); its last checkpoint is kept")
    return location


def _await_savepoint(flink: Flink, jid: str, trigger: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = flink.call(f"/jobs/{jid}/savepoints/{trigger}")
        if st["status"]["id"] == "COMPLETED":
            op = st.get("operation") or {}
            if "location" in op:
                flink.wait_state(jid, {"FINISHED", "CANCELED"})
                return op["location"]
            cause = (op.get("failure-cause") or {}).get("stack-trace", "")
            first = cause.strip().splitlines()[0] if cause else str(op)
            hint = (" (set execution.checkpointing.savepoint-dir on the cluster or pass --savepoint-dir)"
                    if "savepoint-dir" in first or "target directory" in first.lower() else "")
            raise ClickpulseError(f"savepoint of {jid} failed: {first}{hint}")
        time.sleep(1)
    raise ClickpulseError(f"savepoint of {jid} did not complete in {timeout:.0f}s")


def upgrade(settings: Settings, *, rest_url: str | None = None, savepoint_dir: str | None = None,
            allow_non_restored_state: bool = True, log=print) -> Job:
    """Stop with a savepoint and submit the current files from it: state carries over for
    every operator Flink can match; operators of removed metrics are dropped."""
    location = stop(settings, rest_url=rest_url, savepoint=True, savepoint_dir=savepoint_dir, log=log)
    return submit(settings, rest_url=rest_url, from_savepoint=location,
                  allow_non_restored_state=allow_non_restored_state, log=log)
