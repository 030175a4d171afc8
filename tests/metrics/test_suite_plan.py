"""The whole suite as the deployed job plans it: every metric file, the dead-letter copy and
the alert rules in one statement set, planned by the real Flink planner without a cluster
(once for the module: planning the suite takes the planner most of a minute).

A metric can plan on its own, and pass its tests on recorded rows, and still fail here: the
planner optimizes the statements of a set together (shared sub-plans, one mini-batch mode
for the shared source), so this is the check that `clickpulse jobs submit` will plan, and
that the stages meant to be shared are planned once."""

from __future__ import annotations

import json
import re

import pytest

from clickpulse.runner import deploy
from clickpulse.runner.metric import discover
from clickpulse.settings import get_settings


@pytest.fixture(scope="module")
def suite():
    """(the metrics, the optimized execution plan as text, the compiled plan's nodes)."""
    settings = get_settings().model_copy(update={"postgres_writer_password": "unset"})
    metrics = discover()
    _, statement_set, _ = deploy.plan(settings, metrics, remote=False)
    plan = statement_set.explain()
    # the Java StatementSet: PyFlink has no compile_plan, and the compiled plan holds the state TTLs
    nodes = json.loads(statement_set._j_statement_set.compilePlan().asJsonString())["nodes"]
    return metrics, plan[plan.index("== Optimized Execution Plan =="):], nodes


def test_every_metric_and_rule_plans_in_one_statement_set_reading_kafka_once(suite):
    metrics, executed, _ = suite
    sinks = set(re.findall(r"Sink\(table=\[default_catalog\.default_database\.([^\]]+)\]", executed))
    # a JDBC sink per metric table, the dead letters, and the alert transitions
    assert {f"{m.name}__sink" for m in metrics} | {"dead_letters", "alerts__sink"} <= sinks, sorted(sinks)
    # one Kafka read for every table: the parsed views are shared, not planned per metric
    assert executed.count("TableSourceScan(table=[[default_catalog, default_database, raw_events") == 1, \
        executed[:3000]


def test_both_funnel_tables_share_one_aggregation(suite):
    """funnel_breakdown adds no second pass over the events: the planner runs the per-user
    aggregation (funnel_reach) once for both tables (the digests of their copies of
    funnel_progress must agree, so it has no correlated table function)."""
    _, executed, _ = suite
    assert executed.count("GroupAggregate(groupBy=[hour_ms, site_id, user_id]") == 1, executed


def _aggregates(nodes: list[dict], kind: str, group_by: str) -> list[dict]:
    return [n for n in nodes if kind in n["type"] and f"groupBy=[{group_by}]" in n["description"]]


def test_both_retention_tables_share_one_pass_and_keep_state_98_days(suite):
    """retention_daily and retention_weekly read one view (sql/retention_views.sql): the job
    has one window and one per-user aggregation for both, and every aggregate's state lives
    98 days (the STATE_TTL hints reach through the view), not the job's 1 h."""
    _, _, nodes = suite
    windows = [n for n in _aggregates(nodes, "global-window-aggregate", "site_id, user_id")
               if "MIN(min$0) AS ts" in n["description"] and "size=[1 min]" in n["description"]]
    per_user = [n for n in _aggregates(nodes, "global-group-aggregate", "site_id, user_id")
                if "AS first_day" in n["description"]]
    counts = _aggregates(nodes, "global-group-aggregate", "cohort_start, site_id, period_offset")
    assert len(windows) == 1, [n["description"][:120] for n in windows]
    assert len(per_user) == 1 and len(counts) == 2, [n["description"][:80] for n in nodes if "aggregate" in n["type"]]
    assert [s["ttl"] for n in per_user + counts for s in n["state"]] == ["98 d"] * 3
