-- Plain PostgreSQL: events_per_hour and events_per_day stay views with the same names,
-- columns and results, but they now read tables that statement-level triggers on
-- events_per_minute keep up to date, instead of summing every minute row on each read.
-- 90 days of minute rows is ~10^7 rows (seconds per Trends chart); the daily table holds
-- ~10^5 rows for the same period (milliseconds). TimescaleDB does the same with its
-- continuous aggregates (V003__rollups.timescale.sql), so its V050 variant is empty.
--
-- Exactness: every insert, update and delete on events_per_minute applies its delta
-- (new events - old events) to the hour and the day of the row, so each view always
-- equals the sum of the minute rows that exist, including after `db prune` or a test's
-- cleanup. Buckets are UTC whatever the session's time zone. Deltas are applied in key
-- order, so two sink writers touching the same hour never deadlock.
-- Only additive counts are rolled up: distinct counts are never summed.

CREATE TABLE clickpulse_events_hourly (
  bucket     timestamptz NOT NULL,
  site_id    text NOT NULL,
  event_type text NOT NULL,
  country    text NOT NULL,
  device     text NOT NULL,
  plan       text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, site_id, event_type, country, device, plan)
);
CREATE INDEX clickpulse_events_hourly_site ON clickpulse_events_hourly (site_id, bucket DESC);

CREATE TABLE clickpulse_events_daily (
  bucket     timestamptz NOT NULL,
  site_id    text NOT NULL,
  event_type text NOT NULL,
  country    text NOT NULL,
  device     text NOT NULL,
  plan       text NOT NULL,
  events     bigint NOT NULL,
  PRIMARY KEY (bucket, site_id, event_type, country, device, plan)
);
CREATE INDEX clickpulse_events_daily_site ON clickpulse_events_daily (site_id, bucket DESC);

-- One function per event: a trigger with transition tables may only name the tables of
-- its own event. INSERT ... ON CONFLICT DO UPDATE (the JDBC upsert sink) fires both the
-- INSERT trigger (rows inserted) and the UPDATE trigger (rows updated). Each statement
-- applies the signed delta (new events - old events) to the hour, then to the day, in key
-- order; buckets that drop to zero are removed. SECURITY DEFINER: the writer role (Flink's
-- sinks) and `db prune` need no privileges on the internal rollup tables.
CREATE FUNCTION clickpulse_events_rollup_insert() RETURNS trigger LANGUAGE plpgsql
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
  RETURN NULL;
END;
$$;

CREATE FUNCTION clickpulse_events_rollup_update() RETURNS trigger LANGUAGE plpgsql
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
  DELETE FROM clickpulse_events_hourly r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id
    AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_daily r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id
    AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  RETURN NULL;
END;
$$;

CREATE FUNCTION clickpulse_events_rollup_delete() RETURNS trigger LANGUAGE plpgsql
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
  DELETE FROM clickpulse_events_hourly r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('hour', o.window_start, 'UTC') AND r.site_id = o.site_id
    AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  DELETE FROM clickpulse_events_daily r USING old_rows o
  WHERE r.events = 0 AND r.bucket = date_trunc('day', o.window_start, 'UTC') AND r.site_id = o.site_id
    AND r.event_type = o.event_type AND r.country = o.country AND r.device = o.device AND r.plan = o.plan;
  RETURN NULL;
END;
$$;

CREATE FUNCTION clickpulse_events_rollup_truncate() RETURNS trigger LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  TRUNCATE clickpulse_events_hourly, clickpulse_events_daily;
  RETURN NULL;
END;
$$;

CREATE TRIGGER clickpulse_events_rollup_insert AFTER INSERT ON events_per_minute
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_events_rollup_insert();
CREATE TRIGGER clickpulse_events_rollup_update AFTER UPDATE ON events_per_minute
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
  EXECUTE FUNCTION clickpulse_events_rollup_update();
CREATE TRIGGER clickpulse_events_rollup_delete AFTER DELETE ON events_per_minute
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_events_rollup_delete();
CREATE TRIGGER clickpulse_events_rollup_truncate AFTER TRUNCATE ON events_per_minute
  FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_events_rollup_truncate();

-- The triggers hold a lock that keeps writers out until this migration commits, so the
-- backfill and the triggers together see every row exactly once.
INSERT INTO clickpulse_events_hourly (bucket, site_id, event_type, country, device, plan, events)
SELECT date_trunc('hour', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events)
FROM events_per_minute GROUP BY 1, 2, 3, 4, 5, 6;
INSERT INTO clickpulse_events_daily (bucket, site_id, event_type, country, device, plan, events)
SELECT date_trunc('day', window_start, 'UTC'), site_id, event_type, country, device, plan, sum(events)
FROM events_per_minute GROUP BY 1, 2, 3, 4, 5, 6;

CREATE OR REPLACE VIEW events_per_hour AS
SELECT bucket, site_id, event_type, country, device, plan, events FROM clickpulse_events_hourly;

CREATE OR REPLACE VIEW events_per_day AS
SELECT bucket, site_id, event_type, country, device, plan, events FROM clickpulse_events_daily;
