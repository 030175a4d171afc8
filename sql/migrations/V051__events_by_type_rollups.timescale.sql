-- TimescaleDB: events by site and event type only, per hour and per day, for the charts
-- that are not broken down or filtered by country, device or plan; same names and columns
-- as the plain-PostgreSQL variant. Hierarchical continuous aggregates (TimescaleDB 2.9+)
-- over the V003 ones, with real-time aggregation so the newest bucket is included.
CREATE MATERIALIZED VIEW events_per_hour_by_type WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket, site_id, event_type, sum(events)::bigint AS events
FROM events_per_hour
GROUP BY 1, 2, 3
WITH NO DATA;
SELECT add_continuous_aggregate_policy('events_per_hour_by_type', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '5 minutes', if_not_exists => true);

CREATE MATERIALIZED VIEW events_per_day_by_type WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, site_id, event_type, sum(events)::bigint AS events
FROM events_per_day
GROUP BY 1, 2, 3
WITH NO DATA;
SELECT add_continuous_aggregate_policy('events_per_day_by_type', start_offset => INTERVAL '7 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
