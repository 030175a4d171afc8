-- Plain PostgreSQL: rollups of events by site and event type only, per hour and per day,
-- for the charts that are not broken down or filtered by country, device or plan (the
-- Trends dashboard's event charts when no segment filter is set). With real traffic's
-- segment cardinality the full hourly/daily rollups (V050) hold ~10^3 rows per site and
-- bucket; these hold one per event type, so a 90-day chart reads a few thousand rows.
-- Kept exact by the same statement-level triggers on events_per_minute (replaced below so
-- that each statement updates all four rollups, in the same key order). TimescaleDB:
-- continuous aggregates with the same names and columns (V051 .timescale.sql).

-- Writers wait until this migration commits, so the backfill and the new trigger
-- functions see every row exactly once.
LOCK TABLE events_per_minute IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE clickpulse_events_hourly_by_type (
  bucket     timestamptz NOT NULL,
  site_id    text NOT NULL,
  event_type text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, site_id, event_type)
);
CREATE INDEX clickpulse_events_hourly_by_type_site ON clickpulse_events_hourly_by_type (site_id, bucket DESC);

CREATE TABLE clickpulse_events_daily_by_type (
  bucket     timestamptz NOT NULL,
  site_id    text NOT NULL,
  event_type text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, site_id, event_type)
);
CREATE INDEX clickpulse_events_daily_by_type_site ON clickpulse_events_daily_by_type (site_id, bucket DESC);

INSERT INTO clickpulse_events_hourly_by_type (bucket, site_id, event_type, events)
SELECT bucket, site_id, event_type, sum(events) FROM clickpulse_events_hourly GROUP BY 1, 2, 3;
INSERT INTO clickpulse_events_daily_by_type (bucket, site_id, event_type, events)
SELECT bucket, site_id, event_type, sum(events) FROM clickpulse_events_daily GROUP BY 1, 2, 3;

CREATE OR REPLACE FUNCTION clickpulse_events_rollup_insert() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows)
  INSERT INTO clickpulse_events_hourly AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows)
  INSERT INTO clickpulse_events_daily AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows)
  INSERT INTO clickpulse_events_hourly_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows)
  INSERT INTO clickpulse_events_daily_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION clickpulse_events_rollup_update() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows
                 UNION ALL SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_hourly AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows
                 UNION ALL SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_daily AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows
                 UNION ALL SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_hourly_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, events AS events FROM new_rows
                 UNION ALL SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_daily_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  DELETE FROM clickpulse_events_hourly r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_daily r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_hourly_by_type r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type;
  DELETE FROM clickpulse_events_daily_by_type r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION clickpulse_events_rollup_delete() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_hourly AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_daily AS r (bucket, site_id, event_type, country, device, plan, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events) FROM delta
  GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
  ON CONFLICT (bucket, site_id, event_type, country, device, plan) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_hourly_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  WITH delta AS (SELECT window_start, site_id, event_type, country, device, plan, -events AS events FROM old_rows)
  INSERT INTO clickpulse_events_daily_by_type AS r (bucket, site_id, event_type, events)
  SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, sum(events) FROM delta
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (bucket, site_id, event_type) DO UPDATE SET events = r.events + EXCLUDED.events;
  DELETE FROM clickpulse_events_hourly r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_daily r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_hourly_by_type r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type;
  DELETE FROM clickpulse_events_daily_by_type r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id AND r.event_type = o.event_type;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION clickpulse_events_rollup_truncate() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  TRUNCATE clickpulse_events_hourly, clickpulse_events_daily, clickpulse_events_hourly_by_type,
           clickpulse_events_daily_by_type;
  RETURN NULL;
END;
$$;

CREATE VIEW events_per_hour_by_type AS
SELECT bucket, site_id, event_type, events FROM clickpulse_events_hourly_by_type;

CREATE VIEW events_per_day_by_type AS
SELECT bucket, site_id, event_type, events FROM clickpulse_events_daily_by_type;
