"""An isolated copy of the metric suite on the local Flink session cluster, for tests that
need the deployed job: its own topics, consumer group (job name) and database, so it
neither disturbs nor is disturbed by a demo or another test running on the same stack."""

from __future__ import annotations

import os
import socket
import uuid

from clickpulse.dashboards import rls
from clickpulse.dashboards.client import admin_session
from clickpulse.dashboards.roles import Security
from clickpulse.stack.kafka import admin
from clickpulse.stack.postgres import connect
from conftest import run_cli


def isolated_suite(settings, request, name: str, **extra_env: str) -> tuple[dict, str]:
    """Deploy the suite as `clickpulse-NAME-<tag>` (topic NAME-<tag>, database
    clickpulse_NAME_<tag>); torn down (job, topics, database) when `request`'s scope
    ends. Returns (the environment that addresses it, tag)."""
    tag = uuid.uuid4().hex[:8]
    env = {**os.environ,
           "CLICKPULSE_EVENTS_TOPIC": f"{name}-{tag}", "CLICKPULSE_DEAD_LETTER_TOPIC": f"{name}-{tag}-dlq",
           "CLICKPULSE_ALERTS_TOPIC": f"{name}-{tag}-alerts",
           "CLICKPULSE_JOB_NAME": f"clickpulse-{name}-{tag}", "POSTGRES_DB": f"clickpulse_{name}_{tag}",
           **extra_env}

    def teardown():
        run_cli("jobs", "stop", env=env)  # exits 0 when the job is not running
        admin(settings).delete_topics([env["CLICKPULSE_EVENTS_TOPIC"], env["CLICKPULSE_DEAD_LETTER_TOPIC"],
                                       env["CLICKPULSE_ALERTS_TOPIC"]])
        with connect(settings, "admin", "postgres", autocommit=True) as c:
            c.execute(f'drop database if exists "{env["POSTGRES_DB"]}" with (force)')

    request.addfinalizer(teardown)
    run_cli("stack", "topics", env=env)
    run_cli("db", "migrate", env=env)
    run_cli("jobs", "submit", env=env, timeout=300)
    return env, tag


def port_free(port: int) -> bool:
    """Nothing listens on 127.0.0.1:PORT (binding it works)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def unbind_site_viewer(settings, username: str, site: str) -> None:
    """Undo dashboards.sync.bind_site_viewer for a test user. Superset cannot delete a user
    who has used a dashboard (its filter state references it), so it is deactivated; a login
    of its own, because by the end of a long session an earlier token has expired."""
    with admin_session(settings) as sp:
        sec = Security(sp)
        user = sec.find_user(username)
        if user:
            sp.put(f"/api/v1/security/users/{user['id']}", {"active": False, "roles": [sec.roles()["Site viewer"]]})
        rls.delete_site_rule(sp, sec, site)


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
