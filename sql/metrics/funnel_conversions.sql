-- funnel_conversions: users reaching each step of each funnel defined in sql/funnels.yaml.
-- grain: one row per site, funnel and step per hour (UTC) of the funnel's first step
-- window: none; each user's events are matched with MATCH_RECOGNIZE, in event-time order,
--   within the funnel's window after the first step; counts grow as users progress
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- input: events_on_time (duplicates cannot change whether a user reached a step)
-- semantics: every event matching step 1 starts an attempt; the attempt reaches step k
--   when events matching steps 2..k follow in order, each strictly later in event time
--   than the one before and less than the window after step 1. A user counts once per
--   funnel, step and hour of step 1 when any attempt starting in that hour reaches it.
-- template: rendered from sql/funnels.yaml ({{ '{{' }} ... {{ '}}' }} and {{ '{%' }} ... {{ '%}' }} blocks)
-- key: hour_start, site_id, funnel, step
SELECT /*+ STATE_TTL('reached' = '1d') */
  -- grouped by exactly the table's key (step_name follows from step), so each update is a
  -- plain upsert of that row
  hour_start, site_id, funnel, step, MAX(step_name) AS step_name, COUNT(DISTINCT user_id) AS users
FROM (
{%- for f in funnels %}
  {%- set outer = loop %}
  {%- for depth in range(1, f.steps | length + 1) %}
  {%- set last = f.steps[depth - 1] %}
  {{ '' if outer.first and loop.first else 'UNION ALL' }}
  {%- if depth == 1 %}
  -- {{ f.name }}, step 1 ({{ last.name }}): every user with a matching event
  SELECT CAST(FLOOR(CAST(event_time AS TIMESTAMP(3)) TO HOUR) AS TIMESTAMP(3)) AS hour_start, site_id,
         CAST('{{ f.name }}' AS STRING) AS funnel, 1 AS step, CAST('{{ last.name }}' AS STRING) AS step_name, user_id
  FROM events_on_time
  WHERE {{ last.predicate() }}
  {%- else %}
  -- {{ f.name }}, step {{ depth }} ({{ last.name }})
  SELECT CAST(FLOOR(CAST(start_time AS TIMESTAMP(3)) TO HOUR) AS TIMESTAMP(3)) AS hour_start, site_id,
         CAST('{{ f.name }}' AS STRING) AS funnel, {{ depth }} AS step, CAST('{{ last.name }}' AS STRING) AS step_name, user_id
  FROM (
    SELECT site_id, user_id, event_time, event_type, page FROM events_on_time
    WHERE {% for s in f.steps[:depth] %}({{ s.predicate() }}){{ ' OR ' if not loop.last }}{% endfor %}
  )
  MATCH_RECOGNIZE (
    PARTITION BY site_id, user_id
    ORDER BY event_time
    MEASURES S1.event_time AS start_time
    ONE ROW PER MATCH
    AFTER MATCH SKIP TO NEXT ROW
    PATTERN ({% for i in range(1, depth + 1) %}S{{ i }}{{ ' Z%d*? ' % i if i < depth }}{% endfor %}) WITHIN {{ f.window_sql }}
    DEFINE
      S1 AS {{ f.steps[0].predicate('S1') }}
      {%- for i in range(2, depth + 1) %},
      S{{ i }} AS {{ f.steps[i - 1].predicate('S%d' % i) }} AND S{{ i }}.event_time > LAST(S{{ i - 1 }}.event_time)
      {%- endfor %}
  )
  {%- endif %}
  {%- endfor %}
{%- endfor %}
) AS reached
GROUP BY hour_start, site_id, funnel, step
