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
  -- per user and day d = first day + k, k = 0..30: whether they had an event that day
  -- (back_on_day) and, for k <= 12, in week first week + k (back_in_week). The array is
  -- built from the row, so the UNNEST is a per-row expansion chained to the aggregate (a
  -- constant array is planned as a join of every update with a one-task input)
  SELECT
    CAST(TO_TIMESTAMP_LTZ(first_day * 86400000, 3) AS TIMESTAMP(3)) AS day_cohort,
    CAST(TO_TIMESTAMP_LTZ((first_week * 7 - 3) * 86400000, 3) AS TIMESTAMP(3)) AS week_cohort,
    site_id, user_id, CAST(o.day_no - first_day AS INT) AS period_offset,
    LOCATE(',' || CAST(o.day_no AS STRING) || ',', day_list) > 0 AS back_on_day,
    o.day_no - first_day <= 12 AND o.day_no - first_day <= last_week - first_week
      AND LOCATE(',' || CAST(first_week + o.day_no - first_day AS STRING) || ',', week_list) > 0 AS back_in_week
  FROM users_seen
  CROSS JOIN UNNEST(ARRAY[first_day, first_day + 1, first_day + 2, first_day + 3, first_day + 4, first_day + 5, first_day + 6,
                        first_day + 7, first_day + 8, first_day + 9, first_day + 10, first_day + 11, first_day + 12, first_day + 13,
                        first_day + 14, first_day + 15, first_day + 16, first_day + 17, first_day + 18, first_day + 19, first_day + 20,
                        first_day + 21, first_day + 22, first_day + 23, first_day + 24, first_day + 25, first_day + 26, first_day + 27,
                        first_day + 28, first_day + 29, first_day + 30]) AS o(day_no)
  WHERE o.day_no <= last_day
)
SELECT /*+ STATE_TTL('comebacks' = '98d') */
  week_cohort AS cohort_start, site_id, period_offset, COUNT(*) AS users
FROM comebacks
WHERE back_in_week
GROUP BY week_cohort, site_id, period_offset
