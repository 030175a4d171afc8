-- funnel_conversions: users reaching each step of each funnel defined in sql/funnels.yaml.
-- grain: one row per site, funnel and step per hour (UTC) of the funnel's first step
-- window: none; each user's attempts are followed as their events arrive (funnel_progress,
--   sql/funnel_views.sql), within the funnel's window after the first step; counts grow as
--   users progress and are written within a second of the event, without waiting for the
--   watermark
-- watermark: not used; late events (behind the watermark) are not counted (events_clean)
-- semantics: every event matching step 1 starts an attempt; the attempt reaches step k
--   when events matching steps 2..k follow in order, each strictly later in event time
--   than the one before and less than the window after step 1. A user counts once per
--   funnel, step and hour of step 1 when any attempt starting in that hour reaches it.
-- key: hour_start, site_id, funnel, step
SELECT /*+ STATE_TTL('funnel_progress' = '1d') */
  -- grouped by exactly the table's key (step_name follows from step), so each update is a
  -- plain upsert of that row; each user appears once per key
  hour_start, site_id, funnel, step, MAX(step_name) AS step_name, COUNT(*) AS users
FROM funnel_progress
GROUP BY hour_start, site_id, funnel, step
