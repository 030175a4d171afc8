-- Retention (issue 13): daily and weekly cohorts per site (sql/metrics/retention_daily.sql,
-- sql/metrics/retention_weekly.sql). A row is a cohort (the day or ISO week of the users'
-- first event on the site) and an offset k: the cohort's users with an event in period
-- cohort + k; k = 0 is the cohort's size. Few rows (sites x cohorts x 31 or 13): plain
-- tables, kept until pruned.
CREATE TABLE retention_daily (
  cohort_start  timestamptz NOT NULL,
  site_id       text NOT NULL,
  period_offset integer NOT NULL,
  users         bigint NOT NULL,
  PRIMARY KEY (cohort_start, site_id, period_offset)
);
CREATE INDEX retention_daily_site ON retention_daily (site_id, cohort_start DESC);
-- kept until pruned, like the other cohort-grained tables; a hypertable on TimescaleDB
SELECT clickpulse_timeseries('retention_daily', 'cohort_start', chunk_interval => INTERVAL '30 days');

CREATE TABLE retention_weekly (
  cohort_start  timestamptz NOT NULL,
  site_id       text NOT NULL,
  period_offset integer NOT NULL,
  users         bigint NOT NULL,
  PRIMARY KEY (cohort_start, site_id, period_offset)
);
CREATE INDEX retention_weekly_site ON retention_weekly (site_id, cohort_start DESC);
SELECT clickpulse_timeseries('retention_weekly', 'cohort_start', chunk_interval => INTERVAL '30 days');
