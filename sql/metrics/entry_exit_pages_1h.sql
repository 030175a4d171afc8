-- entry_exit_pages_1h: the pages sessions start and end on (landing and exit pages).
-- grain: one row per site, hour (UTC) of session start and page that began or ended a
--        session; a session is counted once it has ended (more than 30 minutes without an
--        event), as in sessions_1h
-- window: session windows per site and user with a 30-minute inactivity gap, on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- definitions: the entry page is the page of the session's first page_view, the exit page
--   that of its last; page views at the same millisecond are ordered by page, so the
--   result never depends on arrival order. A session without a page view has neither.
--   A single-view session is an entry and an exit of its page (and a bounce in sessions_1h).
-- key: hour_start, site_id, page
WITH session_views AS (
  -- the first and the last page view of each session as 'epoch ms (13 digits)' || page:
  -- MIN and MAX of that string pick the earliest and the latest view in one pass
  SELECT
    site_id,
    FLOOR(window_start TO HOUR) AS hour_start,
    MIN(CASE WHEN event_type = 'page_view' THEN LPAD(CAST(ts AS STRING), 13, '0') || page END) AS first_view,
    MAX(CASE WHEN event_type = 'page_view' THEN LPAD(CAST(ts AS STRING), 13, '0') || page END) AS last_view
  FROM TABLE(SESSION(TABLE events_clean PARTITION BY (site_id, user_id), DESCRIPTOR(event_time), INTERVAL '30' MINUTE))
  GROUP BY window_start, window_end, site_id, user_id
),
session_ends AS (
  SELECT hour_start, site_id, SUBSTRING(first_view FROM 14) AS page, 1 AS entry, 0 AS exit_
  FROM session_views WHERE first_view IS NOT NULL
  UNION ALL
  SELECT hour_start, site_id, SUBSTRING(last_view FROM 14) AS page, 0 AS entry, 1 AS exit_
  FROM session_views WHERE last_view IS NOT NULL
)
-- sessions of an hour end up to a day later (long sessions): keep the hour's sums 2 days
SELECT /*+ STATE_TTL('session_ends' = '2d') */
  hour_start,
  site_id,
  page,
  CAST(SUM(entry) AS BIGINT) AS entries,
  CAST(SUM(exit_) AS BIGINT) AS exits
FROM session_ends
GROUP BY hour_start, site_id, page
