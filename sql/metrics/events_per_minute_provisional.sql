-- events_per_minute_provisional: the open minutes' events so far, rewritten about once a
--   second while the minute is open (the final count is events_per_minute's row, written
--   once the minute closes; it equals the last provisional value).
-- grain: one row per site, event type, country, device, plan and promoted properties per minute
-- window: none; a running count per minute of event time, kept 15 minutes after its last event
-- watermark: not waited for; late events are never counted (events_clean)
-- provisional: yes (final: events_per_minute)
-- key: window_start, site_id, event_type, country, device, plan{% for p in properties %}, {{ p.name }}{% endfor %}
SELECT /*+ STATE_TTL('events_clean' = '15min') */
  CAST(FLOOR(CAST(event_time AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)) AS window_start,
  site_id,
  event_type,
  country,
  device,
  plan,
  {% for p in properties %}{{ p.name }}, {% endfor %}-- the promoted properties, on one line so line numbers stay the file's
  COUNT(*) AS events
FROM events_clean
GROUP BY CAST(FLOOR(CAST(event_time AS TIMESTAMP(3)) TO MINUTE) AS TIMESTAMP(3)), site_id, event_type, country, device, plan{% for p in properties %}, {{ p.name }}{% endfor %}
