-- page_transitions_1h: which page users view next after each page (paths, journeys).
-- grain: one row per site, hour (UTC) of the second view, from page and to page
-- window: 1-hour tumbling windows on the time of the second view; the pairs come from
--   MATCH_RECOGNIZE over each user's page views in event-time order
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- definitions: a transition is two page views of a user that follow each other (no page
--   view between them, other events may be) at most 30 minutes apart, the session gap of
--   sessions_1h; views at the same millisecond are ordered by page, so the result never
--   depends on arrival order. A reload (the same page again) is a transition too.
--   transitions counts pairs, users the distinct users who made them.
-- key: hour_start, site_id, from_page, to_page
WITH page_views AS (
  SELECT site_id, user_id, ts, page, event_time
  FROM events_clean
  WHERE event_type = 'page_view'
),
pairs AS (
  SELECT site_id, user_id, from_page, to_page, to_time
  FROM page_views
  MATCH_RECOGNIZE (
    PARTITION BY site_id, user_id
    ORDER BY event_time, page
    MEASURES
      A.page AS from_page,
      B.page AS to_page,
      MATCH_ROWTIME() AS to_time
    ONE ROW PER MATCH
    AFTER MATCH SKIP TO NEXT ROW
    PATTERN (A B)
    DEFINE
      B AS B.ts - A.ts <= 1800000
  )
)
SELECT
  window_start AS hour_start,
  site_id,
  from_page,
  to_page,
  COUNT(*) AS transitions,
  COUNT(DISTINCT user_id) AS users
FROM TABLE(TUMBLE(TABLE pairs, DESCRIPTOR(to_time), INTERVAL '1' HOUR))
GROUP BY window_start, window_end, site_id, from_page, to_page
