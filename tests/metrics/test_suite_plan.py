"""The whole suite as the deployed job plans it: every metric file, the dead-letter copy and
the alert rules in one statement set, planned by the real Flink planner without a cluster.
A metric can plan on its own (and pass its tests on recorded rows) and still fail here: the
planner optimizes the statements of a set together (shared sub-plans, one mini-batch mode
for the shared source), so this is the check that `clickpulse jobs submit` will plan."""

from __future__ import annotations

import re

from clickpulse.runner import deploy
from clickpulse.runner.metric import discover
from clickpulse.settings import get_settings


def test_every_metric_and_rule_plans_in_one_statement_set_reading_kafka_once():
    settings = get_settings().model_copy(update={"postgres_writer_password": "unset"})
    metrics = discover()
    _, statement_set, columns = deploy.plan(settings, metrics, remote=False)
    plan = statement_set.explain()
    executed = plan[plan.index("== Optimized Execution Plan =="):]

    assert set(columns) == {m.name for m in metrics}
    sinks = set(re.findall(r"Sink\(table=\[default_catalog\.default_database\.([^\]]+)\]", executed))
    # a JDBC sink per metric table, the dead letters, and the alert transitions
    assert {f"{m.name}__sink" for m in metrics} | {"dead_letters", "alerts__sink"} <= sinks, sorted(sinks)
    # one Kafka read for every table: the parsed views are shared, not planned per metric
    assert executed.count("TableSourceScan(table=[[default_catalog, default_database, raw_events") == 1, \
        executed[:3000]
