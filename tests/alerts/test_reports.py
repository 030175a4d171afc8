"""Superset's Alerts & Reports on the local stack: the weekly Trends report that `clickpulse
dashboards sync` provisions, run now (its schedule set to every minute) by the stack's Celery
beat and worker, arrives on a real SMTP server (aiosmtpd) as an e-mail with a PNG of the
dashboard, rendered by Playwright in Debian's Chromium; the PNG is not blank."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import time

import httpx

import pytest
from PIL import Image

from clickpulse.dashboards.client import admin_session
from clickpulse.dashboards.reports import TRENDS_REPORT, ensure_trends_report
from clickpulse.stack import postgres, procs, services, supervisor
from clickpulse.stack import superset as superset_stack
from clickpulse.stack.secrets import ensure_secrets
from conftest import ROOT, run_cli

pytestmark = pytest.mark.integration

DAYS = 14
RECIPIENT = "trends@example.com"


@pytest.fixture
def trends_rows(superset, site_id):
    """Daily users of a test site for the last two weeks, so the Trends charts draw lines."""
    today = dt.date.today()
    rows = [(today - dt.timedelta(days=d), site_id, country, 100 + (37 * d) % 90 - (0 if country == "all" else 40))
            for d in range(DAYS) for country in ("all", "DE")]
    with postgres.connect(superset, "admin", autocommit=True) as c:
        c.cursor().executemany("INSERT INTO active_users_daily VALUES (%s, %s, %s, 'all', 'all', %s, now())", rows)
    yield rows
    with postgres.connect(superset, "admin", autocommit=True) as c:
        c.execute("DELETE FROM active_users_daily WHERE site_id = %s", (site_id,))


@pytest.fixture
def worker_mailing_to_the_test(superset, smtp_server, monkeypatch):
    """The stack's Celery worker restarted with the SMTP server of the test (SMTP_HOST,
    SMTP_PORT), and restarted with the stack's settings at the end."""
    port, mailbox = smtp_server
    services.stop(superset_stack.WORKER)
    for name, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", str(port)), ("SMTP_STARTTLS", "false"),
                        ("SMTP_SSL", "false")):
        monkeypatch.setenv(name, value)
    superset_stack.start_worker(ensure_secrets())
    yield mailbox
    procs.stop(superset_stack.WORKER)
    monkeypatch.undo()
    superset_stack.start_worker(ensure_secrets())
    supervisor.want(superset_stack.WORKER)


@pytest.fixture
def every_minute(superset):
    """The Trends report provisioned by `dashboards sync`, due every minute; at the end the
    report is put back as the stack's own settings say, by the step of the sync that
    provisions it (a whole second sync re-imports every asset for nothing)."""
    run_cli("dashboards", "sync", env={**os.environ, "CLICKPULSE_REPORT_EMAIL_TO": RECIPIENT,
                                       "CLICKPULSE_REPORT_CRONTAB": "* * * * *"})
    yield
    with admin_session(superset) as sp:
        ensure_trends_report(sp, ensure_secrets())


def test_alerts_and_reports_is_on(superset):
    """Signed in through the login form as a person is, the lists of alerts and reports open."""
    with httpx.Client(base_url=superset.superset_url, timeout=30) as web:
        form = web.get("/login/").text
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        signed_in = web.post("/login/", data={"username": superset.superset_admin_user, "csrf_token": csrf,
                                              "password": superset.superset_admin_password})
        assert signed_in.status_code == 302 and "/login/" not in signed_in.headers["location"]
        for page in ("/alert/list/", "/report/list/"):
            assert web.get(page).status_code == 200, page


def test_the_trends_report_arrives_by_email_with_a_png_that_is_not_blank(
        superset, trends_rows, worker_mailing_to_the_test, every_minute):
    screenshots = ROOT / "reports" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    mailbox = worker_mailing_to_the_test
    deadline = time.monotonic() + 300     # beat starts due reports once a minute; a screenshot takes ~20 s
    while not mailbox.messages:
        assert time.monotonic() < deadline, "no report e-mail within 5 minutes: see .clickpulse/logs/superset-worker.log"
        time.sleep(1)

    message = mailbox.messages[0]
    assert mailbox.envelopes[0] == [RECIPIENT]
    assert message["Subject"] == "[clickpulse] Trends: the week"
    pngs = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert len(pngs) == 1
    png = pngs[0].get_payload(decode=True)
    (screenshots / "trends-report.png").write_bytes(png)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.width >= 1600                     # custom_width of the report
    colours = image.getcolors(maxcolors=1 << 24)
    # a blank (or one-colour error) page has a handful of colours; charts, text and lines
    # antialiased on white have hundreds, and no colour covers (nearly) everything
    assert len(colours) > 200
    assert max(n for n, _ in colours) < 0.95 * image.width * image.height
    # the test site's daily users are drawn: coloured (saturated) bars and lines, where the
    # page around them is white and grey
    drawn = sum(n for n, (r, g, b) in colours if max(r, g, b) - min(r, g, b) > 80)
    assert drawn > 10_000

    with admin_session(superset) as sp:
        report = sp.list("report", filters=[{"col": "name", "opr": "eq", "value": TRENDS_REPORT}])[0]
        logs = sp.get(f"/api/v1/report/{report['id']}/log/")["result"]
        assert "Success" in {log["state"] for log in logs}
