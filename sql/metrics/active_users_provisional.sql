-- active_users_provisional: "users right now" while its window is open: every user once
--   per site, in the 10-second bucket of their newest event, with that event's segment.
--   The sum of the buckets of the last five minutes is the open window of
--   active_users_live (the final count, written once the window closes); by segment, it
--   counts each user in the segment of their newest event.
-- grain: one row per site, bucket and segment (country x device x plan)
-- window: none; each user's newest bucket is kept 10 minutes after their last event (a
--   user not seen for 5 minutes no longer counts)
-- watermark: not waited for; late events are never counted (events_clean)
-- provisional: yes (final: active_users_live)
-- key: bucket, site_id, country, device, plan
WITH newest AS (
  -- per user, the newest (bucket, country, device, plan), compared as one string: the
  -- bucket's epoch milliseconds have 13 digits until the year 2286, and only the plan (last)
  -- may contain the separator
  SELECT /*+ STATE_TTL('events_clean' = '10min') */
    site_id, user_id,
    MAX(CAST(ts - MOD(ts, 10000) AS STRING) || '|' || country || '|' || device || '|' || plan) AS latest
  FROM events_clean
  GROUP BY site_id, user_id
),
split AS (
  SELECT site_id,
         CAST(TO_TIMESTAMP_LTZ(CAST(SPLIT_INDEX(latest, '|', 0) AS BIGINT), 3) AS TIMESTAMP(3)) AS bucket,
         SPLIT_INDEX(latest, '|', 1) AS country,
         SPLIT_INDEX(latest, '|', 2) AS device,
         SUBSTR(latest, 13 + CHAR_LENGTH(SPLIT_INDEX(latest, '|', 1)) + CHAR_LENGTH(SPLIT_INDEX(latest, '|', 2)) + 4)
           AS plan
  FROM newest
)
SELECT /*+ STATE_TTL('split' = '10min') */ bucket, site_id, country, device, plan, COUNT(*) AS users
FROM split
GROUP BY bucket, site_id, country, device, plan
