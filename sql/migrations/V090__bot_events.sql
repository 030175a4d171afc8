-- Bot traffic (sql/metrics/bot_events.sql): events the collector marked as a bot's, by
-- site, minute of event time and reason. Kept out of every user metric (events_clean),
-- counted only here; as long as the minute-level tables.
CREATE TABLE bot_events (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  reason       text NOT NULL,
  events       bigint NOT NULL,
  PRIMARY KEY (window_start, site_id, reason)
);
SELECT clickpulse_timeseries('bot_events', 'window_start', INTERVAL '90 days');
