-- active_users_live: "users right now", distinct users over the last 5 minutes.
-- grain: one row per site every 10 seconds (window_end)
-- window: 5-minute hopping windows sliding every 10 s, on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- key: window_end, site_id
SELECT
  window_start,
  window_end,
  site_id,
  COUNT(DISTINCT user_id) AS users
FROM TABLE(HOP(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '10' SECOND, INTERVAL '5' MINUTE))
GROUP BY window_start, window_end, site_id
