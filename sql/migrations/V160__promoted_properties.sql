-- Promoted properties (sql/properties.yaml): button and experiment become dimensions of
-- events_per_minute and its provisional table, part of their primary keys (the job's
-- upsert key), never NULL: 'none' when an event lacks the property. Rows written before
-- this migration had no such split and get 'none'. Adding a property later is the same
-- three statements per table in a new migration (docs/design.md "Promoted properties").
--
-- The hourly and daily rollups (V050, V051) keep their keys: their triggers group the
-- minute rows by site, type and segment and add up the events, so rows that differ only in
-- a promoted property are summed into the same bucket, as they should be.

ALTER TABLE events_per_minute
  ADD COLUMN button text NOT NULL DEFAULT 'none',
  ADD COLUMN experiment text NOT NULL DEFAULT 'none';
ALTER TABLE events_per_minute DROP CONSTRAINT events_per_minute_pkey,
  ADD PRIMARY KEY (window_start, site_id, event_type, country, device, plan, button, experiment);

ALTER TABLE events_per_minute_provisional
  ADD COLUMN button text NOT NULL DEFAULT 'none',
  ADD COLUMN experiment text NOT NULL DEFAULT 'none';
ALTER TABLE events_per_minute_provisional DROP CONSTRAINT events_per_minute_provisional_pkey,
  ADD PRIMARY KEY (window_start, site_id, event_type, country, device, plan, button, experiment);

-- The live view of V070 with the new columns (appended, as CREATE OR REPLACE VIEW requires).
CREATE OR REPLACE VIEW live_events_per_minute AS
SELECT window_start, site_id, event_type, country, device, plan, events, false AS provisional, button, experiment
FROM events_per_minute
WHERE window_start > now() - INTERVAL '1 hour'
UNION ALL
SELECT p.window_start, p.site_id, p.event_type, p.country, p.device, p.plan, p.events, true, p.button, p.experiment
FROM events_per_minute_provisional p
WHERE p.window_start > now() - INTERVAL '1 hour'
  AND NOT EXISTS (SELECT 1 FROM events_per_minute f
                  WHERE f.window_start = p.window_start AND f.site_id = p.site_id);

-- Ad hoc filters on any property of the raw events (analysts' SQL, CLICKPULSE_RAW_EVENTS):
-- `properties @> '{"button": "signup_cta"}'` (containment, the operator jsonb_path_ops
-- indexes; smaller and faster than the default jsonb_ops, which also serves key-exists
-- operators nobody here needs). A 30-day query at demo volume reads the index instead of
-- every row of the period (README "Event properties", `clickpulse bench
-- properties`).
CREATE INDEX events_properties ON events USING gin (properties jsonb_path_ops);
