-- events: the raw, validated, deduplicated, on-time events, for analysts' ad-hoc SQL.
-- grain: one row per event
-- window: none (set CLICKPULSE_RAW_EVENTS=false to stop writing raw events)
-- watermark: late events are not written here (they are counted in late_events)
-- switch: CLICKPULSE_RAW_EVENTS
-- key: event_time, event_id
SELECT
  -- the JDBC connector writes TIMESTAMP, not TIMESTAMP_LTZ; both are UTC here
  CAST(event_time AS TIMESTAMP(3)) AS event_time,
  event_id,
  event_type,
  site_id,
  user_id,
  session_id,
  page,
  referrer,
  country,
  device,
  plan,
  properties,
  schema_version,
  utm_source,
  utm_medium,
  utm_campaign,
  referrer_domain
FROM events_clean
