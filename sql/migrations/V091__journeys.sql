-- Journeys (issue 13): landing and exit pages per hour of session start
-- (sql/metrics/entry_exit_pages_1h.sql) and page-to-page transitions per hour
-- (sql/metrics/page_transitions_1h.sql). Hourly like sessions_1h: kept until pruned.
CREATE TABLE entry_exit_pages_1h (
  hour_start timestamptz NOT NULL,
  site_id    text NOT NULL,
  page       text NOT NULL,
  entries    bigint NOT NULL,
  exits      bigint NOT NULL,
  PRIMARY KEY (hour_start, site_id, page)
);
CREATE INDEX entry_exit_pages_1h_site ON entry_exit_pages_1h (site_id, hour_start DESC);
SELECT clickpulse_timeseries('entry_exit_pages_1h', 'hour_start', chunk_interval => INTERVAL '7 days');

CREATE TABLE page_transitions_1h (
  hour_start  timestamptz NOT NULL,
  site_id     text NOT NULL,
  from_page   text NOT NULL,
  to_page     text NOT NULL,
  transitions bigint NOT NULL,
  users       bigint NOT NULL,
  PRIMARY KEY (hour_start, site_id, from_page, to_page)
);
CREATE INDEX page_transitions_1h_site ON page_transitions_1h (site_id, hour_start DESC);
SELECT clickpulse_timeseries('page_transitions_1h', 'hour_start', chunk_interval => INTERVAL '7 days');
