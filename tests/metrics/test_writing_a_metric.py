"""README *Writing a metric*, step by step, in a copy of the repository: `clickpulse
metrics new signups_per_minute`, the two edits the README shows (the SQL file and its
reference in clickpulse.truth), then every part a metric needs is there and the new metric,
run by the real Flink planner and runtime over recorded traffic (as every metric test is,
no cluster), equals its reference row for row. `db migrate`, `jobs upgrade` and `dashboards
sync` are the same for every metric and are tested with the existing ones."""

from __future__ import annotations

import importlib.util
import sys

from clickpulse.runner import authoring
from clickpulse.runner.local import run_recorded
from clickpulse.runner.metric import discover
from clickpulse.settings import get_settings
from harness import same_rows
from scenarios import random_traffic, records
from test_authoring import cli, repo_copy

NAME = "signups_per_minute"
# The README's edits, as (old, new) text replacements.
SQL_EDITS = [
    (f"-- {NAME}: <what it measures, in one line>.", f"-- {NAME}: signups per site per minute."),
    ("INTERVAL '1' MINUTE))\n", "INTERVAL '1' MINUTE))\nWHERE event_type = 'signup'\n"),
]
TRUTH_EDITS = [
    ("    for e in events:\n        counts[(_floor(e.ts, MINUTE), e.site_id)] += 1",
     "    for e in events:\n        if e.event_type == \"signup\":\n"
     "            counts[(_floor(e.ts, MINUTE), e.site_id)] += 1"),
]


def _edit(path, edits) -> None:
    text = path.read_text()
    for old, new in edits:
        assert text.count(old) == 1, f"{path}: the README's edit does not apply: {old!r}"
        text = text.replace(old, new)
    path.write_text(text)


def _load_truth(path):
    """The copy's clickpulse/truth.py as a module of the clickpulse package."""
    spec = importlib.util.spec_from_file_location("clickpulse._truth_of_the_copy", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_readme_walk_through_adds_an_exact_metric(tmp_path):
    repo = repo_copy(tmp_path)
    places = authoring.Places.under(repo)
    res = cli("metrics", "new", NAME, "--root", str(repo))
    assert res.returncode == 0, res.stderr
    _edit(places.metrics_dir / f"{NAME}.sql", SQL_EDITS)
    _edit(places.truth, TRUTH_EDITS)

    metric = discover([NAME], places.metrics_dir)[0]
    assert authoring.parts_missing(metric, places) == []

    recs = records(random_traffic(3, 2000, disorder_ms=2_000))
    got = run_recorded(recs, get_settings(), [metric])[NAME]
    truth = _load_truth(places.truth)
    want = truth.compute(recs, watermark_delay_ms=get_settings().watermark_delay_ms)[NAME]
    assert want, "the traffic has no signups: the comparison would prove nothing"
    assert sum(r["events"] for r in want) < len(recs) / 4, "the reference counts more than the signups"
    same_rows(got, want)
