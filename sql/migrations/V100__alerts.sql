-- Alert transitions (sql/alerts/*.yaml, evaluated in the events job; docs/design.md
-- *Alerts*): one row per alert, written when it fires and updated when it resolves
-- (JDBC upsert by alert_id, deterministic, so a restored job rewrites the same row).
CREATE TABLE alerts (
  alert_id      text PRIMARY KEY,
  rule          text NOT NULL,
  kind          text NOT NULL,
  severity      text NOT NULL,
  site_id       text NOT NULL,
  metric        text NOT NULL,
  state         text NOT NULL CHECK (state IN ('firing', 'resolved')),
  value         double precision,
  expected_low  double precision,
  expected_high double precision,
  window_start  timestamptz NOT NULL,
  window_end    timestamptz NOT NULL,
  fired_at      timestamptz NOT NULL,
  resolved_at   timestamptz,
  channels      text NOT NULL,      -- the rule's channel names as a JSON list: ["ops-webhook"]
  message       text NOT NULL
);
CREATE INDEX alerts_open ON alerts (site_id) WHERE state = 'firing';
CREATE INDEX alerts_fired_at ON alerts (fired_at DESC);
