"""The funnel definitions of sql/funnels.yaml, checked and rendered into SQL predicates
for the funnel metric templates (sql/funnel_views.sql). Errors name the file and line."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..errors import ClickpulseError
from ..paths import SQL_DIR

FUNNELS_FILE = SQL_DIR / "funnels.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STEP_KEYS = {"name", "event_type", "page", "page_like", "properties"}
# A property name is a plain JSON key, so `$.name` is the whole path.
PROPERTY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# JSON_VALUE gives numbers and booleans as text too ("5", "true"); a value that reads as one
# could then match a number or a boolean, which the step does not mean: only text values
# that cannot be taken for one are allowed, so a match is always a JSON string.
NOT_TEXT = re.compile(r"^(-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|true|false|null)$", re.I)


def _quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _as_list(v) -> list[str]:
    return [v] if isinstance(v, str) else list(v or [])


@dataclass
class Step:
    name: str
    event_type: str
    pages: list[str] = field(default_factory=list)
    page_likes: list[str] = field(default_factory=list)
    # property name -> the text values any of which it must have (a JSON string)
    properties: dict[str, list[str]] = field(default_factory=dict)

    def predicate(self, var: str | None = None) -> str:
        """The step as a SQL condition; `var` qualifies columns (MATCH_RECOGNIZE DEFINE)."""
        col = (lambda c: f"{var}.{c}") if var else (lambda c: c)
        parts = [f"{col('event_type')} = {_quote(self.event_type)}"]
        pages = [f"{col('page')} = {_quote(p)}" for p in self.pages]
        pages += [f"{col('page')} LIKE {_quote(p)}" for p in self.page_likes]
        if pages:
            parts.append("(" + " OR ".join(pages) + ")")
        for prop, values in self.properties.items():
            value = f"JSON_VALUE({col('properties')}, '$.{prop}')"
            parts.append(f"{value} IN ({', '.join(_quote(v) for v in values)})")
        return " AND ".join(parts)

    def matches(self, event_type: str, page: str, properties: dict | None = None) -> bool:
        """The same predicate in Python, for the reference implementation and the generator;
        `properties`: the event's properties object (parsed)."""
        if event_type != self.event_type:
            return False
        if self.pages or self.page_likes:
            if page not in self.pages and not any(_like(p, page) for p in self.page_likes):
                return False
        for prop, values in self.properties.items():
            v = (properties or {}).get(prop)
            if not isinstance(v, str) or v not in values:
                return False
        return True


def parse_properties(text: str | None) -> dict:
    """An event's properties (the JSON object text events carry) for Step.matches."""
    if not text:
        return {}
    v = json.loads(text)
    return v if isinstance(v, dict) else {}


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.S) is not None


@dataclass
class Funnel:
    name: str
    window_seconds: int
    steps: list[Step]

    @property
    def window_sql(self) -> str:
        d, rem = divmod(self.window_seconds, 86400)
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return f"INTERVAL '{d} {h:02d}:{m:02d}:{s:02d}' DAY TO SECOND"


class _Lines:
    """Line numbers of the YAML nodes, by their path of keys and indexes."""

    def __init__(self, text: str):
        self.lines: dict[tuple, int] = {}
        try:
            root = yaml.compose(text)
        except yaml.YAMLError:
            root = None
        if root is not None:
            self._walk(root, ())

    def _walk(self, node, path: tuple) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                self.lines[path + (key, "key")] = k.start_mark.line + 1
                self._walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, path + (i,))

    def at(self, *path) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)


def _properties(raw, fail) -> dict[str, list[str]]:
    if not isinstance(raw, dict) or not raw:
        fail("properties", "properties must map property names to a text value or a list of them, "
                           "e.g. properties: {button: signup}")
    out = {}
    for prop, v in raw.items():
        if not isinstance(prop, str) or not PROPERTY.match(prop):
            fail("properties", f"property name {prop!r} must be letters, digits and _ (a top-level key of properties)")
        values = v if isinstance(v, list) else [v]
        for value in values:
            if not isinstance(value, str) or not value or NOT_TEXT.match(value):
                fail(("properties", prop), f"property {prop}: {value!r} must be text that does not read as a number, "
                                           "true, false or null (steps match JSON strings only)")
        out[prop] = list(values)
    return out


def read_definitions(path: Path):
    """A definition file (sql/funnels.yaml, sql/properties.yaml): its parsed YAML, and an
    `error(at_path, message)` that raises a ClickpulseError naming the file and the line
    of the value at `at_path` (keys and list indexes from the top)."""
    where = str(path)
    text = path.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ClickpulseError(f"{where}:{mark.line + 1 if mark else 1}: {e}") from None
    lines = _Lines(text)

    def error(at_path: tuple, message: str):
        raise ClickpulseError(f"{where}:{lines.at(*at_path)}: {message}")

    return data, error


def load_funnels(path: Path | None = None) -> list[Funnel]:
    data, error = read_definitions(path or FUNNELS_FILE)

    funnels = data.get("funnels") if isinstance(data, dict) else None
    if not isinstance(funnels, list) or not funnels:
        error(("funnels",), "expected a non-empty `funnels:` list")
    out, names = [], set()
    for i, f in enumerate(funnels):
        here = ("funnels", i)
        at = f"funnels[{i}]"
        if not isinstance(f, dict):
            error(here, f"{at}: expected a mapping with name, window and steps")
        unknown = set(f) - {"name", "window", "steps"}
        if unknown:
            error(here + (sorted(unknown)[0], "key"), f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        name = str(f.get("name", ""))
        if not NAME.match(name):
            error(here + ("name",), f"{at}: name {name!r} must be lower-case letters, digits and _")
        if name in names:
            error(here + ("name",), f"{at}: funnel {name!r} is defined twice")
        names.add(name)
        m = DURATION.match(str(f.get("window", "30m")))
        if not m or int(m.group(1)) == 0:
            error(here + ("window",), f"{at} ({name}): window {f.get('window')!r} must look like 30m, 2h or 1d")
        steps_raw = f.get("steps")
        if not isinstance(steps_raw, list) or len(steps_raw) < 2:
            error(here + ("steps",), f"{at} ({name}): needs at least two steps")
        steps, step_names = [], set()
        for j, s in enumerate(steps_raw):
            shere = here + ("steps", j)
            sat = f"{at} ({name}) steps[{j}]"
            if not isinstance(s, dict):
                error(shere, f"{sat}: expected a mapping")
            unknown = set(s) - STEP_KEYS
            if unknown:
                error(shere + (sorted(unknown)[0], "key"), f"{sat}: unknown key(s) {', '.join(sorted(unknown))}; "
                                                           f"allowed: {', '.join(sorted(STEP_KEYS))}")
            sname = str(s.get("name", ""))
            if not NAME.match(sname) or sname in step_names:
                error(shere + ("name",), f"{sat}: name {sname!r} must be unique, lower-case letters, digits and _")
            step_names.add(sname)
            if not s.get("event_type"):
                error(shere, f"{sat}: event_type is required")
            props = {}
            if "properties" in s:
                props = _properties(s["properties"],
                                    lambda sub, msg: error(shere + (sub if isinstance(sub, tuple) else (sub,)),
                                                           f"{sat}: {msg}"))
            steps.append(Step(sname, str(s["event_type"]), _as_list(s.get("page")), _as_list(s.get("page_like")),
                              props))
        out.append(Funnel(name, int(m.group(1)) * UNITS[m.group(2)], steps))
    return out
