-- retention_daily: daily cohorts: of the users first seen on a UTC day, how many came back on each later day.
-- grain: one row per site, cohort day (cohort_start: the UTC day of the user's first event on
--   the site) and period_offset k = 0..30 days after it; users = the cohort's users with an
--   event on day cohort_start + k. The k = 0 row is the cohort's size, so users / that row is
--   the retention rate (the dataset retention_daily_cohorts has both on each row)
-- window: none over the rows; each user's minutes with an event (1-minute tumbling windows,
--   the one per-event stage) feed one aggregate per site and user: first day, days active
--   (view retention_comebacks, sql/retention_views.sql, shared with retention_weekly)
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); a row grows as the
--   minutes of day cohort_start + k close and is final once that day has closed
-- state: each user's first day and days active, kept until 98 days without an event of
--   theirs (STATE_TTL, processing time): a user who comes back after that counts as new
--   (docs/design.md, Retention)
-- key: cohort_start, site_id, period_offset
SELECT /*+ STATE_TTL('retention_comebacks' = '98d') */
  day_cohort AS cohort_start, site_id, period_offset, COUNT(*) AS users
FROM retention_comebacks
WHERE back_on_day
GROUP BY day_cohort, site_id, period_offset
