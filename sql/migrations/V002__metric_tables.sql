-- One table per metric file in sql/metrics/ (same name). Primary keys are the upsert keys
-- of the Flink JDBC sinks: a job restarted from a checkpoint rewrites the same rows, so
-- nothing is counted twice. Segment columns are never NULL ('unknown' when the event had
-- no value; 'all' on rolled-up rows of GROUPING SETS metrics). Times are UTC.
--
-- clickpulse_timeseries(table, time column, retention, chunk interval) (V001): hypertable,
-- compression after 7 days and a retention policy on TimescaleDB; on plain PostgreSQL the
-- retention is applied by `clickpulse db prune`. Raw and minute-level tables keep 90 days;
-- hourly and daily tables keep everything (bigger chunks: few rows per day).

CREATE TABLE events_per_minute (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  event_type   text NOT NULL,
  country      text NOT NULL,
  device       text NOT NULL,
  plan         text NOT NULL,
  events       bigint NOT NULL,
  PRIMARY KEY (window_start, site_id, event_type, country, device, plan)
);
CREATE INDEX events_per_minute_site ON events_per_minute (site_id, window_start DESC);
SELECT clickpulse_timeseries('events_per_minute', 'window_start', INTERVAL '90 days');

CREATE TABLE active_users_1m (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  country      text NOT NULL,
  device       text NOT NULL,
  plan         text NOT NULL,
  users        bigint NOT NULL,
  PRIMARY KEY (window_start, site_id, country, device, plan)
);
CREATE INDEX active_users_1m_site ON active_users_1m (site_id, window_start DESC);
SELECT clickpulse_timeseries('active_users_1m', 'window_start', INTERVAL '90 days');

CREATE TABLE active_users_live (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  users        bigint NOT NULL,
  PRIMARY KEY (window_end, site_id)
);
CREATE INDEX active_users_live_site ON active_users_live (site_id, window_end DESC);
SELECT clickpulse_timeseries('active_users_live', 'window_end', INTERVAL '90 days');

CREATE TABLE active_users_daily (
  day             date NOT NULL,
  site_id         text NOT NULL,
  country         text NOT NULL,
  device          text NOT NULL,
  plan            text NOT NULL,
  users           bigint NOT NULL,
  updated_through timestamptz NOT NULL,
  PRIMARY KEY (day, site_id, country, device, plan)
);
CREATE INDEX active_users_daily_site ON active_users_daily (site_id, day DESC);
SELECT clickpulse_timeseries('active_users_daily', 'day', chunk_interval => INTERVAL '30 days');

CREATE TABLE top_pages_1m (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  page         text NOT NULL,
  views        bigint NOT NULL,
  unique_users bigint NOT NULL,
  rank         integer NOT NULL,
  PRIMARY KEY (window_start, site_id, page)
);
CREATE INDEX top_pages_1m_site ON top_pages_1m (site_id, window_start DESC);
SELECT clickpulse_timeseries('top_pages_1m', 'window_start', INTERVAL '90 days');

CREATE TABLE top_pages_1h (
  window_start timestamptz NOT NULL,
  window_end   timestamptz NOT NULL,
  site_id      text NOT NULL,
  page         text NOT NULL,
  views        bigint NOT NULL,
  unique_users bigint NOT NULL,
  rank         integer NOT NULL,
  PRIMARY KEY (window_start, site_id, page)
);
CREATE INDEX top_pages_1h_site ON top_pages_1h (site_id, window_start DESC);
SELECT clickpulse_timeseries('top_pages_1h', 'window_start', chunk_interval => INTERVAL '7 days');

CREATE TABLE sessions_1h (
  hour_start        timestamptz NOT NULL,
  site_id           text NOT NULL,
  sessions          bigint NOT NULL,
  bounces           bigint NOT NULL,
  bounce_rate       double precision NOT NULL,
  total_duration_s  double precision NOT NULL,
  avg_duration_s    double precision NOT NULL,
  pageviews         bigint NOT NULL,
  pages_per_session double precision NOT NULL,
  PRIMARY KEY (hour_start, site_id)
);
CREATE INDEX sessions_1h_site ON sessions_1h (site_id, hour_start DESC);
SELECT clickpulse_timeseries('sessions_1h', 'hour_start', chunk_interval => INTERVAL '7 days');

CREATE TABLE funnel_conversions (
  hour_start timestamptz NOT NULL,
  site_id    text NOT NULL,
  funnel     text NOT NULL,
  step       integer NOT NULL,
  step_name  text NOT NULL,
  users      bigint NOT NULL,
  PRIMARY KEY (hour_start, site_id, funnel, step)
);
CREATE INDEX funnel_conversions_site ON funnel_conversions (site_id, hour_start DESC);
SELECT clickpulse_timeseries('funnel_conversions', 'hour_start', chunk_interval => INTERVAL '7 days');

-- The raw, validated, deduplicated events for analysts' ad-hoc SQL (CLICKPULSE_RAW_EVENTS).
CREATE TABLE events (
  event_time     timestamptz NOT NULL,
  event_id       text NOT NULL,
  event_type     text NOT NULL,
  site_id        text NOT NULL,
  user_id        text NOT NULL,
  session_id     text,
  page           text NOT NULL,
  referrer       text,
  country        text NOT NULL,
  device         text NOT NULL,
  plan           text NOT NULL,
  properties     jsonb,
  schema_version integer NOT NULL,
  PRIMARY KEY (event_time, event_id)
);
CREATE INDEX events_site ON events (site_id, event_time DESC);
SELECT clickpulse_timeseries('events', 'event_time', INTERVAL '90 days');

-- Pipeline health: events behind the watermark (per minute of arrival) and malformed
-- records (per minute of arrival and reason; their payloads are on the dead-letter topic).
CREATE TABLE late_events (
  minute  timestamptz NOT NULL,
  site_id text NOT NULL,
  events  bigint NOT NULL,
  PRIMARY KEY (minute, site_id)
);
SELECT clickpulse_timeseries('late_events', 'minute', INTERVAL '90 days', INTERVAL '7 days');

CREATE TABLE invalid_events (
  minute  timestamptz NOT NULL,
  site_id text NOT NULL,
  reason  text NOT NULL,
  events  bigint NOT NULL,
  PRIMARY KEY (minute, site_id, reason)
);
SELECT clickpulse_timeseries('invalid_events', 'minute', INTERVAL '90 days', INTERVAL '7 days');
