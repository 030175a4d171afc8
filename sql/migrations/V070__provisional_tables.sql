-- Provisional values of the live metrics: what the windows that are still open hold so
-- far, rewritten by the job about once a second (sql/metrics/*_provisional.sql). The final
-- rows stay in the metrics' own tables, written once when their window closes; the views
-- below show final rows where they exist and provisional rows for the open windows, with
-- a `provisional` column saying which is which.
--
-- These tables only serve "now": a statement trigger removes their rows older than two
-- hours (the final tables keep the history), so they stay small without `db prune`.

CREATE TABLE events_per_minute_provisional (
  window_start timestamptz NOT NULL,
  site_id      text NOT NULL,
  event_type   text NOT NULL,
  country      text NOT NULL,
  device       text NOT NULL,
  plan         text NOT NULL,
  events       bigint NOT NULL,
  PRIMARY KEY (window_start, site_id, event_type, country, device, plan)
);

CREATE TABLE top_pages_provisional (
  window_start timestamptz NOT NULL,
  site_id      text NOT NULL,
  page         text NOT NULL,
  views        bigint NOT NULL,
  unique_users bigint NOT NULL,
  PRIMARY KEY (window_start, site_id, page)
);

-- Every user once per site, in the 10-second bucket of their newest event and with that
-- event's segment: "users right now" is the sum over the last five minutes of buckets.
CREATE TABLE active_users_provisional (
  bucket  timestamptz NOT NULL,
  site_id text NOT NULL,
  country text NOT NULL,
  device  text NOT NULL,
  plan    text NOT NULL,
  users   bigint NOT NULL,
  PRIMARY KEY (bucket, site_id, country, device, plan)
);

-- Runs as the owner: the writer role may insert and update, not delete.
CREATE FUNCTION clickpulse_forget_old_provisional() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  EXECUTE format('DELETE FROM %I WHERE %I < now() - INTERVAL ''2 hours''', TG_TABLE_NAME, TG_ARGV[0]);
  RETURN NULL;
END;
$$;
CREATE TRIGGER forget_old AFTER INSERT ON events_per_minute_provisional
  FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_forget_old_provisional('window_start');
CREATE TRIGGER forget_old AFTER INSERT ON top_pages_provisional
  FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_forget_old_provisional('window_start');
CREATE TRIGGER forget_old AFTER INSERT ON active_users_provisional
  FOR EACH STATEMENT EXECUTE FUNCTION clickpulse_forget_old_provisional('bucket');

-- Events per minute over the last hour: the final row of every closed minute, and the
-- provisional rows of the minutes that have no final row for the site yet.
CREATE VIEW live_events_per_minute AS
SELECT window_start, site_id, event_type, country, device, plan, events, false AS provisional
FROM events_per_minute
WHERE window_start > now() - INTERVAL '1 hour'
UNION ALL
SELECT p.window_start, p.site_id, p.event_type, p.country, p.device, p.plan, p.events, true
FROM events_per_minute_provisional p
WHERE p.window_start > now() - INTERVAL '1 hour'
  AND NOT EXISTS (SELECT 1 FROM events_per_minute f
                  WHERE f.window_start = p.window_start AND f.site_id = p.site_id);

-- Users right now per site and segment of their newest event: users whose newest event is
-- in the five minutes up to the newest bucket anyone is in (the open window of
-- active_users_live), so a user counts once per site.
CREATE VIEW live_users_now AS
WITH newest AS (SELECT max(bucket) AS bucket FROM active_users_provisional
                WHERE bucket > now() - INTERVAL '2 hours')
SELECT newest.bucket + INTERVAL '10 seconds' AS window_end, p.site_id, p.country, p.device, p.plan,
       sum(p.users)::bigint AS users, true AS provisional
FROM active_users_provisional p, newest
WHERE p.bucket > newest.bucket - INTERVAL '5 minutes'
GROUP BY newest.bucket, p.site_id, p.country, p.device, p.plan;

-- Top pages of the open minute per site (provisional), ranked like top_pages_1m.
CREATE VIEW live_top_pages_now AS
WITH newest AS (SELECT site_id, max(window_start) AS window_start FROM top_pages_provisional
                WHERE window_start > now() - INTERVAL '15 minutes' GROUP BY site_id),
ranked AS (
  SELECT p.window_start, p.site_id, p.page, p.views, p.unique_users,
         row_number() OVER (PARTITION BY p.site_id ORDER BY p.views DESC, p.page) AS rank
  FROM top_pages_provisional p JOIN newest USING (site_id, window_start)
)
SELECT window_start, window_start + INTERVAL '1 minute' AS window_end, site_id, page, views, unique_users,
       rank::int AS rank, NOT EXISTS (SELECT 1 FROM top_pages_1m f WHERE f.window_start = ranked.window_start
                                      AND f.site_id = ranked.site_id) AS provisional
FROM ranked
WHERE rank <= 10;
