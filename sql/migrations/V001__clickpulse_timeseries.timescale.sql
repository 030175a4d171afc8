-- TimescaleDB: clickpulse_timeseries() turns a table into a hypertable partitioned on its
-- time column (chunks of `chunk_interval`), compresses chunks older than 7 days and, when a
-- retention is given, drops chunks past it (policies run by TimescaleDB's job scheduler).
-- The same call on plain PostgreSQL only records the retention for `clickpulse db prune`.
--
-- Compression: segmented by site_id (a site's dashboards decompress only its segments),
-- ordered by time, newest first, then the rest of the primary key, so that an upsert into
-- a compressed chunk (a Flink job restarted from an old checkpoint, a backfill) finds the
-- conflicting row by segment and min/max metadata and decompresses only its batch.
CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE IF NOT EXISTS clickpulse_retention (
  table_name  text PRIMARY KEY,
  time_column text NOT NULL,
  retention   interval
);

CREATE OR REPLACE FUNCTION clickpulse_timeseries(tbl regclass, time_column text, retention interval DEFAULT NULL,
                                                 chunk_interval interval DEFAULT INTERVAL '1 day')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  has_site boolean;
  orderby text;
BEGIN
  -- No default (time DESC) index: every table's primary key leads with its time column.
  PERFORM create_hypertable(tbl, by_range(time_column, chunk_interval), create_default_indexes => false,
                            if_not_exists => true, migrate_data => true);
  SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = tbl AND attname = 'site_id' AND NOT attisdropped)
    INTO has_site;
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.ord)
    INTO orderby
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
   WHERE i.indrelid = tbl AND i.indisprimary AND a.attname NOT IN (time_column, 'site_id');
  orderby := quote_ident(time_column) || ' DESC' || coalesce(', ' || orderby, '');
  EXECUTE format('ALTER TABLE %s SET (timescaledb.compress, timescaledb.compress_orderby = %L%s)',
                 tbl, orderby,
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
