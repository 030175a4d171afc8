-- Acquisition (issue 13): campaign tags and the referrer's host kept with each raw event,
-- and sessions, users and conversions per hour of session start by channel, source and
-- campaign (sql/metrics/acquisition_1h.sql). Hourly like sessions_1h: kept until pruned.
ALTER TABLE events
  ADD COLUMN utm_source      text,
  ADD COLUMN utm_medium      text,
  ADD COLUMN utm_campaign    text,
  ADD COLUMN referrer_domain text;

CREATE TABLE acquisition_1h (
  hour_start  timestamptz NOT NULL,
  site_id     text NOT NULL,
  channel     text NOT NULL,
  source      text NOT NULL,
  campaign    text NOT NULL,
  sessions    bigint NOT NULL,
  users       bigint NOT NULL,
  conversions bigint NOT NULL,
  PRIMARY KEY (hour_start, site_id, channel, source, campaign)
);
CREATE INDEX acquisition_1h_site ON acquisition_1h (site_id, hour_start DESC);
SELECT clickpulse_timeseries('acquisition_1h', 'hour_start', chunk_interval => INTERVAL '7 days');
