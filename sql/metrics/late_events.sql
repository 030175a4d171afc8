-- late_events: events that arrived behind the watermark, so no window could count them.
-- grain: one row per site per minute of arrival (the Kafka record time)
-- window: none; a running count per minute, kept for a day
-- watermark: an event is late when its event time is at or behind the watermark where it
--   is judged (see sql/views.sql)
-- key: minute, site_id
SELECT /*+ STATE_TTL('late_events_stream' = '1d') */
  CAST(FLOOR(CAST(kafka_ts AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)) AS `minute`,
  site_id,
  COUNT(*) AS events
FROM late_events_stream
GROUP BY CAST(FLOOR(CAST(kafka_ts AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)), site_id
