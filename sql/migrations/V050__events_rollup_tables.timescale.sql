-- TimescaleDB: nothing to do. events_per_hour and events_per_day are continuous
-- aggregates with real-time aggregation (V003__rollups.timescale.sql), which already
-- read pre-summed buckets. The plain-PostgreSQL variant of V050 builds the equivalent
-- trigger-maintained tables behind the same views.
SELECT 1;
