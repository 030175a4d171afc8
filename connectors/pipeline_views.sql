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

-- First copy of each event_id wins; the state is kept for table.exec.state.ttl
-- (CLICKPULSE_DEDUP_TTL_MS), the bounded interval within which duplicates count once.
-- Deduplicating on processing time keeps the stream insert-only and event_time a rowtime.
CREATE TEMPORARY VIEW events_first_copy AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page, referrer,
       country, device, plan, properties, schema_version, kafka_ts
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY proc_time ASC) AS copy_no
  FROM raw_events
  WHERE error IS NULL AND NOT tick
)
WHERE copy_no = 1;

-- Lateness is judged here, downstream of the first shuffle, where the watermark of every
-- source partition (and of the ticker's clock) has been merged: an event at or behind it
-- would be dropped by the windows it belongs to, so it is counted in late_events instead.
CREATE TEMPORARY VIEW late_events_stream AS
SELECT event_id, site_id, event_time, kafka_ts
FROM events_first_copy
WHERE event_time <= CURRENT_WATERMARK(event_time);

CREATE TEMPORARY VIEW events_clean AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page, referrer,
       COALESCE(country, 'unknown') AS country,
       COALESCE(device, 'unknown') AS device,
       COALESCE(plan, 'unknown') AS plan,
       properties, schema_version
FROM events_first_copy
WHERE CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time);

-- Valid events judged on time where they are read, duplicates included. Only for metrics
-- that duplicates cannot change (whether a user reached a funnel step): MATCH_RECOGNIZE
-- cannot consume the deduplicated stream in Flink 2.0's planner. An event this view keeps
-- but the shared watermark calls late (only possible right after every partition was
-- idle) is dropped by MATCH_RECOGNIZE itself and counted in late_events all the same.
CREATE TEMPORARY VIEW events_on_time AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page
FROM raw_events
WHERE error IS NULL AND NOT tick
  AND (CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time));
