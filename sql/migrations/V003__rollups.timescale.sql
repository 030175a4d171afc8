-- Rollups of the additive minute metrics as continuous aggregates, with real-time
-- aggregation on (materialized_only = false) so buckets not materialized yet are computed
-- from the source at query time. Same names and columns as the plain-PostgreSQL views
-- (V003__rollups.postgres.sql). Only sums: distinct counts are never added up across
-- windows. time_bucket() buckets are UTC hours and days.
--
-- Refresh policies re-materialize the last 3 days (hourly) / 7 days (daily), which covers
-- late upserts (a Flink job restarted from a checkpoint rewrites the same rows). Rows
-- rewritten further back (a backfill) need CALL refresh_continuous_aggregate(...). The
-- rollups keep buckets whose source chunks the 90-day retention has dropped.
-- events_per_day is a continuous aggregate on events_per_hour (hierarchical).
CREATE MATERIALIZED VIEW events_per_hour WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', window_start) AS bucket, site_id, event_type, country, device, plan,
       sum(events)::bigint AS events
FROM events_per_minute
GROUP BY 1, 2, 3, 4, 5, 6
WITH NO DATA;
SELECT add_continuous_aggregate_policy('events_per_hour', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true);

CREATE MATERIALIZED VIEW events_per_day WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, site_id, event_type, country, device, plan,
       sum(events)::bigint AS events
FROM events_per_hour
GROUP BY 1, 2, 3, 4, 5, 6
WITH NO DATA;
SELECT add_continuous_aggregate_policy('events_per_day', start_offset => INTERVAL '7 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);

CREATE MATERIALIZED VIEW late_events_per_hour WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', minute) AS bucket, site_id, sum(events)::bigint AS events
FROM late_events
GROUP BY 1, 2
WITH NO DATA;
SELECT add_continuous_aggregate_policy('late_events_per_hour', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true);

CREATE MATERIALIZED VIEW invalid_events_per_hour WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', minute) AS bucket, site_id, reason, sum(events)::bigint AS events
FROM invalid_events
GROUP BY 1, 2, 3
WITH NO DATA;
SELECT add_continuous_aggregate_policy('invalid_events_per_hour', start_offset => INTERVAL '3 days',
       end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute', if_not_exists => true);

CREATE MATERIALIZED VIEW sessions_1d WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', hour_start) AS bucket, site_id,
       sum(sessions)::bigint AS sessions, sum(bounces)::bigint AS bounces,
       sum(bounces)::double precision / nullif(sum(sessions), 0) AS bounce_rate,
       sum(total_duration_s) / nullif(sum(sessions), 0) AS avg_duration_s,
       sum(pageviews)::double precision / nullif(sum(sessions), 0) AS pages_per_session
FROM sessions_1h
GROUP BY 1, 2
WITH NO DATA;
SELECT add_continuous_aggregate_policy('sessions_1d', start_offset => INTERVAL '7 days',
       end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '10 minutes', if_not_exists => true);
