-- funnel_breakdown: users reaching each funnel step and their time to convert, by country, device, plan and promoted property.
-- grain: one row per site, funnel, step, dimension and segment per hour (UTC) of the
--   funnel's first step; dimension 'all' (segment 'all') is the whole site, then one row
--   per country, per device, per plan and per value of each promoted property of
--   sql/properties.yaml (dimension 'country', segment 'DE', ...; dimension 'experiment',
--   segment 'control', ...; 'none' when the event lacks the property)
-- window: none; follows funnel_progress (sql/funnel_views.sql) as users progress, like
--   funnel_conversions, whose users the 'all' rows equal
-- watermark: not used; late events (behind the watermark) are not counted (events_clean)
-- semantics: a user counts under the country, device, plan and promoted properties of their
--   first step-1 event of the hour (one segment per funnel and hour, so segment rows add up to the 'all'
--   row). median_s and p90_s: percentile_cont(0.5) and (0.9), exact, of the users' times
--   from step 1 to the step, each user's time being their shortest over the hour's
--   attempts that reach the step (0 at step 1).
-- key: hour_start, site_id, funnel, step, dimension, segment
WITH by_segment AS (
  -- each user's row once for the whole site and once under each of its segment values:
  -- country, device, plan, then each promoted property (its name is the dimension)
  SELECT hour_start, site_id, funnel, step, step_name, d.dimension, d.segment, ms
  FROM funnel_progress
  CROSS JOIN UNNEST(ARRAY[ROW(CAST('all' AS STRING), CAST('all' AS STRING)), ROW(CAST('country' AS STRING), country),
                     ROW(CAST('device' AS STRING), device), ROW(CAST('plan' AS STRING), plan){% for p in properties %}, ROW(CAST('{{ p.name }}' AS STRING), {{ p.name }}){% endfor %}])
    AS d(dimension, segment)
),
counted AS (
  SELECT /*+ STATE_TTL('by_segment' = '1d') */
    hour_start, site_id, funnel, step, dimension, segment, MAX(step_name) AS step_name,
    COUNT(*) AS users, funnel_percentiles(ms) AS p
  FROM by_segment
  GROUP BY hour_start, site_id, funnel, step, dimension, segment
)
SELECT hour_start, site_id, funnel, step, dimension, segment, step_name, users,
  p.median_s AS median_s, p.p90_s AS p90_s
FROM counted
