"""sql/properties.yaml: the promoted properties, checked with errors that name file:line, and
the rule that turns an event's property into its column (the job's JSON_VALUE expression
and clickpulse.truth agree on it: tests/metrics/test_events_per_minute.py runs both)."""

from __future__ import annotations

import pytest

from clickpulse.errors import ClickpulseError
from clickpulse.runner.properties import NONE, Promoted, columns_sql, load_properties


def test_the_shipped_file_promotes_button_and_experiment():
    promoted = load_properties()
    assert [p.name for p in promoted] == ["button", "experiment"]
    assert all(p.type == "text" and p.description for p in promoted)
    # the view's columns, one JSON_VALUE expression each
    assert "JSON_VALUE(properties, '$.button')" in columns_sql(promoted)
    assert columns_sql(promoted).endswith("AS experiment, ")


GOOD = "promoted:\n  - name: button\n    type: text\n    description: the button\n"


@pytest.mark.parametrize("text,line,message", [
    ("promoted:\n  - name: button\n    type: text\n", 2, "a description is required"),
    ("promoted:\n  - name: button\n    type: integer\n    description: x\n", 3, "type 'integer' is not supported"),
    ("promoted:\n  - name: Button\n    type: text\n    description: x\n", 2, "lower-case letters"),
    ("promoted:\n  - name: country\n    type: text\n    description: x\n", 2, "already a column"),
    (GOOD + "  - name: button\n    type: text\n    description: again\n", 5, "promoted twice"),
    ("promoted:\n  - name: b\n    key: a.b\n    type: text\n    description: x\n", 3, "top-level key"),
    ("promoted:\n  - name: b\n    type: text\n    description: x\n    path: $.b\n", 5, "unknown key(s) path"),
    ("promoted: {button: text}\n", 1, "must be a list"),
    ("promotes:\n  - name: b\n", 1, "expected one key, `promoted:`"),
    ("promoted:\n  - name: [b\n", 3, "expected ',' or ']'"),   # YAML syntax: where the parser stopped
])
def test_errors_name_the_file_and_line(tmp_path, text, line, message):
    path = tmp_path / "properties.yaml"
    path.write_text(text)
    with pytest.raises(ClickpulseError) as e:
        load_properties(path)
    assert str(e.value).startswith(f"{path}:{line}: "), str(e.value)
    assert message in str(e.value)


def test_an_empty_list_promotes_nothing(tmp_path):
    path = tmp_path / "properties.yaml"
    path.write_text("promoted: []\n")
    assert load_properties(path) == [] and columns_sql([]) == ""


@pytest.mark.parametrize("value,column", [
    ("signup_cta", "signup_cta"),
    (None, NONE),                 # JSON null
    (5, NONE), (1.5, NONE), (True, NONE), (["a"], NONE), ({"a": "b"}, NONE),
    ("", NONE), ("x" * 65, NONE), ("x" * 64, "x" * 64),
    ("😀" * 32, "😀" * 32), ("😀" * 33, NONE),   # 64 UTF-16 code units, as Flink counts
    ("5", NONE), ("-.5", NONE), ("1E3", NONE), ("NULL", NONE), ("True", NONE),   # read as a number etc.
    ("5\n", "5\n"), (" 5", " 5"), ("falſe", "falſe"), ("١", "١"),   # only ASCII digits and letters fold
])
def test_the_rule(value, column):
    p = Promoted("button", "button", "text", "the button")
    assert p.value({"button": value}) == column
    assert p.value({}) == NONE and p.value(None) == NONE


def test_every_promoted_property_is_in_the_datasets_and_has_a_filter():
    """Adding a property to sql/properties.yaml is not done until the dashboards know it
    (docs/design.md "Promoted properties", the steps): the minute datasets describe its
    column, the Trends datasets switch to events_per_minute when a chart uses it, and the
    Live and Trends dashboards filter by it; the funnel_breakdown datasets, where it is a
    dimension by itself, name it among the dimensions an analyst picks from."""
    import re

    from clickpulse.dashboards import assets

    names = [p.name for p in load_properties()]
    configs = assets.read_assets()
    for table in ("events_per_minute", "events_per_minute_provisional"):
        described = {c["column_name"] for c in configs[f"datasets/clickpulse/{table}.yaml"]["columns"]}
        assert set(names) <= described, table
    for table in ("events_hourly", "events_daily"):
        sql = configs[f"datasets/clickpulse/{table}.yaml"]["sql"]
        # the names a filter (f.col in ...) and a column (c in ...) are tested against
        tuples = [set(re.findall(r"'(\w+)'", t)) for t in re.findall(r"\bin \(([^)]*)\)", sql)]
        assert tuples.count(set(names)) == 2, (table, tuples)
        for name in names:
            assert f"'all'::text AS {name}" in sql, (table, name)
    for dashboard in ("live", "trends"):
        filters = configs[f"dashboards/{dashboard}.yaml"]["metadata"]["native_filter_configuration"]
        filtered = {t["column"]["name"] for f in filters for t in f["targets"] if "column" in t}
        assert set(names) <= filtered, dashboard
    for table in ("funnel_breakdown", "funnel_breakdown_steps"):
        users = next(m for m in configs[f"datasets/clickpulse/{table}.yaml"]["metrics"] if m["metric_name"] == "users")
        for name in names:
            assert f"'{name}'" in users["description"], (table, name)
