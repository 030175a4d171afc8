"""Keeping chart YAMLs complete after editing them: the `query_context` of each chart.

Superset stores, next to a chart's params, the query its frontend builds from them (the
`query_context`, saved whenever a chart is saved in Explore). The chart-data API
(`GET /api/v1/chart/<id>/data/`), reports, alerts and `clickpulse bench dashboards` run a
chart from it without a browser. A hand-edited YAML has none, so this module opens each
chart in Explore in headless Chromium, records the query the frontend sends, and writes it
into the chart's YAML, exactly as "Save" in Explore would have.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import yaml

from ..errors import ClickpulseError
from ..settings import Settings
from .assets import ASSETS_DIR, dump_yaml
from .client import admin_session

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]
KEEP = ("datasource", "force", "queries", "form_data", "result_format", "result_type")


def launch_chromium(playwright, settings: Settings):
    """Debian's Chromium (CLICKPULSE_CHROMIUM), headless, with the flags every caller needs."""
    path = settings.chromium_path
    if not (shutil.which(path) or Path(path).exists()):
        raise ClickpulseError(f"{path} not found: apt-get install chromium (or set CLICKPULSE_CHROMIUM)")
    return playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)


def _explore_query(page, url: str, chart_id: int, path: Path) -> dict:
    """The chart-data request Explore sends when it opens the chart (one retry: the first
    page of a fresh browser occasionally never fires it). Only a request that names this
    chart counts: the previous chart's page may still be sending its own."""
    # lazy: Playwright is an optional dependency (the test extra); only this command uses it
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    def for_this_chart(r) -> bool:
        if r.method != "POST" or "/api/v1/chart/data" not in r.url:
            return False
        form_data = parse_qs(urlparse(r.url).query).get("form_data", ["{}"])[0]
        try:
            return json.loads(form_data).get("slice_id") == chart_id
        except json.JSONDecodeError:
            return False

    for attempt in (1, 2):
        try:
            with page.expect_request(for_this_chart, timeout=45_000) as req:
                page.goto(url)
            return req.value.post_data_json
        except PlaywrightTimeout:
            if attempt == 2:
                raise ClickpulseError(f"{path.name}: Explore did not query the chart at {url} (does it open "
                                      "without errors in a browser?)") from None
    raise AssertionError("unreachable")


def capture_query_contexts(settings: Settings, directory: Path | None = None, progress=None) -> list[str]:
    """Record the query_context of every chart YAML from the Superset at SUPERSET_URL (the
    charts must have been synced). Returns the files that changed."""
    try:  # lazy: Playwright is an optional dependency (the test extra)
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ClickpulseError("playwright is not installed: pip install -e '.[test]'") from None

    directory = directory or ASSETS_DIR
    files = sorted((directory / "charts").glob("*.yaml"))
    with admin_session(settings) as sp:
        ids = {str(c["uuid"]): c["id"] for c in sp.list("chart", columns=["id", "uuid"])}
    changed = []
    task = progress.add_task("record chart queries", total=len(files)) if progress else None
    with sync_playwright() as p:
        browser = launch_chromium(p, settings)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(settings.superset_url.rstrip("/") + "/login/")  # the browser's own session
        page.fill("#username", settings.superset_admin_user)
        page.fill("#password", settings.superset_admin_password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/superset/welcome/**", timeout=60_000)
        for path in files:
            cfg = yaml.safe_load(path.read_text())
            chart_id = ids.get(str(cfg["uuid"]))
            if chart_id is None:
                raise ClickpulseError(f"{path.name}: chart {cfg['slice_name']!r} is not in Superset; run "
                                      "`clickpulse dashboards sync` first")
            body = _explore_query(page, f"{settings.superset_url.rstrip('/')}/explore/?slice_id={chart_id}",
                                  chart_id, path)
            if body.get("form_data", {}).get("viz_type") != cfg["viz_type"]:
                raise ClickpulseError(f"{path.name}: Explore sent a {body.get('form_data', {}).get('viz_type')} "
                                      f"query for a {cfg['viz_type']} chart; nothing written")
            qc = {k: body[k] for k in KEEP if k in body}
            # ids of this install: the importer sets the datasource from dataset_uuid and
            # ignores the rest, so leave them out and the YAML is the same on every install
            qc["datasource"] = {"id": 0, "type": "table"}
            for fd in [qc.get("form_data") or {}] + [q for q in qc.get("queries", [])]:
                for key in ("slice_id", "dashboards", "url_params", "datasource"):
                    fd.pop(key, None)
            qc["force"] = False
            qc["result_format"], qc["result_type"] = "json", "full"
            text = json.dumps(qc, sort_keys=True)
            if cfg.get("query_context") != text:
                cfg["query_context"] = text
                path.write_text(dump_yaml(cfg))
                changed.append(path.name)
            if task is not None:
                progress.advance(task)
        browser.close()
    return changed
