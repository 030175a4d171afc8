-- Rollups of the additive minute metrics as plain views (TimescaleDB: continuous
-- aggregates, see V003__rollups.timescale.sql). Only sums: distinct counts are never
-- added up across windows (use active_users_daily / active_users_1m for users). Buckets are
-- UTC hours and days whatever the session's time zone, like TimescaleDB's time_bucket().
CREATE VIEW events_per_hour AS
SELECT date_trunc('hour', window_start, 'UTC') AS bucket, site_id, event_type, country, device, plan,
       sum(events)::bigint AS events
FROM events_per_minute
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE VIEW events_per_day AS
SELECT date_trunc('day', window_start, 'UTC') AS bucket, site_id, event_type, country, device, plan,
       sum(events)::bigint AS events
FROM events_per_minute
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE VIEW late_events_per_hour AS
SELECT date_trunc('hour', minute, 'UTC') AS bucket, site_id, sum(events)::bigint AS events
FROM late_events
GROUP BY 1, 2;

CREATE VIEW invalid_events_per_hour AS
SELECT date_trunc('hour', minute, 'UTC') AS bucket, site_id, reason, sum(events)::bigint AS events
FROM invalid_events
GROUP BY 1, 2, 3;

CREATE VIEW sessions_1d AS
SELECT date_trunc('day', hour_start, 'UTC') AS bucket, site_id,
       sum(sessions)::bigint AS sessions, sum(bounces)::bigint AS bounces,
       sum(bounces)::double precision / nullif(sum(sessions), 0) AS bounce_rate,
       sum(total_duration_s) / nullif(sum(sessions), 0) AS avg_duration_s,
       sum(pageviews)::double precision / nullif(sum(sessions), 0) AS pages_per_session
FROM sessions_1h
GROUP BY 1, 2;
