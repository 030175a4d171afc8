-- Functions the metrics use (connectors/event-parser, shipped with the job).
-- funnel_reach / funnel_hours: funnel attempts followed per user as events arrive
-- (sql/metrics/funnel_conversions.sql).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS funnel_reach AS 'dev.clickpulse.flink.funnel.FunnelReach' LANGUAGE JAVA;
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS funnel_hours AS 'dev.clickpulse.flink.funnel.FunnelHours' LANGUAGE JAVA;

-- Views shared by every metric of the events topic (one statement set, one Kafka read).
-- Metrics read events_clean (valid, first copy of each event_id, on time), events_on_time
-- (the same without deduplication) or one of the two side views; nothing is dropped
-- without being counted somewhere.

-- Malformed records: to the dead-letter topic (with the raw payload) and invalid_events.
CREATE TEMPORARY VIEW invalid_events_stream AS
SELECT COALESCE(payload, '') AS payload, error AS reason, COALESCE(site_id, 'unknown') AS site_id,
       kafka_ts, kafka_partition, kafka_offset
FROM raw_events
WHERE error IS NOT NULL;

-- Lateness is judged per Kafka partition, from the records themselves: an event is late
-- when it is ${watermark_delay_ms} ms or more behind the newest event time its partition
-- has carried before it (events, resent copies and the ticker's ticks all count). Unlike
-- Flink's watermark, this running maximum does not depend on how fast partitions are read
-- and is restored with the checkpoint, so a catch-up or a restart judges every record as
-- the first pass did. It is never ahead of the watermark the windows use (the minimum
-- over partitions), so no window drops an event this view calls on time.
CREATE TEMPORARY VIEW events_judged AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, proc_time, page, referrer,
       country, device, plan, properties, schema_version, kafka_ts, tick,
       ts <= MAX(ts) OVER (PARTITION BY kafka_partition ORDER BY proc_time
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - ${watermark_delay_ms} AS is_late
FROM raw_events
WHERE error IS NULL;

-- First copy of each event_id wins; the state is kept for table.exec.state.ttl
-- (CLICKPULSE_DEDUP_TTL_MS), the bounded interval within which duplicates count once.
-- Deduplicating on processing time keeps the stream insert-only and event_time a rowtime.
CREATE TEMPORARY VIEW events_first_copy AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page, referrer,
       country, device, plan, properties, schema_version, kafka_ts, is_late
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY proc_time ASC) AS copy_no
  FROM events_judged
  WHERE NOT tick
)
WHERE copy_no = 1;

-- Late events are counted here (late_events) and nowhere else.
CREATE TEMPORARY VIEW late_events_stream AS
SELECT event_id, site_id, event_time, kafka_ts
FROM events_first_copy
WHERE is_late;

CREATE TEMPORARY VIEW events_clean AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page, referrer,
       COALESCE(country, 'unknown') AS country,
       COALESCE(device, 'unknown') AS device,
       COALESCE(plan, 'unknown') AS plan,
       properties, schema_version
FROM events_first_copy
WHERE NOT is_late;

-- Valid, on-time events, duplicates included. Only for metrics that duplicates cannot
-- change (whether a user reached a funnel step): MATCH_RECOGNIZE cannot consume the
-- deduplicated stream in Flink 2.0's planner.
CREATE TEMPORARY VIEW events_on_time AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page
FROM events_judged
WHERE NOT tick AND NOT is_late;
