"""Timing the chart-data API for every chart of every dashboard, the way the dashboards
ask for it: each chart's saved query (`query_context`, as Explore saves it) posted to
`/api/v1/chart/data` with `force` set, so Superset's cache never answers; or, with
`cached`, without it after one warm-up request has filled the shared cache (Redis), which
is what a viewer of an auto-refreshing dashboard gets from a result another viewer's
request put there."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from ..errors import ClickpulseError
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
    cache_hits: int = 0

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


def time_charts(settings: Settings, runs: int, warmup: int = 1, progress=None, cached: bool = False) -> list[ChartTiming]:
    with admin_session(settings) as sp:
        charts = dashboard_charts(sp)
        timings = [ChartTiming(d, name, cid) for d, cid, name, _ in charts]
        task = progress.add_task("time the chart-data API", total=len(charts) * (runs + warmup)) if progress else None
        for (_, _, _, qc), timing in zip(charts, timings):
            body = {**qc, "force": not cached, "result_format": "json", "result_type": "full"}
            for i in range(runs + warmup):
                t0 = time.perf_counter()
                res = sp.request("POST", "/api/v1/chart/data", json=body, ok=(200,))
                elapsed = (time.perf_counter() - t0) * 1000
                if i >= warmup:
                    result = res.json()["result"]
                    timing.samples_ms.append(elapsed)
                    timing.rows = sum(r.get("rowcount") or 0 for r in result)
                    timing.cache_hits += all(r.get("is_cached") for r in result)
                if task is not None:
                    progress.advance(task)
    return timings


def overall(timings: list[ChartTiming]) -> dict:
    samples = [s for t in timings for s in t.samples_ms]
    return {"p50": percentile(samples, 50), "p95": percentile(samples, 95), "max": max(samples, default=0.0),
            "requests": len(samples), "cache_hits": sum(t.cache_hits for t in timings)}


def table_rows(timings: list[ChartTiming]) -> list[dict]:
    return [{"dashboard": t.dashboard, "chart": t.chart, "rows": t.rows, "p50_ms": t.p50, "p95_ms": t.p95,
             "max_ms": t.max, "cache_hits": t.cache_hits} for t in timings]


def summary_row(timings: list[ChartTiming]) -> dict:
    total = overall(timings)
    return {"dashboard": "all charts", "chart": f"{total['requests']} requests", "rows": None,
            "p50_ms": total["p50"], "p95_ms": total["p95"], "max_ms": total["max"], "cache_hits": total["cache_hits"]}


def samples(timings: list[ChartTiming]) -> list[dict]:
    """Every timed request, for the report's JSON."""
    return [asdict(t) for t in timings]
