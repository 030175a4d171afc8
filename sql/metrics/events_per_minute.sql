-- events_per_minute: how many events of each type each site receives, by segment.
-- grain: one row per site, event type, country, device and plan per minute
-- window: 1-minute tumbling windows on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); later events go to late_events
-- key: window_start, site_id, event_type, country, device, plan
SELECT
  window_start,
  window_end,
  site_id,
  event_type,
  country,
  device,
  plan,
  COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, site_id, event_type, country, device, plan
