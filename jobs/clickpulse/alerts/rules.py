"""Alert rules: `sql/alerts/<name>.yaml`, checked with file:line errors and rendered into
the Flink SQL that evaluates them in the events job (docs/design.md, *Alerts*).

Every rule judges one series per site and minute of event time:

    sql/alerts/<rule>.yaml -> per site, every closed minute: value (over `window`),
    band (threshold, or from the trailing `baseline` minutes) -> breaking? ->
    alert_step (AlertStep.java: `for` minutes breaking fire, `cooldown` minutes back resolve)
    -> one row per transition, to the `alerts` table and the `clickpulse.alerts` topic.

A site's minutes come from a HOP window over its per-minute counts, so a minute in which
the site received nothing still exists (its count is 0) for as long as the site had an
event within the rule's window + baseline: that is how "traffic dropped to zero" is seen
in the stream, and why the rule needs no ticker of its own (the events of other sites, or
the ticker's clock ticks, close the minute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ClickpulseError
from ..paths import ROOT, SQL_DIR

ALERTS_DIR = SQL_DIR / "alerts"
CHANNELS_FILE = "channels.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DURATION = re.compile(r"^(\d+)\s*(m|h)$")
# pipeline rules are judged at every poll of `clickpulse alerts watch`, so seconds too
PIPELINE_DURATION = re.compile(r"^(\d+)\s*(s|m|h)$")
KINDS = ("threshold", "anomaly", "funnel_drop", "bot_flood", "pipeline")
SEVERITIES = ("info", "warning", "critical")
DIRECTIONS = ("below", "above", "both")
CONDITION = re.compile(r"^\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")
# evaluated outside Flink (see docs/design.md): what a pipeline rule may watch
PIPELINE_METRICS = ("job_not_running", "freshness_s", "consumer_lag", "dead_letter_share")

COMMON = {"kind", "metric", "description", "sites", "severity", "channels", "for", "cooldown"}
KEYS = {
    "threshold": COMMON | {"condition", "window"},
    "anomaly": COMMON | {"direction", "window", "baseline", "z", "min_change", "min_value"},
    "bot_flood": COMMON | {"window", "baseline", "z", "min_change", "min_value"},
    "funnel_drop": COMMON | {"window", "baseline", "drop", "z", "min_count"},
    "pipeline": COMMON | {"condition", "window"},
}


@dataclass
class Rule:
    name: str
    path: Path
    kind: str
    metric: str
    severity: str
    channels: list[str]
    sites: list[str] | None = None         # None: every site
    for_minutes: int = 1
    cooldown_minutes: int = 1
    window_minutes: int = 1
    baseline_minutes: int = 30
    op: str | None = None                  # threshold/pipeline: <, <=, >, >=
    threshold: float | None = None
    direction: str = "both"
    z: float = 6.0
    min_change: float = 0.5
    min_value: float = 0.0
    drop: float = 0.5
    min_count: float = 20.0
    description: str = ""
    lines: dict[str, int] = field(default_factory=dict)
    # pipeline rules: `for`, `cooldown` and `window` in seconds (judged at every poll)
    for_s: float = 60.0
    cooldown_s: float = 60.0
    window_s: float = 300.0

    @property
    def rel(self) -> str:
        return _rel(self.path)

    @property
    def in_stream(self) -> bool:
        return self.kind != "pipeline"

    @property
    def hop_minutes(self) -> int:
        """How many minutes of a site's counts one judgement reads."""
        return self.window_minutes + (0 if self.kind == "threshold" else self.baseline_minutes)


@dataclass(frozen=True)
class Channel:
    name: str
    kind: str   # webhook | email
    env: str    # the variable holding the URL or the addresses
    where: str  # file:line, for messages


# what a channel's variable holds, per kind
CHANNEL_KINDS = {"webhook": "URL", "email": "comma-separated addresses"}


# --- loading with line numbers ------------------------------------------------------------------

def _compose(path: Path):
    try:
        return yaml.compose(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ClickpulseError(f"{_rel(path)}:{mark.line + 1 if mark else 1}: {getattr(e, 'problem', e)}") from None


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _mapping(path: Path, node) -> tuple[dict, dict[str, int]]:
    """A YAML mapping's plain values and the line of each key."""
    if not isinstance(node, yaml.MappingNode):
        line = node.start_mark.line + 1 if node is not None else 1
        raise ClickpulseError(f"{_rel(path)}:{line}: expected a mapping of `key: value` lines")
    values, lines = {}, {}
    for k, v in node.value:
        key = str(k.value)
        lines[key] = k.start_mark.line + 1
        values[key] = yaml.safe_load(yaml.serialize(v))
    return values, lines


def _minutes(path: Path, lines: dict, key: str, value, minimum: int = 1) -> int:
    m = DURATION.match(str(value))
    n = int(m.group(1)) * (60 if m and m.group(2) == "h" else 1) if m else -1
    if n < minimum:
        raise ClickpulseError(f"{_rel(path)}:{lines.get(key, 1)}: {key}: {value!r} must be whole minutes "
                              f"or hours, at least {minimum}m (e.g. 5m, 1h)")
    return n


def _seconds(path: Path, lines: dict, key: str, value, minimum: int = 0) -> float:
    m = PIPELINE_DURATION.match(str(value))
    n = int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] if m else -1
    if n < minimum:
        raise ClickpulseError(f"{_rel(path)}:{lines.get(key, 1)}: {key}: {value!r} must be whole seconds, minutes "
                              f"or hours, at least {minimum}s (e.g. 30s, 2m, 1h)")
    return float(n)


def _number(path: Path, lines: dict, key: str, value, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low:
        raise ClickpulseError(f"{_rel(path)}:{lines.get(key, 1)}: {key}: {value!r} must be a number >= {low:g}")
    return float(value)


def load_channels(directory: Path | None = None) -> dict[str, Channel]:
    return load_channels_file((directory or ALERTS_DIR) / CHANNELS_FILE)


def load_channels_file(path: Path) -> dict[str, Channel]:
    """The channels file (`channels:` mapping each name to `kind` and `env`), checked: errors
    name file:line and what to write instead."""
    rel = _rel(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ClickpulseError(f"{rel}:1: missing: declare the channels the rules name (see README *Alerts*)") from None
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as e:
        raise ClickpulseError(f"{rel}: {e}") from None
    top = dict((k.value, v) for k, v in root.value) if isinstance(root, yaml.MappingNode) else {}
    node = top.get("channels")
    if not isinstance(node, yaml.MappingNode) or not node.value:
        line = node.start_mark.line + 1 if node is not None else 1
        raise ClickpulseError(f"{rel}:{line}: expected `channels:` mapping each channel name to its kind "
                              "(webhook or email) and env (the variable holding its URL or addresses)")
    specs = yaml.safe_load(text)["channels"]
    out = {}
    for key_node, _ in node.value:
        name, where = key_node.value, f"{rel}:{key_node.start_mark.line + 1}"
        spec = specs[name]
        if not isinstance(spec, dict) or spec.get("kind") not in CHANNEL_KINDS:
            raise ClickpulseError(f"{where}: channel {name!r} needs `kind: webhook` or `kind: email`")
        env = spec.get("env")
        if not isinstance(env, str) or not env.isidentifier():
            raise ClickpulseError(f"{where}: channel {name!r} needs `env: VARIABLE_NAME` (the variable holding "
                                  f"its {CHANNEL_KINDS[spec['kind']]})")
        unknown = set(spec) - {"kind", "env"}
        if unknown:
            raise ClickpulseError(f"{where}: channel {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
        out[name] = Channel(name, spec["kind"], env, where)
    return out


def load(path: Path, channels: dict[str, Channel], series: set[str]) -> Rule:
    """One rule file, checked; `series` are the metric names the stream can judge."""
    rel = _rel(path)
    if not NAME.match(path.stem):
        raise ClickpulseError(f"{rel}:1: rule files are named <rule>.yaml with a lower-case name")
    v, lines = _mapping(path, _compose(path))

    def at(key: str) -> str:
        return f"{rel}:{lines.get(key, 1)}"

    kind = v.get("kind")
    if kind not in KINDS:
        raise ClickpulseError(f"{at('kind')}: kind: {kind!r}; choose one of {', '.join(KINDS)}")
    unknown = sorted(set(v) - KEYS[kind])
    if unknown:
        raise ClickpulseError(f"{at(unknown[0])}: unknown key {unknown[0]!r} for a {kind} rule; "
                              f"allowed: {', '.join(sorted(KEYS[kind]))}")
    for key in ("metric", "severity", "channels"):
        if key not in v:
            raise ClickpulseError(f"{rel}:1: {key} is required")
    rule = Rule(name=path.stem, path=path, kind=kind, metric=str(v["metric"]), severity=str(v["severity"]),
                channels=[], description=str(v.get("description", "")), lines=lines)
    if rule.severity not in SEVERITIES:
        raise ClickpulseError(f"{at('severity')}: severity: {rule.severity!r}; choose one of {', '.join(SEVERITIES)}")
    chans = v["channels"] if isinstance(v["channels"], list) else [v["channels"]]
    for c in chans:
        if str(c) not in channels:
            raise ClickpulseError(f"{at('channels')}: channel {c!r} is not declared in sql/alerts/{CHANNELS_FILE} "
                                  f"(declared: {', '.join(sorted(channels))})")
    rule.channels = [str(c) for c in chans]
    sites = v.get("sites", "all")
    if sites != "all":
        if isinstance(sites, str):
            sites = [sites]
        if not isinstance(sites, list) or not sites or not all(isinstance(s, str) and s for s in sites):
            raise ClickpulseError(f"{at('sites')}: sites: `all` or a list of site ids")
        rule.sites = sites
    if kind == "pipeline" and rule.sites:
        raise ClickpulseError(f"{at('sites')}: a pipeline rule watches the whole pipeline: sites: all")
    if kind == "pipeline":
        rule.for_s = _seconds(path, lines, "for", v.get("for", "1m"))
        rule.cooldown_s = _seconds(path, lines, "cooldown", v.get("cooldown", "1m"))
        rule.window_s = _seconds(path, lines, "window", v.get("window", "5m"), minimum=10)
    else:
        rule.for_minutes = _minutes(path, lines, "for", v.get("for", "1m"))
        rule.cooldown_minutes = _minutes(path, lines, "cooldown", v.get("cooldown", "1m"))
        rule.window_minutes = _minutes(path, lines, "window", v.get("window", "1m"))
    rule.baseline_minutes = _minutes(path, lines, "baseline", v.get("baseline", "30m"), minimum=2)
    _metric(rule, at, series)
    _parameters(rule, v, at, path, lines)
    return rule


def _metric(rule: Rule, at, series: set[str]) -> None:
    if rule.kind == "pipeline":
        if rule.metric not in PIPELINE_METRICS:
            raise ClickpulseError(f"{at('metric')}: metric: {rule.metric!r}; a pipeline rule watches one of "
                                  f"{', '.join(PIPELINE_METRICS)}")
        return
    want_ratio = rule.kind == "funnel_drop"
    if rule.kind == "bot_flood" and rule.metric != "bot_events":
        raise ClickpulseError(f"{at('metric')}: a bot_flood rule watches metric bot_events")
    if rule.metric not in series:
        raise ClickpulseError(f"{at('metric')}: metric: {rule.metric!r} is not a series the stream can judge; "
                              f"choose one of {', '.join(sorted(series))}")
    if want_ratio != rule.metric.startswith("conversion."):
        raise ClickpulseError(f"{at('metric')}: funnel_drop rules (and only they) watch a conversion.<funnel> "
                              "series")


def _parameters(rule: Rule, v: dict, at, path: Path, lines: dict) -> None:
    if rule.kind in ("threshold", "pipeline"):
        m = CONDITION.match(str(v.get("condition", "")))
        if not m:
            raise ClickpulseError(f"{at('condition')}: condition: {v.get('condition')!r} must look like `< 1` "
                                  "or `> 0.05` (one of <, <=, >, >= and a number)")
        rule.op, rule.threshold = m.group(1), float(m.group(2))
        return
    if rule.kind == "anomaly":
        rule.direction = str(v.get("direction", "both"))
        if rule.direction not in DIRECTIONS:
            raise ClickpulseError(f"{at('direction')}: direction: {rule.direction!r}; choose {', '.join(DIRECTIONS)}")
    if rule.kind == "bot_flood":
        rule.direction = "above"
    rule.z = _number(path, lines, "z", v.get("z", 6), low=1.0)
    if rule.kind == "funnel_drop":
        rule.drop = _number(path, lines, "drop", v.get("drop", 0.5))
        if not 0 < rule.drop < 1:
            raise ClickpulseError(f"{at('drop')}: drop: {rule.drop:g} must be a fraction between 0 and 1")
        rule.min_count = _number(path, lines, "min_count", v.get("min_count", 20))
        return
    rule.min_change = _number(path, lines, "min_change", v.get("min_change", 0.5))
    rule.min_value = _number(path, lines, "min_value", v.get("min_value", 0))


def discover(directory: Path | None = None, funnels: list | None = None) -> list[Rule]:
    """Every rule file of the folder (channels.yaml aside), checked."""
    directory = directory or ALERTS_DIR
    if not directory.exists():
        return []
    channels = load_channels(directory)
    names = series_names(funnels or [])
    return [load(p, channels, names) for p in sorted(directory.glob("*.yaml")) if p.name != CHANNELS_FILE]


# --- the series a rule can judge ----------------------------------------------------------------

def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


EVENT_TYPES = ("page_view", "click", "form_submit", "signup", "add_to_cart", "purchase")


def series_names(funnels: list) -> set[str]:
    return ({"events", "bot_events"} | {f"events.{t}" for t in EVENT_TYPES}
            | {f"conversion.{f.name}" for f in funnels})


def _series(metric: str, funnels: list) -> tuple[str, str | None]:
    """(numerator filter, denominator filter or None) over `alert_activity` rows."""
    if metric == "events":
        return "NOT is_bot", None
    if metric == "bot_events":
        return "is_bot", None
    if metric.startswith("events."):
        return f"NOT is_bot AND event_type = {_quote(metric.split('.', 1)[1])}", None
    funnel = next(f for f in funnels if f.name == metric.split(".", 1)[1])
    return f"NOT is_bot AND {funnel.steps[-1].predicate()}", f"NOT is_bot AND {funnel.steps[0].predicate()}"


# --- authoring ----------------------------------------------------------------------------------

TEMPLATES = {
    "threshold": """# {name}: {description}
kind: threshold
description: {description}
metric: events.purchase    # events | events.<event_type> | bot_events
sites: all                 # or a list: [site-1, site-2]
condition: "< 1"           # <, <=, >, >= and a number, judged on the sum over `window`
window: 1m
for: 10m                   # minutes in a row that break the rule before it fires
cooldown: 1m               # minutes in a row back inside before it resolves
severity: warning          # info | warning | critical
channels: [ops-webhook]    # names from sql/alerts/channels.yaml
""",
    "anomaly": """# {name}: {description}
kind: anomaly
description: {description}
metric: events             # events | events.<event_type> | bot_events
sites: all
direction: below           # below | above | both
window: 1m
baseline: 30m              # band from the trailing minutes before the window
z: 6                       # half-width in standard deviations (at least Poisson noise)
min_change: 0.5            # and at least this fraction of the expected value
for: 1m
cooldown: 1m
severity: critical
channels: [ops-webhook]
""",
    "bot_flood": """# {name}: {description}
kind: bot_flood
description: {description}
metric: bot_events
sites: all
window: 1m
baseline: 30m
z: 6
min_change: 1.0
min_value: 100             # at least this many bot events in the window
for: 1m
cooldown: 1m
severity: warning
channels: [ops-webhook]
""",
    "funnel_drop": """# {name}: {description}
kind: funnel_drop
description: {description}
metric: conversion.signup  # conversion.<funnel of sql/funnels.yaml>: last-step events per first-step event
sites: all
window: 5m
baseline: 60m
drop: 0.5                  # fire below (1 - drop) x the baseline's rate ...
z: 4                       # ... and this many standard errors below it
min_count: 50              # first-step events needed in the window and in the baseline
for: 2m
cooldown: 2m
severity: warning
channels: [ops-webhook]
""",
}


def scaffold(name: str, kind: str, directory: Path | None = None) -> Path:
    directory = directory or ALERTS_DIR
    if not NAME.match(name):
        raise ClickpulseError(f"rule name {name!r}: lower-case letters, digits and _, starting with a letter")
    if kind not in TEMPLATES:
        raise ClickpulseError(f"--kind {kind!r}: choose one of {', '.join(TEMPLATES)}")
    path = directory / f"{name}.yaml"
    if path.exists():
        raise ClickpulseError(f"{_rel(path)} already exists")
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATES[kind].format(name=name, description=f"{kind} rule {name} (edit me)"))
    return path


def check_all(directory: Path | None = None, funnels: list | None = None) -> tuple[list[Rule], list[str]]:
    """Every rule file checked on its own: (good rules, `file:line: message` errors)."""
    directory = directory or ALERTS_DIR
    try:
        channels = load_channels(directory)
    except ClickpulseError as e:
        return [], [str(e)]
    names = series_names(funnels or [])
    good, errors = [], []
    for p in sorted(directory.glob("*.yaml")):
        if p.name == CHANNELS_FILE:
            continue
        try:
            good.append(load(p, channels, names))
        except ClickpulseError as e:
            errors.append(str(e))
    return good, errors


def describe(rule: Rule) -> str:
    """The rule's condition in one line, for `clickpulse alerts list`."""
    if rule.kind == "pipeline":
        extra = {"consumer_lag": f" and higher than {_dur(rule.window_s)} before",
                 "dead_letter_share": f" over {_dur(rule.window_s)}"}.get(rule.metric, "")
        return f"{rule.metric} {rule.op} {rule.threshold:g}{extra}"
    if rule.kind == "threshold":
        return f"{rule.metric} {rule.op} {rule.threshold:g} per {rule.window_minutes}m"
    if rule.kind == "funnel_drop":
        return (f"{rule.metric} over {rule.window_minutes}m < (1 - {rule.drop:g}) x the {rule.baseline_minutes}m "
                f"baseline and {rule.z:g} s.e. below")
    return (f"{rule.metric} over {rule.window_minutes}m {rule.direction} the band of the {rule.baseline_minutes}m "
            f"baseline (z {rule.z:g}, at least {rule.min_change:g} change"
            + (f", at least {rule.min_value:g}" if rule.min_value else "") + ")")


def _dur(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h" if s and s % 3600 == 0 else f"{s // 60}m" if s and s % 60 == 0 else f"{s}s"


def for_cooldown(rule: Rule) -> str:
    """`for / cooldown` of a rule, for `clickpulse alerts list`."""
    if rule.kind == "pipeline":
        return f"{_dur(rule.for_s)} / {_dur(rule.cooldown_s)}"
    return f"{rule.for_minutes}m / {rule.cooldown_minutes}m"
