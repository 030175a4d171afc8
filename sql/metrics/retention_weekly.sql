-- retention_weekly: weekly cohorts: of the users first seen in an ISO week, how many came back in each later week.
-- grain: one row per site, cohort week (cohort_start: the Monday 00:00 UTC starting the ISO
--   week of the user's first event on the site) and period_offset k = 0..12 weeks after it;
--   users = the cohort's users with an event in week cohort_start + k. The k = 0 row is the
--   cohort's size (the dataset retention_weekly_cohorts has it on each row)
-- window: none over the rows; each user's minutes with an event (1-minute tumbling windows,
--   the one per-event stage) feed one aggregate per site and user: first week, weeks active
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); a row grows as the
--   minutes of week cohort_start + k close and is final once that week has closed
-- state: each user's first week and weeks active, kept until 98 days without an event of
--   theirs (STATE_TTL, processing time): a user who comes back after that counts as new
--   (docs/design.md, Retention)
-- key: cohort_start, site_id, period_offset
WITH user_minutes AS (
  -- one row per site, user and minute with an event; identical in retention_daily.sql,
  -- so the planner runs it once for both
  SELECT site_id, user_id, MIN(ts) AS ts
  FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
  GROUP BY window_start, window_end, site_id, user_id
),
user_periods AS (
  -- day numbers since the epoch; ISO weeks start on Monday, 4 days after Thursday 1970-01-01
  SELECT site_id, user_id, day_no, CAST((day_no + 3 - MOD(day_no + 3, 7)) / 7 AS BIGINT) AS week_no
  FROM (SELECT site_id, user_id, CAST((ts - MOD(ts, 86400000)) / 86400000 AS BIGINT) AS day_no FROM user_minutes) AS m
),
users_seen AS (
  -- per site and user: the first and last day and week, and the days and weeks with an
  -- event as ",n,n," lists; identical in retention_daily.sql (one aggregate for both)
  SELECT /*+ STATE_TTL('user_periods' = '98d') */
    site_id, user_id,
    MIN(day_no) AS first_day, MAX(day_no) AS last_day,
    ',' || LISTAGG(DISTINCT CAST(day_no AS STRING)) || ',' AS day_list,
    MIN(week_no) AS first_week, MAX(week_no) AS last_week,
    ',' || LISTAGG(DISTINCT CAST(week_no AS STRING)) || ',' AS week_list
  FROM user_periods
  GROUP BY site_id, user_id
),
comebacks AS (
  -- one row per user and week k after their first with an event, k <= 12; the week of
  -- number n starts on day 7n - 3 (a Monday)
  SELECT
    CAST(TO_TIMESTAMP_LTZ((first_week * 7 - 3) * 86400000, 3) AS TIMESTAMP(3)) AS cohort_start,
    site_id, o.k AS period_offset, user_id
  FROM users_seen
  CROSS JOIN UNNEST(ARRAY[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) AS o(k)
  WHERE o.k <= last_week - first_week
    AND LOCATE(',' || CAST(first_week + o.k AS STRING) || ',', week_list) > 0
)
SELECT /*+ STATE_TTL('comebacks' = '98d') */
  cohort_start, site_id, period_offset, COUNT(*) AS users
FROM comebacks
GROUP BY cohort_start, site_id, period_offset
