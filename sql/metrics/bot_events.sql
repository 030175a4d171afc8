-- bot_events: events the collector marked as a bot's, which no user metric counts.
-- grain: one row per site and reason (user_agent, rate) per minute
-- window: 1-minute tumbling windows on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); later events go to late_events
-- key: window_start, site_id, reason
SELECT
  window_start,
  window_end,
  site_id,
  reason,
  COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE bot_events_stream, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, site_id, reason
