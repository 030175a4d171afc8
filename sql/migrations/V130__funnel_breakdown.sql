-- Funnels, deeper (issue 13): users per funnel step by country, device and plan, with the
-- exact median and 90th percentile of their time to convert (sql/metrics/funnel_breakdown.sql).
-- Dimension/segment rows rather than country/device/plan columns: a breakdown looks at one
-- dimension at a time, and one row per segment value (about 1 + countries + devices + plans
-- per step and hour) stays far smaller than every combination; 'all' rows are the site.
-- Hourly like funnel_conversions: kept until pruned.
CREATE TABLE funnel_breakdown (
  hour_start timestamptz NOT NULL,
  site_id    text NOT NULL,
  funnel     text NOT NULL,
  step       integer NOT NULL,
  dimension  text NOT NULL,
  segment    text NOT NULL,
  step_name  text NOT NULL,
  users      bigint NOT NULL,
  median_s   double precision,
  p90_s      double precision,
  PRIMARY KEY (hour_start, site_id, funnel, step, dimension, segment)
);
CREATE INDEX funnel_breakdown_site ON funnel_breakdown (site_id, dimension, hour_start DESC);
SELECT clickpulse_timeseries('funnel_breakdown', 'hour_start', chunk_interval => INTERVAL '7 days');
