"""The promoted event properties of sql/properties.yaml: keys of an event's `properties`
object that become typed columns of events_per_minute (and its provisional table). Checked
here (errors name the file and line) and rendered into the SQL of the events views; the
same rule in Python (`value`) is what clickpulse.truth and the generator use."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..paths import SQL_DIR
from .funnels import read_definitions

PROPERTIES_FILE = SQL_DIR / "properties.yaml"
NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# a top-level key of properties, so `$.key` is the whole JSON path
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
TYPES = ("text",)
FIELDS = {"name", "key", "type", "description"}
# The value of a promoted column when the property is missing or unusable. The column is part
# of the table's primary key, so it is never NULL.
NONE = "none"
MAX_LEN = 64
# JSON_VALUE gives numbers and booleans as text ("5", "true", "1.5E3"), so the job cannot
# tell the string "5" from the number 5: text that reads as a number, true, false or null is
# NONE whatever its JSON type, and both sides agree whatever the number's formatting. The
# pattern is the same in Java (REGEXP, with \z) and Python (fullmatch, ASCII case folding).
NOT_TEXT = r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?|true|false|null"
_NOT_TEXT = re.compile(NOT_TEXT, re.I | re.A)
# columns of the events views (and of events_per_minute) a promoted column may not shadow
RESERVED = {"event_id", "event_type", "site_id", "user_id", "session_id", "ts", "event_time", "page", "referrer",
            "country", "device", "plan", "properties", "schema_version", "utm_source", "utm_medium", "utm_campaign",
            "referrer_domain", "window_start", "window_end", "events", "bot", "tick", "is_late", "error",
            "payload", "kafka_ts", "kafka_partition", "kafka_offset", "reason"}


def _utf16_len(s: str) -> int:
    # Flink's CHAR_LENGTH counts UTF-16 code units (an emoji is two)
    return len(s.encode("utf-16-le", "surrogatepass")) // 2


@dataclass(frozen=True)
class Promoted:
    name: str
    key: str
    type: str
    description: str

    def sql(self, column: str = "properties") -> str:
        """The column as a Flink SQL expression over the properties JSON text."""
        v = f"JSON_VALUE({column}, '$.{self.key}')"
        return (f"CASE WHEN CHAR_LENGTH({v}) BETWEEN 1 AND {MAX_LEN} "
                f"AND NOT REGEXP({v}, '(?i)^({NOT_TEXT})\\z') THEN {v} ELSE '{NONE}' END")

    def value(self, properties: dict | None) -> str:
        """The same rule in Python, on the event's parsed properties object."""
        v = (properties or {}).get(self.key)
        if not isinstance(v, str) or not 1 <= _utf16_len(v) <= MAX_LEN or _NOT_TEXT.fullmatch(v):
            return NONE
        return v


def load_properties(path: Path | None = None) -> list[Promoted]:
    data, error = read_definitions(path or PROPERTIES_FILE)

    if not isinstance(data, dict) or set(data) - {"promoted"}:
        error((), "expected one key, `promoted:`, a list of properties (an empty list promotes none)")
    raw = data.get("promoted")
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        error(("promoted",), "`promoted:` must be a list of properties with name, key, type and description")
    out, names = [], set()
    for i, p in enumerate(raw):
        here = ("promoted", i)
        at = f"promoted[{i}]"
        if not isinstance(p, dict):
            error(here, f"{at}: expected a mapping with name, key, type and description")
        unknown = set(p) - FIELDS
        if unknown:
            error(here + (sorted(unknown)[0], "key"),
                  f"{at}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(FIELDS))}")
        name = p.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            error(here + ("name",), f"{at}: name {name!r} must be lower-case letters, digits and _ (it is a column)")
        if name in RESERVED:
            error(here + ("name",), f"{at}: name {name!r} is already a column of the events views; choose another")
        if name in names:
            error(here + ("name",), f"{at}: property {name!r} is promoted twice")
        names.add(name)
        key = p.get("key", name)
        if not isinstance(key, str) or not KEY.match(key):
            error(here + ("key",), f"{at} ({name}): key {key!r} must be a top-level key of properties "
                                   "(letters, digits and _)")
        typ = p.get("type")
        if typ not in TYPES:
            error(here + ("type",), f"{at} ({name}): type {typ!r} is not supported; one of: {', '.join(TYPES)}")
        desc = p.get("description")
        if not isinstance(desc, str) or not desc.strip():
            error(here + ("description",), f"{at} ({name}): a description is required (the datasets show it)")
        out.append(Promoted(name, key, typ, " ".join(desc.split())))
    return out


def promoted_values(properties_json: str | None, promoted: list[Promoted]) -> tuple[str, ...]:
    """An event's promoted columns, from its properties JSON text (clickpulse.truth)."""
    props = json.loads(properties_json) if properties_json else {}
    if not isinstance(props, dict):
        props = {}
    return tuple(p.value(props) for p in promoted)


def columns_sql(promoted: list[Promoted]) -> str:
    """The promoted columns for a SELECT list: `expr AS name, ` each (views.sql)."""
    return "".join(f"{p.sql()} AS {p.name}, " for p in promoted)
