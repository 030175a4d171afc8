-- retention_weekly: weekly cohorts: of the users first seen in an ISO week, how many came back in each later week.
-- grain: one row per site, cohort week (cohort_start: the Monday 00:00 UTC starting the ISO
--   week of the user's first event on the site) and period_offset k = 0..12 weeks after it;
--   users = the cohort's users with an event in week cohort_start + k. The k = 0 row is the
--   cohort's size (the dataset retention_weekly_cohorts has it on each row)
-- window: none over the rows; each user's minutes with an event (1-minute tumbling windows,
--   the one per-event stage) feed one aggregate per site and user: first week, weeks active
--   (view retention_comebacks, sql/retention_views.sql, shared with retention_daily)
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); a row grows as the
--   minutes of week cohort_start + k close and is final once that week has closed
-- state: each user's first week and weeks active, kept until 98 days without an event of
--   theirs (STATE_TTL, processing time): a user who comes back after that counts as new
--   (docs/design.md, Retention)
-- key: cohort_start, site_id, period_offset
SELECT /*+ STATE_TTL('retention_comebacks' = '98d') */
  week_cohort AS cohort_start, site_id, period_offset, COUNT(*) AS users
FROM retention_comebacks
WHERE back_in_week
GROUP BY week_cohort, site_id, period_offset
