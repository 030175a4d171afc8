-- What the Alerts dashboard's tables list (docs/design.md, "Alerts dashboard"): the alerts
-- open now and those of the last 7 days, and, so that no table is ever Superset's bare
-- "No results", one row per site (and for the pipeline, site 'all') saying it has none:
--   state 'ok'    : no alert open for the site          (the "Open alerts" table)
--   state 'quiet' : no alert in the last 7 days          (the "Alerts of the last 7 days" table)
-- The sites are those with events in the last 7 days; row-level security on site_id cuts
-- the rows per viewer as on every dataset.
CREATE VIEW alert_board AS
WITH listed AS (
  SELECT alert_id, rule, kind, severity, site_id, metric, state, value, expected_low, expected_high,
         window_start, window_end, fired_at, resolved_at, message
  FROM alerts
  WHERE state = 'firing' OR fired_at > now() - INTERVAL '7 days'
), sites AS (
  SELECT DISTINCT site_id FROM events_per_day WHERE bucket > now() - INTERVAL '8 days'
  UNION SELECT 'all'
  UNION SELECT site_id FROM listed
)
SELECT alert_id, rule, kind, severity, site_id, metric, state, value, expected_low, expected_high,
       window_start, window_end, fired_at, resolved_at, message, fired_at AS listed_at
FROM listed
UNION ALL
-- listed_at: the tables sort on it, newest first, the sites with nothing to list last
SELECT NULL, '—', NULL, NULL, s.site_id, NULL, v.state, NULL, NULL, NULL, NULL, NULL, NULL, NULL, v.message,
       'epoch'::timestamptz
FROM sites s
CROSS JOIN (VALUES ('ok', 'no alert open'), ('quiet', 'no alert in the last 7 days')) AS v(state, message)
WHERE NOT EXISTS (SELECT 1 FROM listed l WHERE l.site_id = s.site_id
                  AND (v.state = 'quiet' OR l.state = 'firing'));
