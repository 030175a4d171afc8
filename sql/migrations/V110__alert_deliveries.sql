-- The notifier's record of what it delivered (`clickpulse alerts notify`, docs/design.md
-- "Alerts"): one row per alert transition and channel, written before the Kafka offset is
-- committed, so a replayed topic or a restarted notifier never delivers one twice.
CREATE TABLE alert_deliveries (
  alert_id     text NOT NULL,
  state        text NOT NULL,        -- firing | resolved
  channel      text NOT NULL,        -- a name of sql/alerts/channels.yaml
  status       text NOT NULL,        -- delivered | failed (every attempt failed)
  attempts     integer NOT NULL,
  detail       text NOT NULL,        -- where it went, or the last error
  delivered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (alert_id, state, channel)
);
