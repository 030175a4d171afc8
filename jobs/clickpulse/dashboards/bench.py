"""Timing the chart-data API for every chart of every dashboard, the way the dashboards
ask for it: each chart's saved query (`query_context`, as Explore saves it) posted to
`/api/v1/chart/data` with `force` set, so Superset's cache never answers."""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ClickpulseError
from ..paths import ROOT
from ..settings import Settings
from . import assets
from .client import Superset, admin_session


@dataclass
class ChartTiming:
    dashboard: str
    chart: str
    chart_id: int
    samples_ms: list[float] = field(default_factory=list)
    rows: int = 0

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.samples_ms, 95)

    @property
    def max(self) -> float:
        return max(self.samples_ms) if self.samples_ms else 0.0


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a measured time)."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def dashboard_charts(sp: Superset) -> list[tuple[str, int, str, dict]]:
    """(dashboard title, chart id, chart name, query context) for every chart of every
    dashboard in superset/assets/dashboards/."""
    out = []
    for name, cfg in sorted(assets.read_assets().items()):
        if not name.startswith("dashboards/"):
            continue
        slug = cfg.get("slug") or cfg["uuid"]
        charts = sp.get(f"/api/v1/dashboard/{slug}/charts")["result"]
        for c in sorted(charts, key=lambda c: c["slice_name"]):
            detail = sp.get(f"/api/v1/chart/{c['id']}")["result"]
            if not detail.get("query_context"):
                raise ClickpulseError(f"chart {c['slice_name']!r} has no saved query: run `clickpulse dashboards "
                                      "sync` (the YAMLs in superset/assets/charts/ carry it)")
            out.append((cfg["dashboard_title"], c["id"], c["slice_name"], json.loads(detail["query_context"])))
    return out


def time_charts(settings: Settings, runs: int, warmup: int = 1, progress=None) -> list[ChartTiming]:
    with admin_session(settings) as sp:
        charts = dashboard_charts(sp)
        timings = [ChartTiming(d, name, cid) for d, cid, name, _ in charts]
        task = progress.add_task("time the chart-data API", total=len(charts) * (runs + warmup)) if progress else None
        for (_, _, _, qc), timing in zip(charts, timings):
            body = {**qc, "force": True, "result_format": "json", "result_type": "full"}
            for i in range(runs + warmup):
                t0 = time.perf_counter()
                res = sp.request("POST", "/api/v1/chart/data", json=body, ok=(200,))
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= warmup:
                    timing.samples_ms.append(elapsed)
                    timing.rows = sum(r.get("rowcount") or 0 for r in res.json()["result"])
                if task is not None:
                    progress.advance(task)
    return timings


def overall(timings: list[ChartTiming]) -> dict:
    samples = [s for t in timings for s in t.samples_ms]
    return {"p50": percentile(samples, 50), "p95": percentile(samples, 95), "max": max(samples, default=0.0),
            "requests": len(samples)}


def write_report(timings: list[ChartTiming], meta: dict, directory: Path | None = None) -> Path:
    directory = directory or ROOT / "reports"
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    total = overall(timings)
    lines = [
        "# clickpulse bench dashboards",
        "",
        f"- when: {meta['when']}",
        f"- command: `{meta['command']}`",
        f"- Superset: {meta['superset_url']}; database backend: {meta['backend']}",
        f"- bench data: {meta['days']} days, sites {', '.join(meta['sites'])}; rows: "
        + ", ".join(f"{t} {n:,}" for t, n in meta["rows"].items()),
        f"- each chart: {meta['runs']} timed requests after {meta['warmup']} warm-up, sequential, `force: true`",
        f"- budget: p95 < {meta['budget_ms']:.0f} ms",
        "",
        "| dashboard | chart | rows | p50 ms | p95 ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for t in timings:
        lines.append(f"| {t.dashboard} | {t.chart} | {t.rows} | {t.p50:.0f} | {t.p95:.0f} | {t.max:.0f} |")
    lines.append(f"| **all charts** | {total['requests']} requests | | **{total['p50']:.0f}** | "
                 f"**{total['p95']:.0f}** | **{total['max']:.0f}** |")
    md = directory / f"bench-dashboards-{stamp}.md"
    md.write_text("\n".join(lines) + "\n")
    (directory / f"bench-dashboards-{stamp}.json").write_text(json.dumps(
        {"meta": meta, "overall": total,
         "charts": [{**asdict(t), "p50": t.p50, "p95": t.p95, "max": t.max} for t in timings]}, indent=2))
    return md
