-- top_pages_provisional: page views and unique users of every page of the open minutes so
--   far, rewritten about once a second; the live view ranks them (the final top 10 is
--   top_pages_1m's, written once the minute closes).
-- grain: one row per site and page per minute, page_view events only
-- window: none; running counts per minute of event time, kept 15 minutes after their last event
-- watermark: not waited for; late events are never counted (events_clean)
-- provisional: yes (final: top_pages_1m)
-- key: window_start, site_id, page
WITH views_per_user AS (
  -- counting a page's users as its rows here is much cheaper than a distinct count
  SELECT /*+ STATE_TTL('events_clean' = '15min') */
    CAST(FLOOR(CAST(event_time AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)) AS window_start,
    site_id, page, user_id, COUNT(*) AS `views`
  FROM events_clean
  WHERE event_type = 'page_view'
  GROUP BY CAST(FLOOR(CAST(event_time AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)), site_id, page, user_id
)
SELECT /*+ STATE_TTL('views_per_user' = '15min') */
  window_start, site_id, page, CAST(SUM(`views`) AS BIGINT) AS `views`, COUNT(*) AS unique_users
FROM views_per_user
GROUP BY window_start, site_id, page
