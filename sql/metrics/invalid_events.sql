-- invalid_events: malformed records (not JSON, a required field missing or of the wrong
-- type), by reason; their raw payloads are on the dead-letter topic.
-- grain: one row per site (or 'unknown'), reason and minute of arrival (the Kafka record time)
-- window: none; a running count per minute, kept for a day
-- watermark: not used (malformed records have no trustworthy event time)
-- key: minute, site_id, reason
SELECT /*+ STATE_TTL('invalid_events_stream' = '1d') */
  CAST(FLOOR(CAST(kafka_ts AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)) AS `minute`,
  site_id,
  reason,
  COUNT(*) AS events
FROM invalid_events_stream
GROUP BY CAST(FLOOR(CAST(kafka_ts AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)), site_id, reason
