-- TimescaleDB: clickpulse_timeseries() turns a table into a hypertable partitioned on its
-- time column, compresses chunks older than 7 days (segmented by site, so a site's
-- dashboards read only its segments) and drops chunks past the retention.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS clickpulse_retention (
  table_name  text PRIMARY KEY,
  time_column text NOT NULL,
  retention   interval
);

CREATE OR REPLACE FUNCTION clickpulse_timeseries(tbl regclass, time_column text, retention interval DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  has_site boolean;
BEGIN
  PERFORM create_hypertable(tbl, by_range(time_column, INTERVAL '1 day'), if_not_exists => true, migrate_data => true);
  SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'site_id' AND NOT attisdropped)
    INTO has_site;
  EXECUTE format('ALTER TABLE %s SET (timescaledb.compress, timescaledb.compress_orderby = %L%s)',
                 tbl, time_column || ' DESC',
                 CASE WHEN has_site THEN ', timescaledb.compress_segmentby = ''site_id''' ELSE '' END);
  PERFORM add_compression_policy(tbl, INTERVAL '7 days', if_not_exists => true);
  IF retention IS NOT NULL THEN
    PERFORM add_retention_policy(tbl, retention, if_not_exists => true);
  END IF;
  INSERT INTO clickpulse_retention (table_name, time_column, retention)
  VALUES (tbl::text, time_column, retention)
  ON CONFLICT (table_name) DO UPDATE SET time_column = EXCLUDED.time_column, retention = EXCLUDED.retention;
END;
$$;
