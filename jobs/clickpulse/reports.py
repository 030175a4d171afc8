"""Benchmark reports, one writer for every `clickpulse bench` command:
reports/bench-<name>-<stamp>.md (how it was run, the figures as a table, the plots as PNG
files beside it) and reports/bench-<name>-<stamp>.json (the same figures, and details)."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from .paths import ROOT

if TYPE_CHECKING:  # annotations only; see new_figure for the import itself
    from matplotlib.figure import Figure

REPORTS_DIR = ROOT / "reports"


@dataclass
class Plot:
    """A matplotlib figure for a report, saved as PNG and shown under its caption."""

    caption: str
    figure: Figure


def new_figure(width: float = 7.0, height: float = 3.5) -> Figure:
    """A figure to draw a report's plot on (no pyplot: no global state, no display needed)."""
    # lazy: matplotlib takes ~0.4 s to import, which every CLI command would pay; only bench reports draw
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def run_info(**more: Any) -> dict:
    """How a benchmark was run: when, the command, the commit, the machine and its load."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": "clickpulse " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "commit": commit.stdout.strip() or None,
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "load_before": round(os.getloadavg()[0], 2),
        **more,
    }


def cell(value: Any) -> str:
    """A figure as the report's tables show it: thousands separated, three significant digits below 100."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    if value is None:
        return ""
    return str(value)


def _meta_line(key: str, value: Any) -> str:
    if key == "command":
        return f"- {key}: `{value}`"
    if isinstance(value, dict):
        value = ", ".join(f"{k} {cell(v)}" for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        value = ", ".join(map(cell, value))
    return f"- {key.replace('_', ' ')}: {cell(value)}"


def _table(rows: list[dict], summary: dict | None) -> list[str]:
    columns = list(rows[0]) if rows else list(summary or {})
    if not columns:
        return []
    lines = ["| " + " | ".join(c.replace("_", " ") for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    if summary:
        lines.append("| " + " | ".join(f"**{cell(summary[c])}**" if summary.get(c) not in (None, "") else ""
                                       for c in columns) + " |")
    return lines


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "plot"


def write_report(name: str, title: str, rows: list[dict], *, meta: dict, notes: Sequence[str] = (),
                 summary: dict | None = None, plots: Sequence[Plot] = (), details: dict | None = None,
                 sections: dict[str, list[dict]] | None = None, directory: Path | None = None) -> Path:
    """Write bench-NAME-STAMP.md and .json (and one PNG per plot) to DIRECTORY (default
    reports/). ROWS share their keys, the table's columns; SUMMARY is a bold last row;
    DETAILS go to the JSON only (raw samples); SECTIONS are more tables under a heading each.
    Returns the .md file."""
    directory = directory or REPORTS_DIR
    directory.mkdir(parents=True, exist_ok=True)
    base = f"bench-{name}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%SZ}"
    pngs = []
    for i, plot in enumerate(plots, 1):
        png = directory / f"{base}-{i}-{_slug(plot.caption)}.png"
        plot.figure.savefig(png, format="png", dpi=110)
        pngs.append((plot.caption, png.name))
    lines = [f"# clickpulse bench {name}: {title}", ""]
    lines += [_meta_line(k, v) for k, v in meta.items()]
    lines += [f"- {n}" for n in notes]
    lines += ["", *_table(rows, summary)]
    for heading, table in (sections or {}).items():
        lines += ["", f"## {heading}", "", *_table(table, None)]
    for caption, png in pngs:
        lines += ["", f"![{caption}]({png})", "", f"*{caption}*"]
    md = directory / f"{base}.md"
    md.write_text("\n".join(lines) + "\n")
    record = {"name": name, "title": title, "meta": meta, "notes": list(notes), "results": rows,
              "summary": summary, "plots": [{"caption": c, "file": p} for c, p in pngs], "details": details or {}}
    (directory / f"{base}.json").write_text(json.dumps(record, indent=2, default=str))
    return md
