-- funnel_conversions: users reaching each step of each funnel defined in sql/funnels.yaml.
-- grain: one row per site, funnel and step per hour (UTC) of the funnel's first step
-- window: none; each user's attempts are followed as their events arrive (funnel_reach),
--   within the funnel's window after the first step; counts grow as users progress and
--   are written within a second of the event, without waiting for the watermark
-- watermark: not used; late events (behind the watermark) are not counted (events_clean)
-- semantics: every event matching step 1 starts an attempt; the attempt reaches step k
--   when events matching steps 2..k follow in order, each strictly later in event time
--   than the one before and less than the window after step 1. A user counts once per
--   funnel, step and hour of step 1 when any attempt starting in that hour reaches it.
-- template: rendered from sql/funnels.yaml ({{ '{{' }} ... {{ '}}' }} and {{ '{%' }} ... {{ '%}' }} blocks)
-- key: hour_start, site_id, funnel, step
WITH funnel_events AS (
  -- the events some funnel step matches; bit k-1 of m<i> is set when the event matches
  -- step k of funnel i
  SELECT site_id, user_id, ts
  {%- for f in funnels %},
    0{% for s in f.steps %} + CASE WHEN {{ s.predicate() }} THEN {{ 2 ** loop.index0 }} ELSE 0 END{% endfor %} AS m{{ loop.index0 }}
  {%- endfor %}
  FROM events_clean
  WHERE {% for f in funnels %}{% set outer = loop %}{% for s in f.steps %}({{ s.predicate() }}){{ '' if outer.last and loop.last else ' OR ' }}{% endfor %}{% endfor %}
),
by_attempt_hour AS (
  -- an event serves the attempts of its own hour as a first step, and as a later step
  -- every attempt that started less than the window before it (possibly last hour)
  SELECT site_id, user_id, ts, hour_ms{% for f in funnels %}, m{{ loop.index0 }}{% endfor %}
  FROM funnel_events,
    LATERAL TABLE(funnel_hours(ts, CASE WHEN {% for f in funnels %}m{{ loop.index0 }} > 1{{ '' if loop.last else ' OR ' }}{% endfor %}
                                        THEN {{ funnels | map(attribute='window_seconds') | max * 1000 }} ELSE 0 END)) AS h(hour_ms)
),
reached AS (
  -- per user and hour of attempt start: the deepest step any attempt has reached so far
  SELECT /*+ STATE_TTL('by_attempt_hour' = '1d') */
    CAST(TO_TIMESTAMP_LTZ(hour_ms, 3) AS TIMESTAMP(3)) AS hour_start, site_id, user_id
    {%- for f in funnels %},
    funnel_reach(ts, m{{ loop.index0 }}, hour_ms, {{ f.window_seconds * 1000 }}, {{ f.steps | length }}) AS r{{ loop.index0 }}
    {%- endfor %}
  FROM by_attempt_hour
  GROUP BY hour_ms, site_id, user_id
),
steps_reached AS (
  -- one row per funnel and step each user has reached in the hour; every funnel's column
  -- goes through the one UNNEST, so the planner keeps a single aggregation for all funnels
  SELECT hour_start, site_id, f.funnel_no, f.step, user_id
  FROM reached
  CROSS JOIN UNNEST(ARRAY[
    {%- for f in funnels %}{% set outer = loop %}{% for st in f.steps %}
    ROW({{ outer.index0 }}, {{ loop.index }}, r{{ outer.index0 }}){{ '' if outer.last and loop.last else ',' }}
    {%- endfor %}{% endfor %}
  ]) AS f(funnel_no, step, reached_step)
  WHERE f.step <= f.reached_step
),
named AS (
  SELECT hour_start, site_id,
    CASE funnel_no{% for f in funnels %} WHEN {{ loop.index0 }} THEN '{{ f.name }}'{% endfor %} END AS funnel,
    step,
    CASE{% for f in funnels %}{% set outer = loop %}{% for st in f.steps %} WHEN funnel_no = {{ outer.index0 }} AND step = {{ loop.index }} THEN '{{ st.name }}'{% endfor %}{% endfor %} END AS step_name,
    user_id
  FROM steps_reached
)
SELECT /*+ STATE_TTL('named' = '1d') */
  -- grouped by exactly the table's key (step_name follows from step), so each update is a
  -- plain upsert of that row; each user appears once per key
  hour_start, site_id, funnel, step, MAX(step_name) AS step_name, COUNT(*) AS users
FROM named
GROUP BY hour_start, site_id, funnel, step
