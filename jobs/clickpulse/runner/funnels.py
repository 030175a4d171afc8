"""The funnel definitions of sql/funnels.yaml, checked and rendered into SQL predicates
for the funnel_conversions metric template."""

from __future__ import annotations

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
STEP_KEYS = {"name", "event_type", "page", "page_like"}


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

    def predicate(self, var: str | None = None) -> str:
        """The step as a SQL condition; `var` qualifies columns (MATCH_RECOGNIZE DEFINE)."""
        col = (lambda c: f"{var}.{c}") if var else (lambda c: c)
        parts = [f"{col('event_type')} = {_quote(self.event_type)}"]
        pages = [f"{col('page')} = {_quote(p)}" for p in self.pages]
        pages += [f"{col('page')} LIKE {_quote(p)}" for p in self.page_likes]
        if pages:
            parts.append("(" + " OR ".join(pages) + ")")
        return " AND ".join(parts)

    def matches(self, event_type: str, page: str) -> bool:
        """The same predicate in Python, for the reference implementation and the generator."""
        if event_type != self.event_type:
            return False
        if not self.pages and not self.page_likes:
            return True
        return page in self.pages or any(_like(p, page) for p in self.page_likes)


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


def load_funnels(path: Path | None = None) -> list[Funnel]:
    path = path or FUNNELS_FILE
    where = str(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise ClickpulseError(f"{where}:{mark.line + 1 if mark else 1}: {e}") from None
    funnels = data.get("funnels")
    if not isinstance(funnels, list) or not funnels:
        raise ClickpulseError(f"{where}: expected a non-empty `funnels:` list")
    out, names = [], set()
    for i, f in enumerate(funnels):
        at = f"{where}: funnels[{i}]"
        if not isinstance(f, dict):
            raise ClickpulseError(f"{at}: expected a mapping with name, window and steps")
        unknown = set(f) - {"name", "window", "steps"}
        if unknown:
            raise ClickpulseError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        name = str(f.get("name", ""))
        if not NAME.match(name):
            raise ClickpulseError(f"{at}: name {name!r} must be lower-case letters, digits and _")
        if name in names:
            raise ClickpulseError(f"{at}: funnel {name!r} is defined twice")
        names.add(name)
        m = DURATION.match(str(f.get("window", "30m")))
        if not m or int(m.group(1)) == 0:
            raise ClickpulseError(f"{at} ({name}): window {f.get('window')!r} must look like 30m, 2h or 1d")
        steps_raw = f.get("steps")
        if not isinstance(steps_raw, list) or len(steps_raw) < 2:
            raise ClickpulseError(f"{at} ({name}): needs at least two steps")
        steps, step_names = [], set()
        for j, s in enumerate(steps_raw):
            sat = f"{at} ({name}) steps[{j}]"
            if not isinstance(s, dict):
                raise ClickpulseError(f"{sat}: expected a mapping")
            unknown = set(s) - STEP_KEYS
            if unknown:
                raise ClickpulseError(f"{sat}: unknown key(s) {', '.join(sorted(unknown))}; "
                                      f"allowed: {', '.join(sorted(STEP_KEYS))}")
            sname = str(s.get("name", ""))
            if not NAME.match(sname) or sname in step_names:
                raise ClickpulseError(f"{sat}: name {sname!r} must be unique, lower-case letters, digits and _")
            step_names.add(sname)
            if not s.get("event_type"):
                raise ClickpulseError(f"{sat}: event_type is required")
            steps.append(Step(sname, str(s["event_type"]), _as_list(s.get("page")), _as_list(s.get("page_like"))))
        out.append(Funnel(name, int(m.group(1)) * UNITS[m.group(2)], steps))
    return out
