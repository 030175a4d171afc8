"""An isolated copy of the metric suite on the local Flink session cluster, for tests that
need the deployed job: its own topics, consumer group (job name) and database, so it
neither disturbs nor is disturbed by a demo or another test running on the same stack."""

from __future__ import annotations

import os
import uuid

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
           "CLICKPULSE_JOB_NAME": f"clickpulse-{name}-{tag}", "POSTGRES_DB": f"clickpulse_{name}_{tag}",
           **extra_env}

    def teardown():
        run_cli("jobs", "stop", env=env)  # exits 0 when the job is not running
        admin(settings).delete_topics([env["CLICKPULSE_EVENTS_TOPIC"], env["CLICKPULSE_DEAD_LETTER_TOPIC"]])
        with connect(settings, "admin", "postgres", autocommit=True) as c:
            c.execute(f'drop database if exists "{env["POSTGRES_DB"]}" with (force)')

    request.addfinalizer(teardown)
    run_cli("stack", "topics", env=env)
    run_cli("db", "migrate", env=env)
    run_cli("jobs", "submit", env=env, timeout=300)
    return env, tag
