-- Plain PostgreSQL: clickpulse_timeseries() only records each time-series table and its
-- retention; `clickpulse db prune` deletes what is older (TimescaleDB does this itself with
-- retention policies). chunk_interval only matters to TimescaleDB (hypertable chunks).
CREATE TABLE IF NOT EXISTS clickpulse_retention (
  table_name  text PRIMARY KEY,
  time_column text NOT NULL,
  retention   interval
);

CREATE OR REPLACE FUNCTION clickpulse_timeseries(tbl regclass, time_column text, retention interval DEFAULT NULL,
                                                 chunk_interval interval DEFAULT INTERVAL '1 day')
RETURNS void LANGUAGE sql AS $$
  INSERT INTO clickpulse_retention (table_name, time_column, retention)
  VALUES (tbl::text, time_column, retention)
  ON CONFLICT (table_name) DO UPDATE SET time_column = EXCLUDED.time_column, retention = EXCLUDED.retention;
$$;
