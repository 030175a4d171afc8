-- events_per_minute: how many events of each type each site receives, by segment and promoted property.
-- grain: one row per site, event type, country, device, plan and promoted properties per minute
-- window: 1-minute tumbling windows on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s); later events go to late_events
-- properties: one column per promoted property of sql/properties.yaml ('none' when absent)
-- key: window_start, site_id, event_type, country, device, plan{% for p in properties %}, {{ p.name }}{% endfor %}
SELECT
  window_start,
  window_end,
  site_id,
  event_type,
  country,
  device,
  plan,
  {% for p in properties %}{{ p.name }}, {% endfor %}-- the promoted properties, on one line so line numbers stay the file's
  COUNT(*) AS events
FROM TABLE(TUMBLE(TABLE events_clean, DESCRIPTOR(event_time), INTERVAL '1' MINUTE))
GROUP BY window_start, window_end, site_id, event_type, country, device, plan{% for p in properties %}, {{ p.name }}{% endfor %}
