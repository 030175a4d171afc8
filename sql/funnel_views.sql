-- The funnels' shared view (after sql/views.sql), rendered from sql/funnels.yaml: the
-- funnel metrics (funnel_conversions, funnel_breakdown) both read funnel_progress, so the
-- planner runs its one aggregation per user and hour for all of them.
-- template: {{ '{{' }} ... {{ '}}' }} and {{ '{%' }} ... {{ '%}' }} blocks are rendered with the funnels
--
-- funnel_progress: one row per user, funnel, step the user has reached and hour (UTC) of
-- step 1, rewritten as the user's events arrive:
--   every event matching step 1 starts an attempt; the attempt reaches step k when events
--   matching steps 2..k follow in order, each strictly later in event time than the one
--   before and less than the window after step 1;
--   ms: the shortest time from a step-1 event of the hour to step k over the user's attempts
--   of the hour that reach step k (0 at step 1);
--   country, device, plan and the promoted properties of sql/properties.yaml (one column
--   each, named as there): of the user's first step-1 event of the hour (earliest; at the
--   same millisecond the smallest country, then device, then plan, then each promoted
--   property in the file's order): a user counts under one segment per funnel and hour.
-- funnel_reach carries the segment as one array in exactly that order (`segments` below);
-- element i of its result is column i again.
{% set segments = ['country', 'device', 'plan'] + properties | map(attribute='name') | list %}
CREATE TEMPORARY VIEW funnel_progress AS
WITH funnel_events AS (
  -- the events some funnel step matches; bit k-1 of m<i> is set when the event matches
  -- step k of funnel i
  SELECT site_id, user_id, ts, ARRAY[{{ segments | join(', ') }}] AS segment
  {%- for f in funnels %},
    0{% for s in f.steps %} + CASE WHEN {{ s.predicate() }} THEN {{ 2 ** loop.index0 }} ELSE 0 END{% endfor %} AS m{{ loop.index0 }}
  {%- endfor %}
  FROM events_clean
  WHERE {% for f in funnels %}{% set outer = loop %}{% for s in f.steps %}({{ s.predicate() }}){{ '' if outer.last and loop.last else ' OR ' }}{% endfor %}{% endfor %}
),
by_attempt_hour AS (
  -- an event serves the attempts of its own hour as a first step, and as a later step
  -- every attempt that started less than the window before it (possibly in earlier hours:
  -- one branch per hour back). A UNION ALL rather than a table function: a correlation
  -- would give each funnel metric's copy of this plan its own digest, and the planner would
  -- then run the aggregation below once per metric instead of sharing it.
  {%- set back = funnels | map(attribute='window_seconds') | max * 1000 %}
  SELECT site_id, user_id, ts, segment, ts - MOD(ts, 3600000) AS hour_ms{% for f in funnels %}, m{{ loop.index0 }}{% endfor %}
  FROM funnel_events
  {%- for k in range(1, (back + 3599999) // 3600000 + 1) %}
  UNION ALL
  SELECT site_id, user_id, ts, segment, ts - MOD(ts, 3600000) - {{ k * 3600000 }} AS hour_ms{% for f in funnels %}, m{{ loop.index0 }}{% endfor %}
  FROM funnel_events
  WHERE ({% for f in funnels %}m{{ loop.index0 }} > 1{{ '' if loop.last else ' OR ' }}{% endfor %})
    AND ts - MOD(ts, 3600000) - {{ k * 3600000 }} + 3600000 > ts - {{ back }} + 1
  {%- endfor %}
),
attempts AS (
  -- per user and hour of attempt start: how far the attempts have got so far, in how long,
  -- and the segment of the first one
  SELECT /*+ STATE_TTL('by_attempt_hour' = '1d') */
    CAST(TO_TIMESTAMP_LTZ(hour_ms, 3) AS TIMESTAMP(3)) AS hour_start, site_id, user_id
    {%- for f in funnels %},
    funnel_reach(ts, m{{ loop.index0 }}, hour_ms, {{ f.window_seconds * 1000 }}, {{ f.steps | length }}, segment) AS r{{ loop.index0 }}
    {%- endfor %}
  FROM by_attempt_hour
  GROUP BY hour_ms, site_id, user_id
),
steps_reached AS (
  -- one row per funnel and step each user has reached in the hour; every funnel's column
  -- goes through the one UNNEST, so the planner keeps a single aggregation for all funnels
  SELECT a.hour_start, a.site_id, a.user_id, f.funnel_no, f.step{% for c in segments %}, f.{{ c }}{% endfor %}, f.ms
  FROM attempts AS a
  CROSS JOIN UNNEST(ARRAY[
    {%- for f in funnels %}{% set outer = loop %}{% for st in f.steps %}
    ROW({{ outer.index0 }}, {{ loop.index }}, a.r{{ outer.index0 }}.reached{% for c in segments %}, a.r{{ outer.index0 }}.segment[{{ loop.index }}]{% endfor %}, a.r{{ outer.index0 }}.ms[{{ loop.index }}]){{ '' if outer.last and loop.last else ',' }}
    {%- endfor %}{% endfor %}
  ]) AS f(funnel_no, step, reached_step{% for c in segments %}, {{ c }}{% endfor %}, ms)
  WHERE f.step <= f.reached_step
)
SELECT hour_start, site_id, user_id,
  CASE funnel_no{% for f in funnels %} WHEN {{ loop.index0 }} THEN '{{ f.name }}'{% endfor %} END AS funnel,
  step,
  CASE{% for f in funnels %}{% set outer = loop %}{% for st in f.steps %} WHEN funnel_no = {{ outer.index0 }} AND step = {{ loop.index }} THEN '{{ st.name }}'{% endfor %}{% endfor %} END AS step_name,
  {{ segments | join(', ') }}, ms
FROM steps_reached;
