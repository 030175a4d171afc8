-- active_users_1m: distinct users per minute, per site and by segment.
-- grain: one row per site and segment per minute; segments are all users of the site
--        (country = device = plan = 'all'), each country, each device, each plan, and
--        each country x device x plan combination ('all' in the columns rolled up)
-- window: 1-minute tumbling windows on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- note: distinct counts; never add rows up across segments or minutes
-- key: window_start, site_id, country, device, plan
SELECT
  window_start,
  window_end,
  site_id,
  COALESCE(country, 'all') AS country,
  COALESCE(device, 'all') AS device,
  COALESCE(plan, 'all') AS plan,
  COUNT(DISTINCT user_id) AS users
FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, GROUPING SETS (
  (site_id),
  (site_id, country),
  (site_id, device),
  (site_id, plan),
  (site_id, country, device, plan)
)
