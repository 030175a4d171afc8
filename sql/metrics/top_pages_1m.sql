-- top_pages_1m: the 10 most viewed pages of each site per minute.
-- grain: up to 10 rows per site per minute (rank 1 = most views; ties go to the page path
--        that sorts first)
-- window: 1-minute tumbling windows on event time, page_view events only
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- key: window_start, site_id, page
SELECT window_start, window_end, site_id, page, `views`, unique_users, CAST(rownum AS INT) AS `rank`
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY window_start, window_end, site_id
                               ORDER BY `views` DESC, page ASC) AS rownum
  FROM (
    SELECT window_start, window_end, site_id, page, COUNT(*) AS `views`, COUNT(DISTINCT user_id) AS unique_users
    FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
    WHERE event_type = 'page_view'
    GROUP BY window_start, window_end, site_id, page
  )
)
WHERE rownum <= 10
