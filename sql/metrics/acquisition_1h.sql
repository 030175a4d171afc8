-- acquisition_1h: where sessions come from: sessions, users and conversions by channel,
--   source and campaign.
-- grain: one row per site, hour (UTC) of session start, channel, source and campaign; a
--        session is counted once it has ended (more than 30 minutes without an event), as
--        in sessions_1h
-- window: session windows per site and user with a 30-minute inactivity gap, on event time
-- watermark: event_time - CLICKPULSE_WATERMARK_DELAY_MS (default 5 s)
-- attribution: a session belongs to the campaign and referrer of its first event (at the
--   same millisecond, the smallest touch string below decides, so arrival order never does)
-- channel, from that event (first rule that holds):
--   utm_medium cpc, ppc, paid, paidsearch, paid_search, paid-search, sem -> Paid search
--   utm_medium display, banner, cpm                                      -> Display
--   utm_medium email, e-mail, e_mail, newsletter                         -> Email
--   utm_medium social, social-network, social-media, sm, paid_social,
--              paid-social, paidsocial                                   -> Social
--   utm_medium affiliate                                                 -> Affiliates
--   utm_medium referral                                                  -> Referral
--   any other utm tag                                                    -> Other campaign
--   referrer_domain google.*, bing.com, duckduckgo.com, yahoo.com, search.yahoo.com,
--     baidu.com, yandex.ru, yandex.com, ecosia.org, search.brave.com, startpage.com,
--     qwant.com                                                          -> Organic search
--   referrer_domain facebook.com, m.facebook.com, l.facebook.com, t.co, twitter.com, x.com,
--     linkedin.com, lnkd.in, reddit.com, old.reddit.com, news.ycombinator.com,
--     instagram.com, youtube.com, m.youtube.com, pinterest.com, tiktok.com, bsky.app  -> Social
--   any other referrer_domain                                            -> Referral
--   otherwise                                                            -> Direct
-- source: utm_source, else referrer_domain, else '(direct)'; campaign: utm_campaign, else '(none)'
-- conversions: sessions with at least one purchase event
-- key: hour_start, site_id, channel, source, campaign
WITH touches AS (
  -- each event's touch as one string that sorts by event time first: 13-digit epoch ms,
  -- channel, '|', the source's length in 4 digits, source, campaign (MIN picks the first)
  SELECT site_id, user_id, event_time, event_type,
    LPAD(CAST(ts AS STRING), 13, '0') || (
      CASE
        WHEN utm_medium IN ('cpc', 'ppc', 'paid', 'paidsearch', 'paid_search', 'paid-search', 'sem') THEN 'Paid search'
        WHEN utm_medium IN ('display', 'banner', 'cpm') THEN 'Display'
        WHEN utm_medium IN ('email', 'e-mail', 'e_mail', 'newsletter') THEN 'Email'
        WHEN utm_medium IN ('social', 'social-network', 'social-media', 'sm', 'paid_social', 'paid-social',
                            'paidsocial') THEN 'Social'
        WHEN utm_medium = 'affiliate' THEN 'Affiliates'
        WHEN utm_medium = 'referral' THEN 'Referral'
        WHEN utm_medium IS NOT NULL OR utm_source IS NOT NULL OR utm_campaign IS NOT NULL THEN 'Other campaign'
        WHEN referrer_domain LIKE 'google.%'
          OR referrer_domain IN ('bing.com', 'duckduckgo.com', 'yahoo.com', 'search.yahoo.com', 'baidu.com',
                                 'yandex.ru', 'yandex.com', 'ecosia.org', 'search.brave.com', 'startpage.com',
                                 'qwant.com') THEN 'Organic search'
        WHEN referrer_domain IN ('facebook.com', 'm.facebook.com', 'l.facebook.com', 't.co', 'twitter.com', 'x.com',
                                 'linkedin.com', 'lnkd.in', 'reddit.com', 'old.reddit.com', 'news.ycombinator.com',
                                 'instagram.com', 'youtube.com', 'm.youtube.com', 'pinterest.com', 'tiktok.com',
                                 'bsky.app') THEN 'Social'
        WHEN referrer_domain IS NOT NULL THEN 'Referral'
        ELSE 'Direct'
      END) || '|'
      || LPAD(CAST(CHAR_LENGTH(COALESCE(utm_source, referrer_domain, '(direct)')) AS STRING), 4, '0')
      || COALESCE(utm_source, referrer_domain, '(direct)')
      || COALESCE(utm_campaign, '(none)') AS touch
  FROM events_clean
),
session_touches AS (
  SELECT
    site_id,
    user_id,
    FLOOR(window_start TO HOUR) AS hour_start,
    MIN(touch) AS first_touch,
    MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS converted
  FROM TABLE(SESSION(TABLE touches PARTITION BY (site_id, user_id), DESCRIPTOR(event_time), INTERVAL '30' MINUTE))
  GROUP BY window_start, window_end, site_id, user_id
),
split_touches AS (
  -- the first touch taken apart: the channel runs from after the 13 digits up to '|'
  SELECT hour_start, site_id, user_id, converted,
    SUBSTRING(first_touch FROM 14 FOR POSITION('|' IN first_touch) - 14) AS channel,
    SUBSTRING(first_touch FROM POSITION('|' IN first_touch) + 1) AS rest
  FROM session_touches
),
sessions AS (
  -- then the source, whose length the 4 digits give, and the campaign after it
  SELECT hour_start, site_id, user_id, converted, channel,
    SUBSTRING(rest FROM 5 FOR CAST(SUBSTRING(rest FROM 1 FOR 4) AS INT)) AS source,
    SUBSTRING(rest FROM 5 + CAST(SUBSTRING(rest FROM 1 FOR 4) AS INT)) AS campaign
  FROM split_touches
)
-- sessions of an hour end up to a day later (long sessions): keep the hour's counts 2 days
SELECT /*+ STATE_TTL('sessions' = '2d') */
  hour_start,
  site_id,
  channel,
  source,
  campaign,
  COUNT(*) AS sessions,
  COUNT(DISTINCT user_id) AS users,
  CAST(SUM(converted) AS BIGINT) AS conversions
FROM sessions
GROUP BY hour_start, site_id, channel, source, campaign
