-- Functions the metrics use (connectors/event-parser, shipped with the job).
-- funnel_reach: funnel attempts followed per user as events arrive
-- (sql/funnel_views.sql); funnel_percentiles: exact median and p90 of the users' times to
-- convert (sql/metrics/funnel_breakdown.sql).
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS funnel_reach AS 'dev.clickpulse.flink.funnel.FunnelReach' LANGUAGE JAVA;
CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS funnel_percentiles AS 'dev.clickpulse.flink.funnel.FunnelPercentiles' LANGUAGE JAVA;

-- Views shared by every metric of the events topic (one statement set, one Kafka read).
-- Metrics read events_clean (valid events, each counted once, on time) or one of the two
-- side views; nothing is dropped without being counted somewhere, except copies of an
-- event (the same record sent again), which count once.
--
-- Every record is judged where it is read, per Kafka partition (the clickpulse-judged
-- source, connectors/event-parser: dev.clickpulse.flink.judge), before these views:
--   late:  its event time is ${watermark_delay_ms} ms or more behind the newest event time
--          its partition has carried up to it, itself included (events, copies and the
--          ticker's clock ticks all count). Unlike Flink's watermark this does not depend on
--          how fast partitions are read, and it is restored with the checkpoint, so a
--          catch-up or a restart judges every record as the first pass did. It is never
--          ahead of the watermark the windows use (the minimum over partitions), so no
--          window drops an event called on time here.
--   copy:  the same event (event_id) again while a copy could still be on time: dropped.
--          The events topic is keyed by user_id, so a resent event lands in its original's
--          partition. Once that partition's event time is past the event's by the delay,
--          every copy would be late, so the id is forgotten; a copy after that is counted
--          as a late event. The state is the ids of the last few seconds of event time.
--   clock ticks move their partition's event time; they pass with is_late NULL, so the
--   event views below never count them.

-- Malformed records: to the dead-letter topic (with the raw payload) and invalid_events.
CREATE TEMPORARY VIEW invalid_events_stream AS
SELECT COALESCE(payload, '') AS payload, error AS reason, COALESCE(site_id, 'unknown') AS site_id,
       kafka_ts, kafka_partition, kafka_offset
FROM raw_events
WHERE error IS NOT NULL;

-- Late events are counted here (late_events) and nowhere else.
CREATE TEMPORARY VIEW late_events_stream AS
SELECT event_id, site_id, event_time, kafka_ts
FROM raw_events
WHERE error IS NULL AND NOT tick AND is_late;

-- Events the collector marked as a bot's (`bot` holds the reason): on time and counted
-- once like every event, but only in bot_events, never in a user metric.
CREATE TEMPORARY VIEW bot_events_stream AS
SELECT event_id, site_id, event_time, bot AS reason
FROM raw_events
WHERE error IS NULL AND NOT tick AND NOT is_late AND bot IS NOT NULL;

-- What every user metric reads: valid, on time, counted once, not a bot's.
-- After `properties` come the promoted properties of sql/properties.yaml, one text column
-- each ('none' when the event lacks it), rendered by jobs/clickpulse/runner/properties.py
-- as JSON_VALUE expressions. A metric that does not select them does not compute them.
CREATE TEMPORARY VIEW events_clean AS
SELECT event_id, event_type, site_id, user_id, session_id, ts, event_time, page, referrer,
       COALESCE(country, 'unknown') AS country,
       COALESCE(device, 'unknown') AS device,
       COALESCE(plan, 'unknown') AS plan,
       properties, ${promoted_columns}schema_version, utm_source, utm_medium, utm_campaign, referrer_domain
FROM raw_events
WHERE error IS NULL AND NOT tick AND NOT is_late AND bot IS NULL;
