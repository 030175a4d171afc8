"""Recorded logs (CSV, TSV or JSON lines, optionally gzipped) as clickpulse events.

A column mapping names where each event field comes from, e.g. for the RetailRocket
dataset (timestamp,visitorid,event,itemid,transactionid):

    --map ts=timestamp,user_id=visitorid,event_type=event,page=/products/{itemid}
    --event-names view=page_view,addtocart=add_to_cart,transaction=purchase

A mapping value with `{column}` in it is a template. Fields not mapped are read from a
column of the same name when there is one; a CSV's other columns (and those only used in
templates) go to `properties`.
Rows are sent in file order, as recorded; only timestamps move (to now, by default).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import re
from pathlib import Path
from typing import Iterator

import orjson

from ..errors import ClickpulseError

FIELDS = ("event_id", "event_type", "site_id", "user_id", "session_id", "page", "referrer", "country", "device",
          "plan", "properties", "schema_version", "ts")
_TEMPLATE = re.compile(r"{([^{}]+)}")


def parse_mapping(spec: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in (spec or "").split(","))):
        field, sep, source = item.partition("=")
        field, source = field.strip(), source.strip()
        if not sep or not source:
            raise ClickpulseError(f"--map {item!r}: expected FIELD=COLUMN or FIELD=TEMPLATE, e.g. ts=timestamp")
        if field not in FIELDS:
            raise ClickpulseError(f"--map {item!r}: {field!r} is not an event field ({', '.join(FIELDS)})")
        out[field] = source
    return out


def parse_names(spec: str | None) -> dict[str, str]:
    out = {}
    for item in filter(None, (p.strip() for p in (spec or "").split(","))):
        old, sep, new = item.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ClickpulseError(f"--event-names {item!r}: expected OLD=NEW, e.g. view=page_view")
        out[old.strip()] = new.strip()
    return out


def parse_ts(value) -> int:
    """Epoch seconds, milliseconds or microseconds (told apart by size), or ISO 8601."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, (int, float)):
        x = float(value)
    else:
        text = str(value).strip()
        try:
            x = float(text)
        except ValueError:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.timezone.utc)
            return int(t.timestamp() * 1000)
    # 1e11 s is year 5138, 1e14 ms is year 5138: anything larger is a finer unit
    if abs(x) < 1e11:
        return int(x * 1000)
    if abs(x) < 1e14:
        return int(x)
    return int(x / 1000)


def _rows(path: Path) -> Iterator[tuple[int, dict, bool]]:
    """(line number, row, is_csv)."""
    name = path.name.lower()
    opener = gzip.open if name.endswith(".gz") else open
    base = name[:-3] if name.endswith(".gz") else name
    try:
        f = opener(path, "rt", encoding="utf-8", newline="")
    except OSError as e:
        raise ClickpulseError(f"cannot read the replay file {path}: {e}") from e
    with f:
        if base.endswith((".csv", ".tsv")):
            reader = csv.DictReader(f, delimiter="\t" if base.endswith(".tsv") else ",")
            if not reader.fieldnames:
                raise ClickpulseError(f"{path}: no header row")
            for i, row in enumerate(reader, start=2):
                yield i, row, True
        elif base.endswith((".jsonl", ".ndjson", ".json")):
            for i, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as e:
                    raise ClickpulseError(f"{path}:{i}: not a JSON object ({e})") from e
                if not isinstance(row, dict):
                    raise ClickpulseError(f"{path}:{i}: not a JSON object")
                yield i, row, False
        else:
            raise ClickpulseError(f"{path}: replay reads .csv, .tsv, .jsonl or .ndjson files (optionally .gz)")


def _value(row: dict, source: str, path: Path, line: int):
    if "{" in source:
        try:
            return _TEMPLATE.sub(lambda m: str(row[m.group(1)]), source)
        except KeyError as e:
            raise ClickpulseError(f"{path}:{line}: --map template {source!r} names column {e.args[0]!r}, "
                                  "which the row does not have") from e
    if source not in row:
        raise ClickpulseError(f"{path}:{line}: --map names column {source!r}, which the row does not have "
                              f"(columns: {', '.join(map(str, row))})")
    return row[source]


def records(path: Path, mapping: dict[str, str], names: dict[str, str], site: str | None,
            now_ms: int | None) -> Iterator[tuple[bytes | None, str, int]]:
    """(key, value, ts) per row. `now_ms`: shift every timestamp so the first row is then."""
    tag = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:6]
    shift = None
    for line, row, is_csv in _rows(path):
        ev: dict = {}
        used: set = set()
        for field in FIELDS:
            source = mapping.get(field, field if field in row else None)
            if source is None:
                continue
            value = _value(row, source, path, line)
            if "{" not in source:
                # a column a template reads stays in properties: the template may lose it
                used.add(source)
            if value is None or value == "":
                continue
            ev[field] = value
        if "ts" not in ev:
            raise ClickpulseError(f"{path}:{line}: no timestamp; map one with --map ts=COLUMN")
        try:
            ts = parse_ts(ev.pop("ts"))
        except (ValueError, OverflowError) as e:
            raise ClickpulseError(f"{path}:{line}: cannot read the timestamp: {e}") from e
        if shift is None:
            shift = 0 if now_ms is None else now_ms - ts
        ts += shift
        ev.setdefault("event_id", f"r{tag}-{line}")
        ev.setdefault("event_type", "page_view")
        ev.setdefault("site_id", site or "site-1")
        ev.setdefault("page", "/")
        if ev["event_type"] in names:
            ev["event_type"] = names[ev["event_type"]]
        for field in ("event_id", "user_id", "session_id"):
            if field in ev and not isinstance(ev[field], str):
                ev[field] = str(ev[field])
        if is_csv:
            if "schema_version" in ev and str(ev["schema_version"]).isdigit():
                ev["schema_version"] = int(ev["schema_version"])
            extra = {k: v for k, v in row.items() if k not in used and k is not None and v not in (None, "")}
            if extra:
                ev["properties"] = {**extra, **(ev["properties"] if isinstance(ev.get("properties"), dict) else {})}
        else:
            ev.update({k: v for k, v in row.items() if k not in used and k not in ev and k not in FIELDS})
        ev["ts"] = ts  # last: faults.restamp relies on it
        key = ev.get("user_id")
        yield (key.encode() if isinstance(key, str) else None), orjson.dumps(ev).decode(), ts



def chunked(rows, size: int = 1000):
    """The rows in lists of `size`, the shape sender.pump takes."""
    chunk: list = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
