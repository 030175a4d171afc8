"""Alert records as the evaluator writes them (docs/design.md, "Alerts"), for the tests of
what consumes them (the notifier, the Live page's banner), independent of the evaluator."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from clickpulse.stack import postgres

UTC = dt.timezone.utc
COLUMNS = ("alert_id", "rule", "kind", "severity", "site_id", "metric", "state", "value", "expected_low",
           "expected_high", "window_start", "window_end", "fired_at", "resolved_at", "channels", "message")


def alert(rule: str, site_id: str, minute: dt.datetime, state: str = "firing", **fields) -> dict:
    """An alert transition as the evaluator writes it (docs/design.md, "Alerts")."""
    alert_id = hashlib.sha256(f"{rule}|{site_id}|{minute.isoformat()}".encode()).hexdigest()
    record = {
        "alert_id": alert_id, "rule": rule, "kind": "threshold", "severity": "critical", "site_id": site_id,
        "metric": "purchases_per_minute", "state": state, "value": 0.0, "expected_low": 1.0, "expected_high": None,
        "window_start": minute.isoformat(), "window_end": (minute + dt.timedelta(minutes=1)).isoformat(),
        "fired_at": (minute + dt.timedelta(minutes=1)).isoformat(), "resolved_at": None,
        "channels": ["ops-webhook", "ops-email"], "message": f"purchases per minute 0 < 1 on {site_id}",
    }
    if state == "resolved":
        record.update(value=4.0, resolved_at=(minute + dt.timedelta(minutes=5)).isoformat(),
                      message=f"purchases per minute back to 4 on {site_id}")
    record.update(fields)
    return record


def write_alert(settings, record: dict) -> None:
    """The row the evaluator's sink upserts into `alerts`, as the writer role."""
    values = [dt.datetime.fromisoformat(record[c]) if c in ("window_start", "window_end", "fired_at", "resolved_at")
              and record[c] else record[c] for c in COLUMNS]
    # the evaluator's JDBC sink writes the channel names as the text of a JSON list
    values[COLUMNS.index("channels")] = json.dumps(record["channels"])
    with postgres.connect(settings, "writer", autocommit=True) as c:
        c.execute(f"INSERT INTO alerts ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
                  "ON CONFLICT (alert_id) DO UPDATE SET " + ", ".join(f"{col} = excluded.{col}" for col in COLUMNS[1:]),
                  values)


def remove_alerts(settings, *alert_ids: str) -> None:
    with postgres.connect(settings, "admin", autocommit=True) as c:
        c.execute("DELETE FROM alerts WHERE alert_id = ANY(%s)", (list(alert_ids),))
