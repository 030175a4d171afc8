"""The local stack's supervisor: a crashed service is started again by itself.

`clickpulse stack up` starts `clickpulse stack supervise` in the background; `stack down`
stops it first. It watches every process the stack wants running (run/supervised.json:
`stack up` adds to it, `stack stop NAME` removes from it, so a service stopped on purpose
stays stopped) and restarts a dead one with exponential back-off: 1 s, 2 s, 4 s ... up to
60 s. A service that dies again within a minute of each restart, 5 times in a row, is given
up on loudly (the log and `stack status` say so) until `stack up` repairs it by hand.
Every death and restart is a JSON line in logs/restarts.jsonl with the reason (exit
status or signal, last log line), which `stack status` summarises.

`stack up` and the supervisor take the same lock (run/stack.lock), so they never start
the same service twice at once.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import procs

NAME = "supervisor"
FAST_FAILURE_S = 60.0
MAX_FAST_FAILURES = 5
BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 60.0


@dataclass
class Unit:
    """One supervised process: how to tell it runs, how to start it again."""
    name: str
    alive: Callable[[], bool]
    restart: Callable[[], object]


@dataclass
class _State:
    failures: int = 0
    last_restart: float = 0.0
    down_since: float | None = None
    next_try: float = 0.0
    gave_up: bool = False
    reasons: list[str] = field(default_factory=list)


# --- what should run ----------------------------------------------------------------------

def _wanted_file() -> Path:
    return procs.run_dir() / "supervised.json"


def wanted() -> list[str]:
    try:
        return list(json.loads(_wanted_file().read_text()))
    except (FileNotFoundError, ValueError):
        return []


def want(*names: str) -> None:
    with lock():
        current = wanted()
        _wanted_file().write_text(json.dumps(current + [n for n in names if n not in current]))


def unwant(*names: str) -> None:
    with lock():
        _wanted_file().write_text(json.dumps([n for n in wanted() if n not in names]))


_held = 0  # reentrant within a process: `stack up` holds it while starting a feeder


@contextmanager
def lock(blocking: bool = True) -> Iterator[bool]:
    """The stack's lock; yields False when not blocking and someone else holds it."""
    global _held
    if _held:
        _held += 1
        try:
            yield True
        finally:
            _held -= 1
        return
    with (procs.run_dir() / "stack.lock").open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        _held = 1
        try:
            yield True
        finally:
            _held = 0
            fcntl.flock(f, fcntl.LOCK_UN)


# --- what happened ------------------------------------------------------------------------

def events_file() -> Path:
    return procs.log_dir() / "restarts.jsonl"


def record(unit: str, event: str, **details) -> dict:
    entry = {"time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "unit": unit,
             "event": event, **details}
    with events_file().open("a") as f:
        f.write(json.dumps(entry) + "\n")
    # the supervisor's stdout is logs/supervisor.log: the same, for people
    print(f"{entry['time']} {unit}: {event} " + " ".join(f"{k}={v}" for k, v in details.items()), flush=True)
    return entry


def history() -> list[dict]:
    try:
        lines = events_file().read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


@dataclass
class Summary:
    restarts: int = 0
    last_restart: str | None = None
    gave_up: bool = False


def summary() -> dict[str, Summary]:
    """Per unit: how often the supervisor restarted it, when last, and whether it gave up
    (until the unit was seen restarted again)."""
    out: dict[str, Summary] = {}
    for e in history():
        s = out.setdefault(e["unit"], Summary())
        if e["event"] == "restarted":
            s.restarts += 1
            s.last_restart = e["time"]
            s.gave_up = False
        elif e["event"] == "gave-up":
            s.gave_up = True
    return out


def backoff(failures: int) -> float:
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** max(0, failures - 1))


# --- the loop -------------------------------------------------------------------------------

def run(units: Callable[[], dict[str, Unit]], feeders: set[str] = frozenset(), interval: float = 1.0) -> None:
    """Watch the wanted units until no service is wanted any more (feeders alone, such as
    the ticker a stopped Kafka leaves behind, are not worth a supervisor)."""
    states: dict[str, _State] = {}
    print(f"supervising {', '.join(wanted()) or 'nothing'}", flush=True)
    while True:
        names = wanted()
        if not set(names) - set(feeders):
            print("no service left to supervise", flush=True)
            return
        with lock(blocking=False) as mine:
            if mine:
                known = units()
                for name in names:
                    if name in known:
                        check(known[name], states.setdefault(name, _State()))
        time.sleep(interval)


def check(unit: Unit, st: _State) -> None:
    """One look at one unit: note a death, restart it when its back-off has passed."""
    now = time.monotonic()
    if unit.alive():
        if st.gave_up or st.down_since is not None:  # someone repaired it
            st.gave_up, st.down_since = False, None
        if st.failures and now - st.last_restart > FAST_FAILURE_S:
            st.failures = 0
        return
    if st.gave_up:
        return
    if st.down_since is None:
        st.down_since = now
        fast = st.last_restart and now - st.last_restart < FAST_FAILURE_S
        st.failures = st.failures + 1 if fast else 1
        reason = procs.exit_reason(unit.name)
        if last := procs.last_log_line(unit.name):
            reason += f"; last log line: {last}"
        if _give_up(unit, st, reason):
            return
        st.next_try = now + backoff(st.failures)
        record(unit.name, "died", reason=reason, attempt=st.failures, restart_in_s=backoff(st.failures))
    if now < st.next_try:
        return
    started = time.monotonic()
    try:
        unit.restart()
    except Exception as e:  # noqa: BLE001 - any failure to start counts as one, and is logged
        st.failures += 1
        if not _give_up(unit, st, f"restart failed: {e}"):
            st.next_try = time.monotonic() + backoff(st.failures)
            record(unit.name, "restart-failed", error=str(e)[:300], attempt=st.failures,
                   restart_in_s=backoff(st.failures))
        return
    st.last_restart = time.monotonic()
    record(unit.name, "restarted", attempt=st.failures, down_s=round(st.last_restart - st.down_since, 1),
           start_s=round(st.last_restart - started, 1))
    st.down_since = None


def _give_up(unit: Unit, st: _State, reason: str) -> bool:
    if st.failures <= MAX_FAST_FAILURES:
        return False
    st.gave_up = True
    record(unit.name, "gave-up", reason=reason, failures=st.failures,
           fix=f"see {procs.log_dir() / (unit.name + '.log')}, then `clickpulse stack up`")
    return True
