"""The event contract as the collector applies it: `schema/event.v1.json`, with the three
rules JSON Schema cannot state, and reasons worded like the pipeline's (EventContract.java),
so that a dead letter says the same thing whichever side rejected the event.

Why jsonschema needs three adjustments to agree with the pipeline (Jackson on the JVM):
- lengths: Java counts UTF-16 code units, JSON Schema counts code points;
- integers: JSON Schema calls 1.0 an integer, Jackson does not, and the JVM's are 64-bit;
- patterns: Python's `$` also matches before a final newline, ECMA-262's (the dialect
  JSON Schema specifies) does not.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jsonschema import Draft202012Validator, ValidationError, validators

from ..errors import ClickpulseError
from ..paths import SCHEMA_DIR

# Schema files by contract version. An event of a newer version than any listed here is
# checked against the newest one: the pipeline applies the v1 rules to every version.
SCHEMA_FILES = {1: "event.v1.json"}

# The order in which EventContract.java checks the fields: the first failing one is the reason.
FIELD_ORDER = ["event_id", "event_type", "site_id", "user_id", "session_id", "ts", "page", "referrer",
               "country", "device", "plan", "properties", "schema_version", "bot", "utm_source", "utm_medium",
               "utm_campaign"]
OPTIONAL_STRINGS = ("session_id", "referrer", "country", "device", "plan", "bot", "utm_source", "utm_medium",
                    "utm_campaign")
# campaign tags compared case-insensitively (they decide the acquisition channel)
LOWER_CASED = ("utm_source", "utm_medium")
_NULLABLE = (*OPTIONAL_STRINGS, "properties", "schema_version")
MAX_FUTURE_MS = 60_000  # CLICKPULSE_MAX_FUTURE_MS default; see settings.py
# orjson cannot serialize deeper than 254 levels, and no analytics property needs 32.
MAX_DEPTH = 32
_KEYWORD_ORDER = {"required": 0, "type": 1, "minLength": 2, "maxLength": 3, "minimum": 4, "maximum": 4,
                  "pattern": 5, "future": 6}


class InvalidEvent(ValueError):
    """An event that breaks the contract; `reason` is what goes to the dead-letter topic."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def ascii_lower(s: str) -> str:
    """A-Z lower-cased, nothing else: what the pipeline does, whatever the locale."""
    return s.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def utf16_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-16-le", "surrogatepass")) // 2


@lru_cache(maxsize=64)
def _ecma(pattern: str) -> re.Pattern:
    """Compile a JSON Schema pattern with ECMA-262's `$` (end of input only)."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "$" and not in_class:
            c = r"\Z"
        out.append(c)
        i += 1
    return re.compile("".join(out))


def _max_length(validator, limit, instance, schema):
    if validator.is_type(instance, "string") and utf16_len(instance) > limit:
        yield ValidationError(f"longer than {limit}")


def _min_length(validator, limit, instance, schema):
    if validator.is_type(instance, "string") and utf16_len(instance) < limit:
        yield ValidationError(f"shorter than {limit}")


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _ecma(pattern).search(instance):
        yield ValidationError(f"does not match {pattern}")


def _is_integer(v) -> bool:
    """A JSON integer as the JVM reads one: no fraction or exponent, and 64 bits."""
    return isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63


_type_checker = Draft202012Validator.TYPE_CHECKER.redefine("integer", lambda _checker, v: _is_integer(v))
ContractValidator = validators.extend(
    Draft202012Validator,
    {"maxLength": _max_length, "minLength": _min_length, "pattern": _pattern},
    type_checker=_type_checker,
)

_PATTERN_REASONS = {
    "event_type": "only letters, digits and _ . : - allowed",
    "country": "expected ISO 3166-1 alpha-2",
    "device": "expected desktop, mobile or tablet",
}
_TYPE_REASONS = {
    "ts": "expected integer epoch milliseconds",
    "properties": "expected object",
    "schema_version": "expected integer >= 1",
}


def _reason(field: str, keyword: str, value: Any, limit: Any) -> str:
    if keyword == "required" or (keyword == "type" and value is None):
        what = "missing"
    elif keyword == "type":
        what = _TYPE_REASONS.get(field, "expected string")
    elif keyword == "minLength":
        what = "empty"
    elif keyword == "maxLength":
        what = f"longer than {limit}"
    elif keyword in ("minimum", "maximum"):
        what = "out of range" if field == "ts" else "expected integer >= 1"
    elif keyword == "pattern":
        what = _PATTERN_REASONS.get(field, "invalid")
    elif keyword == "future":
        what = "too far in the future"
    else:
        what = f"violates {keyword}"
    return f"{field}: {what}"


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` (iterative: hostile input must not recurse)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if d > limit:
            return True
        stack.extend((c, d + 1) for c in children if isinstance(c, (dict, list)))
    return False


# Keywords that only annotate; every other keyword must be one the compiled checker applies.
_ANNOTATIONS = {"$schema", "$id", "title", "description", "default", "examples", "$comment"}
_FIELD_KEYWORDS = {"type", "minLength", "maxLength", "minimum", "maximum", "pattern"}
# JSON types as the Python types a JSON parser returns; `integer` also needs _is_integer
_PY_TYPES = {"string": str, "integer": int, "object": dict, "null": type(None), "array": list,
             "boolean": bool, "number": float}
_NO_LIMIT = float("inf")


def _compile_field(name: str, spec: dict):
    """One field's rules as a function returning (keyword, limit) of the first broken rule.

    jsonschema takes ~100 µs per event; this takes a few (it runs for every field of every
    event the collector sees), and tests/ingest/test_contract.py checks that both give the
    same verdict on generated events."""
    unknown = set(spec) - _FIELD_KEYWORDS - _ANNOTATIONS
    if unknown:
        raise ClickpulseError(f"schema field {name!r} uses {', '.join(sorted(unknown))}, which "
                              "jobs/clickpulse/ingest/schema.py does not apply: add it there")
    types = spec.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    allowed = frozenset(_PY_TYPES[t] for t in types) if types else None
    if "number" in types:
        allowed |= {int}
    strict_int = "integer" in types and "number" not in types
    min_len = spec.get("minLength", 0)
    max_len = spec.get("maxLength", _NO_LIMIT)
    minimum = spec.get("minimum", -_NO_LIMIT)
    maximum = spec.get("maximum", _NO_LIMIT)
    pattern = _ecma(spec["pattern"]).search if "pattern" in spec else None
    source = spec.get("pattern")

    def check(v):
        t = type(v)
        if allowed is not None and t not in allowed:
            # dict/str subclasses and the like: what isinstance would say
            if not any(isinstance(v, a) for a in allowed) or t is bool:
                return "type", None
        if t is str:
            n = len(v) if v.isascii() else utf16_len(v)
            if n < min_len:
                return "minLength", min_len
            if n > max_len:
                return "maxLength", max_len
            if pattern is not None and not pattern(v):
                return "pattern", source
        elif t is int or t is float:
            if strict_int and not _is_integer(v):
                return "type", None
            if v < minimum:
                return "minimum", minimum
            if v > maximum:
                return "maximum", maximum
        return None

    return check


def _too_deep(event: dict) -> str | None:
    """Any field, known or not, nesting deeper than MAX_DEPTH (the event object is level 1)."""
    for k, v in event.items():
        if isinstance(v, (dict, list)) and depth_exceeds(v, MAX_DEPTH - 1):
            return f"{k}: nested deeper than {MAX_DEPTH} levels"
    return None


_MISSING = object()


class EventSchema:
    """Validates and normalises events against the versioned schema files."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR):
        self.reference: dict[int, Any] = {}
        self.compiled: dict[int, list] = {}
        for version, name in SCHEMA_FILES.items():
            path = schema_dir / name
            try:
                schema = json.loads(path.read_text())
            except (OSError, ValueError) as e:
                raise ClickpulseError(f"cannot read the event schema {path}: {e}") from e
            ContractValidator.check_schema(schema)
            self.reference[version] = ContractValidator(schema)
            self.compiled[version] = self._compile(schema, path)
        self.newest = max(self.compiled)

    @staticmethod
    def _compile(schema: dict, path: Path) -> list:
        unknown = set(schema) - {"type", "required", "properties", "additionalProperties"} - _ANNOTATIONS
        if schema.get("type") != "object" or schema.get("additionalProperties", True) is not True or unknown:
            raise ClickpulseError(f"{path}: only a flat object schema with type, required and properties is "
                                  "supported by jobs/clickpulse/ingest/schema.py")
        props = schema.get("properties", {})
        required = set(schema.get("required", []))
        names = [f for f in FIELD_ORDER if f in props or f in required]
        names += [f for f in props if f not in names]
        return [(f, f in required, _compile_field(f, props.get(f, {}))) for f in names]

    def _version(self, event: dict) -> int:
        v = event.get("schema_version")
        if isinstance(v, int) and not isinstance(v, bool):
            return v if v in self.compiled else (self.newest if v > self.newest else 1)
        return 1

    def reason(self, event: Any, received_at_ms: int | None = None,
               max_future_ms: int = MAX_FUTURE_MS) -> str | None:
        """The first rule `event` breaks, worded like the pipeline, or None if it is valid."""
        if not isinstance(event, dict):
            return "not a JSON object"
        for field, required, check in self.compiled[self._version(event)]:
            value = event.get(field, _MISSING)
            if value is _MISSING:
                if required:
                    return _reason(field, "required", None, None)
                continue
            broken = check(value)
            if broken:
                return _reason(field, broken[0], value, broken[1])
            if field == "ts" and received_at_ms is not None and value > received_at_ms + max_future_ms:
                return _reason("ts", "future", value, None)
        return _too_deep(event)

    def reference_reason(self, event: Any, received_at_ms: int | None = None,
                         max_future_ms: int = MAX_FUTURE_MS) -> str | None:
        """Like `reason`, but through jsonschema itself (slow): the yardstick for tests."""
        if not isinstance(event, dict):
            return "not a JSON object"
        validator = self.reference[self._version(event)]
        problems: list[tuple[int, int, str]] = []
        for err in validator.iter_errors(event):
            if err.validator == "required":
                for field in err.validator_value:
                    if field not in event:
                        problems.append((FIELD_ORDER.index(field), 0, _reason(field, "required", None, None)))
                continue
            if not err.path:
                return "not a JSON object"
            field = str(err.path[0])
            order = FIELD_ORDER.index(field) if field in FIELD_ORDER else len(FIELD_ORDER)
            problems.append((order, _KEYWORD_ORDER.get(err.validator, 9),
                             _reason(field, err.validator, err.instance, err.validator_value)))
        ts = event.get("ts")
        if (received_at_ms is not None and isinstance(ts, int) and not isinstance(ts, bool)
                and 0 <= ts <= 32503680000000 and ts > received_at_ms + max_future_ms):
            problems.append((FIELD_ORDER.index("ts"), _KEYWORD_ORDER["future"], _reason("ts", "future", ts, None)))
        if problems:
            return min(problems)[2]
        return _too_deep(event)

    def normalize(self, event: Any, received_at_ms: int | None = None) -> dict:
        """A valid event as the pipeline will read it (country upper case, device lower
        case, empty or null optional fields removed); raises InvalidEvent otherwise."""
        reason = self.reason(event, received_at_ms)
        if reason:
            raise InvalidEvent(reason)
        return self.normalized(event)

    @staticmethod
    def normalized(event: dict) -> dict:
        """normalize() for an event already found valid."""
        return EventSchema.normalize_in_place(dict(event))

    @staticmethod
    def normalize_in_place(event: dict) -> dict:
        for field in _NULLABLE:
            if field in event and (event[field] is None or event[field] == ""):
                del event[field]
        if "country" in event:
            event["country"] = event["country"].upper()
        if "device" in event:
            event["device"] = event["device"].lower()
        for field in LOWER_CASED:
            if field in event:
                event[field] = ascii_lower(event[field])
        return event


UTM_TAGS = ("utm_source", "utm_medium", "utm_campaign")
UTM_MAX = 256  # the schema's maxLength of each tag


def tags_from_page(event: dict) -> dict:
    """Campaign tags a sender left in the page's query string (servers often forward the
    landing URL as it came; the snippet sends the tags as fields), for a valid, normalised
    event. Tags the event names itself win; a tag too long for the contract is cut to its
    maxLength, as the snippet cuts it."""
    page = event["page"]
    if "utm_" not in page or "?" not in page:
        return event
    query = parse_qs(page.split("?", 1)[1].split("#", 1)[0])
    for tag in UTM_TAGS:
        value = (query.get(tag) or [""])[0]
        if tag not in event and value:
            value = _cut_utf16(value, UTM_MAX)
            event[tag] = ascii_lower(value) if tag in LOWER_CASED else value
    return event


def _cut_utf16(s: str, limit: int) -> str:
    """The longest prefix of `s` within `limit` UTF-16 code units (a pair is never split)."""
    n = 0
    for i, c in enumerate(s):
        n += 2 if ord(c) > 0xFFFF else 1
        if n > limit:
            return s[:i]
    return s


@lru_cache(maxsize=1)
def default_schema() -> EventSchema:
    return EventSchema()
