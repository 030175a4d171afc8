-- Views behind the dashboards' "now" and pipeline charts (both backends). As database
-- views they are physical datasets to Superset, which otherwise parses a virtual
-- dataset's SQL several times on every chart request and opens an extra connection to
-- look up the default schema for it: most of a small chart's time.

-- The newest complete minute of top_pages_1m for each site; a site that sent nothing for
-- 15 minutes has no rows ("now" must not show stale pages). One short index range scan.
CREATE VIEW live_top_pages AS
SELECT t.window_start, t.window_end, t.site_id, t.page, t.views, t.unique_users, t.rank
FROM top_pages_1m t
JOIN (SELECT site_id, max(window_start) AS window_start
      FROM top_pages_1m
      WHERE window_start > now() - INTERVAL '15 minutes'
      GROUP BY site_id) latest USING (site_id, window_start);

-- The newest complete minute of active_users_1m for each site, every segment row
-- ('all' in the rolled-up columns): distinct counts, never to be added across rows.
CREATE VIEW live_active_users AS
SELECT t.window_start, t.window_end, t.site_id, t.country, t.device, t.plan, t.users
FROM active_users_1m t
JOIN (SELECT site_id, max(window_start) AS window_start
      FROM active_users_1m
      WHERE window_start > now() - INTERVAL '15 minutes'
      GROUP BY site_id) latest USING (site_id, window_start);

-- Events in per minute, by kind: valid events (counted by the metrics, per minute of
-- event time), late events (behind the watermark) and invalid records, both per minute
-- of arrival. Time and site predicates reach every branch.
CREATE VIEW pipeline_events_per_minute AS
SELECT window_start AS minute, site_id, 'valid'::text AS kind, sum(events)::bigint AS events
FROM events_per_minute
GROUP BY window_start, site_id
UNION ALL
SELECT minute, site_id, 'late'::text, events
FROM late_events
UNION ALL
SELECT minute, site_id, 'invalid'::text, sum(events)::bigint
FROM invalid_events
GROUP BY minute, site_id;
