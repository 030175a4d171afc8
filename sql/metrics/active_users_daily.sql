-- active_users_daily: distinct users so far today (UTC), updated every minute.
-- grain: one row per site and segment per day (same segments as active_users_1m, 'all'
--        in rolled-up columns); updated_through is the end of the last minute counted
-- window: cumulating windows on event time, 1-day windows growing in 1-minute steps
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- note: distinct counts; never add rows up across segments or days
-- key: day, site_id, country, device, plan
SELECT
  CAST(window_start AS DATE) AS `day`,
  site_id,
  COALESCE(country, 'all') AS country,
  COALESCE(device, 'all') AS device,
  COALESCE(plan, 'all') AS plan,
  COUNT(DISTINCT user_id) AS users,
  window_end AS updated_through
FROM TABLE(CUMULATE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE, INTERVAL '1' DAY))
GROUP BY window_start, window_end, GROUPING SETS (
  (site_id),
  (site_id, country),
  (site_id, device),
  (site_id, plan),
  (site_id, country, device, plan)
)
