-- How far behind the jobs are: the newest window each windowed metric table has received
-- and its age in seconds. Read by the Pipeline health dashboard; each branch is one
-- backward index scan.
CREATE VIEW pipeline_health AS
SELECT metric, newest_window_end, extract(epoch FROM now() - newest_window_end)::double precision AS age_s
FROM (
  SELECT 'events_per_minute' AS metric, max(window_start) + INTERVAL '1 minute' AS newest_window_end
    FROM events_per_minute
  UNION ALL SELECT 'active_users_1m', max(window_start) + INTERVAL '1 minute' FROM active_users_1m
  UNION ALL SELECT 'active_users_live', max(window_end) FROM active_users_live
  UNION ALL SELECT 'top_pages_1m', max(window_start) + INTERVAL '1 minute' FROM top_pages_1m
  UNION ALL SELECT 'top_pages_1h', max(window_start) + INTERVAL '1 hour' FROM top_pages_1h
) newest;
