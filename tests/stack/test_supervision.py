"""A partly failed stack as a user meets it: `stack status` names the dead process,
`stack up` starts only what is missing, and the supervisor (run by `stack up`) restarts
what crashes, with a logged reason. (The TaskManager crash under load, recovered by the
supervisor alone, is tests/e2e/test_pipeline.py.)"""

from __future__ import annotations

import time

from clickpulse.stack import flink as fl
from clickpulse.stack import procs, services, supervisor
from conftest import run_cli


def _wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_stack_up_repairs_a_stack_whose_taskmanager_died(flink):
    """The issue's failure: the TaskManager is killed and the JobManager still holds the
    REST port. With the supervisor stopped (so that only `stack up` can repair it),
    `stack status` shows the TaskManager down and the JobManager healthy, and `stack up`
    starts the TaskManager alone instead of refusing with "port ... taken"."""
    run_cli("stack", "stop", "supervisor")
    jobmanager = fl.jobmanager_pid()
    killed = fl.kill_taskmanager(1)
    assert killed, "no TaskManager to kill"
    _wait(lambda: procs.read_pid(fl.taskmanager_name(1)) is None, 20, "the TaskManager did not die")

    res = run_cli("stack", "status", check=False)
    assert res.returncode == 1, res.stdout
    rows = {r.name: r for r in services.status()[0]}
    assert rows[fl.JOBMANAGER].healthy and not rows[fl.taskmanager_name(1)].healthy

    res = run_cli("stack", "up", "--only", "flink", check=False)
    assert res.returncode == 0, res.stderr
    assert "taken" not in res.stderr
    assert fl.jobmanager_pid() == jobmanager, "the JobManager was left running"
    rows = {r.name: r for r in services.status()[0]}
    assert rows[fl.taskmanager_name(1)].healthy and rows[fl.taskmanager_name(1)].pid not in killed
    assert procs.read_pid(supervisor.NAME), "`stack up` starts the supervisor again"


def test_supervisor_restarts_a_crashed_feeder_and_logs_why(flink):
    """A crash of any supervised process (here the ticker, which is cheap to lose) is
    noticed, logged with its signal, and repaired; `stack status` counts it."""
    services.ensure_supervisor()
    before = services.status()[0]
    count = next(r.restarts for r in before if r.name == "ticker")
    killed = procs.kill9("ticker")
    assert killed
    _wait(lambda: next(r.restarts for r in services.status()[0] if r.name == "ticker") > count, 60,
          "the supervisor did not restart the ticker")
    died = [e for e in supervisor.history() if e["unit"] == "ticker" and e["event"] == "died"][-1]
    assert "SIGKILL" in died["reason"]
    row = next(r for r in services.status()[0] if r.name == "ticker")
    assert row.healthy and row.pid not in killed and row.last_restart


def test_a_service_stopped_on_purpose_stays_stopped(flink):
    """`stack stop` tells the supervisor to leave the service alone until `stack up`."""
    services.ensure_supervisor()
    run_cli("stack", "stop", "ticker")
    time.sleep(4)
    assert procs.read_pid("ticker") is None
    assert "ticker" not in supervisor.wanted()
    run_cli("stack", "up", "--only", "kafka")
    assert procs.read_pid("ticker") and "ticker" in supervisor.wanted()


def test_supervisor_gives_up_on_a_service_that_keeps_crashing(tmp_path, monkeypatch):
    """A service that dies within a minute of each restart is restarted 5 times, then given
    up on with the reason and the fix named, and is not restarted again until someone
    repairs it. Real processes (a bash that exits 3 after printing its complaint); the
    back-off is shortened so the six deaths take seconds instead of 31."""
    monkeypatch.setenv("CLICKPULSE_HOME", str(tmp_path))
    monkeypatch.setattr(supervisor, "BACKOFF_FIRST_S", 0.05)
    name = "crashy"
    starts = []

    def restart() -> int:
        starts.append(procs.start(name, ["bash", "-c", "echo 'bad setting CRASHY_PORT'; exit 3"]))
        return starts[-1]

    unit = supervisor.Unit(name, alive=lambda: procs.read_pid(name) is not None, restart=restart)
    restart()
    state = supervisor._State(last_restart=time.monotonic())
    deadline = time.monotonic() + 30
    while not state.gave_up:
        assert time.monotonic() < deadline, f"no give-up after {len(starts)} starts: {supervisor.history()}"
        supervisor.check(unit, state)
        time.sleep(0.1)

    events = [e["event"] for e in supervisor.history() if e["unit"] == name]
    assert events.count("restarted") == supervisor.MAX_FAST_FAILURES
    assert events[-1] == "gave-up" and events.count("gave-up") == 1
    gave_up = supervisor.history()[-1]
    assert "exited with status 3" in gave_up["reason"] and "bad setting CRASHY_PORT" in gave_up["reason"]
    assert f"{name}.log" in gave_up["fix"] and "clickpulse stack up" in gave_up["fix"]
    assert supervisor.summary()[name].gave_up

    # given up: further looks restart nothing
    for _ in range(10):
        supervisor.check(unit, state)
        time.sleep(0.05)
    assert len(starts) == 1 + supervisor.MAX_FAST_FAILURES

    # repaired by hand (a start that stays up): the supervisor sees it and watches it again
    procs.start(name, ["sleep", "30"])
    supervisor.check(unit, state)
    assert not state.gave_up
    procs.stop(name)
