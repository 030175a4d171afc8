"""A verification, printed and written: reports/verify-<stamp>.md and .json."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ..paths import ROOT
from . import Verification
from .compare import TableResult


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _plain(v):
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def examples(r: TableResult, n: int) -> dict:
    return {"missing": [_plain(row) for row in r.missing[:n]],
            "different": [{"key": _plain(k), "columns": {c: {"expected": _plain(e), "actual": _plain(a)}
                                                         for c, (e, a) in cols.items()}}
                          for k, cols in r.different[:n]],
            "extra": [_plain(row) for row in r.extra[:n]]}


def summary(v: Verification, n: int) -> dict:
    return {
        "range": {"from": iso(v.from_ms), "to": iso(v.to_ms)},
        "sites": v.sites,
        "topic": v.read.topic,
        "database": v.database,
        "read": {"from_kafka_time": iso(v.plan.start_ms), "event_time_horizon": iso(v.plan.event_horizon_ms),
                 "records": v.read.record_count(),
                 "partitions": [{"partition": p.partition, "start_offset": p.start_offset,
                                 "next_offset": p.next_offset, "end_offset": p.end_offset,
                                 "newest_before": iso(p.lead_in_newest), "newest": iso(p.newest)}
                                for p in v.read.partitions]},
        "watermark": iso(v.closing.watermark),
        "arrivals_complete_through": iso(v.closing.arrival_complete_ms),
        "tables": {r.table: {"equal": r.equal, "missing": len(r.missing), "different": len(r.different),
                             "extra": len(r.extra), "open": r.open, "error": r.error, "examples": examples(r, n)}
                   for r in v.results},
        "notes": v.notes,
        "ok": not v.failed,
    }


def print_result(v: Verification, n: int, console: Console) -> None:
    t = Table(title=f"{v.read.topic} vs {v.database}, windows inside {iso(v.from_ms)} .. {iso(v.to_ms)}")
    for col in ("table", "equal", "missing", "different", "extra", "open"):
        t.add_column(col, justify="left" if col == "table" else "right")
    for r in v.results:
        if r.error:
            t.add_row(r.table, f"[red]{r.error}[/]", "", "", "", "")
            continue
        mark = (lambda x: f"[red]{x:,}[/]" if x else "0")
        t.add_row(r.table, f"{r.equal:,}", mark(len(r.missing)), mark(len(r.different)), mark(len(r.extra)),
                  f"{r.open:,}")
    console.print(t)
    console.print(f"watermark {iso(v.closing.watermark)} (closed windows end by then); "
                  f"{v.read.record_count():,} records read from {iso(v.plan.start_ms)} (Kafka time)")
    for r in v.results:
        ex = examples(r, n)
        for kind in ("missing", "different", "extra"):
            for item in ex[kind]:
                console.print(f"  {r.table} {kind}: {json.dumps(item, default=str)}", soft_wrap=True)
    for note in v.notes:
        console.print(f"note: {note}", soft_wrap=True)


def write(v: Verification, n: int, command: str, directory: Path | None = None) -> Path:
    directory = directory or ROOT / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    data = {"command": command, "when": stamp, **summary(v, n)}
    (directory / f"verify-{stamp}.json").write_text(json.dumps(data, indent=2, default=str))
    md = directory / f"verify-{stamp}.md"
    md.write_text(_markdown(data))
    return md


def _markdown(d: dict) -> str:
    lines = [f"# clickpulse verify — {d['when']}", "", f"- command: `{d['command']}`",
             f"- range (windows wholly inside): {d['range']['from']} .. {d['range']['to']}",
             f"- sites: {', '.join(d['sites']) if d['sites'] else 'all'}",
             f"- topic {d['topic']}: {d['read']['records']:,} records read from Kafka time "
             f"{d['read']['from_kafka_time']}",
             f"- database: {d['database']}",
             f"- watermark: {d['watermark']}; arrivals complete through {d['arrivals_complete_through']}",
             f"- result: {'no difference in closed windows' if d['ok'] else '**differences in closed windows**'}",
             "", "| table | equal | missing | different | extra | open |", "|---|---:|---:|---:|---:|---:|"]
    for name, r in d["tables"].items():
        if r["error"]:
            lines.append(f"| {name} | {r['error']} | | | | |")
        else:
            lines.append(f"| {name} | {r['equal']:,} | {r['missing']:,} | {r['different']:,} | {r['extra']:,} "
                         f"| {r['open']:,} |")
    for name, r in d["tables"].items():
        for kind, items in r["examples"].items():
            if items:
                lines += ["", f"## {name}: {kind}", ""] + [f"- `{json.dumps(i, default=str)}`" for i in items]
    if d["notes"]:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in d["notes"]]
    return "\n".join(lines) + "\n"
