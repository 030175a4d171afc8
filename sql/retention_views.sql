-- Retention's shared stages (after sql/views.sql): retention_daily and retention_weekly
-- both read retention_comebacks, so the job runs its window and its per-user aggregate once
-- for both tables (docs/design.md, Retention).
--
-- retention_comebacks: one row per site, user and day d = the user's first day + k,
-- k = 0..30 (period_offset), up to the user's last day, rewritten as the user's minutes
-- close:
--   day_cohort, week_cohort: the user's first UTC day, and the Monday 00:00 UTC of their
--   first ISO week;
--   back_on_day: the user had an event on day d;
--   back_in_week: for k <= 12, the user had an event in week first week + k.
CREATE TEMPORARY VIEW retention_comebacks AS
WITH user_minutes AS (
  -- one row per site, user and minute with an event: the one per-event stage
  SELECT site_id, user_id, MIN(ts) AS ts
  FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
  GROUP BY window_start, window_end, site_id, user_id
),
user_days AS (
  -- day numbers since the epoch (UTC)
  SELECT site_id, user_id, CAST((ts - MOD(ts, 86400000)) / 86400000 AS BIGINT) AS day_no
  FROM user_minutes
),
user_periods AS (
  -- ISO weeks start on Monday, 4 days after Thursday 1970-01-01
  SELECT site_id, user_id, day_no, CAST((day_no + 3 - MOD(day_no + 3, 7)) / 7 AS BIGINT) AS week_no
  FROM user_days
),
users_seen AS (
  -- per site and user: the first and last day and week, and the days and weeks with an
  -- event as ",n,n," lists. State: 98 days without an event of the user's (processing
  -- time); a user back after that counts as new
  SELECT /*+ STATE_TTL('user_periods' = '98d') */
    site_id, user_id,
    MIN(day_no) AS first_day, MAX(day_no) AS last_day,
    ',' || LISTAGG(DISTINCT CAST(day_no AS STRING)) || ',' AS day_list,
    MIN(week_no) AS first_week, MAX(week_no) AS last_week,
    ',' || LISTAGG(DISTINCT CAST(week_no AS STRING)) || ',' AS week_list
  FROM user_periods
  GROUP BY site_id, user_id
)
-- The array is built from the row, so the UNNEST is a per-row expansion chained to the
-- aggregate (a constant array is planned as a join of every update with a one-task input)
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
WHERE o.day_no <= last_day;
