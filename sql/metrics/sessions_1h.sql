-- sessions_1h: sessions, bounce rate, duration and depth per hour of session start.
-- grain: one row per site per hour (UTC) in which sessions started; a session is counted
--        once it has ended (more than 30 minutes without an event)
-- window: session windows per site and user with a 30-minute inactivity gap, on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- definitions: a session is a user's run of events with no gap over 30 minutes; a bounce is
--   a session with exactly one page_view; duration is last event time minus first (0 for
--   a single event); pageviews counts page_view events
-- key: hour_start, site_id
SELECT /*+ STATE_TTL('s' = '2d') */
  hour_start,
  site_id,
  COUNT(*) AS sessions,
  CAST(SUM(bounce) AS BIGINT) AS bounces,
  CAST(SUM(bounce) AS DOUBLE) / COUNT(*) AS bounce_rate,
  CAST(SUM(duration_ms) AS DOUBLE) / 1000 AS total_duration_s,
  CAST(SUM(duration_ms) AS DOUBLE) / 1000 / COUNT(*) AS avg_duration_s,
  CAST(SUM(pageviews) AS BIGINT) AS pageviews,
  CAST(SUM(pageviews) AS DOUBLE) / COUNT(*) AS pages_per_session
FROM (
  SELECT
    site_id,
    FLOOR(window_start TO HOUR) AS hour_start,
    -- whole milliseconds, so the sums are exact whatever order sessions end in
    MAX(ts) - MIN(ts) AS duration_ms,
    SUM(CASE WHEN event_type = 'page_view' THEN 1 ELSE 0 END) AS pageviews,
    CASE WHEN SUM(CASE WHEN event_type = 'page_view' THEN 1 ELSE 0 END) = 1 THEN 1 ELSE 0 END AS bounce
  FROM TABLE(SESSION(TABLE events_clean PARTITION BY (site_id, user_id), DESCRIPTOR(event_time), INTERVAL '30' MINUTE))
  GROUP BY window_start, window_end, site_id, user_id
) AS s
GROUP BY hour_start, site_id
