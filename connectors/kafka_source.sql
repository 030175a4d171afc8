-- The events topic as Flink reads it. The clickpulse-event
-- format (connectors/event-parser) parses and validates each record once, before the
-- watermark: a malformed record arrives with `error` set and ts = 0, so it can neither
-- fail the job (a NULL rowtime would) nor move event time. The columns come from the
-- format's own list (EventColumn.java, the one place they are spelled), filled in by
-- the runner like the other placeholders (from the settings); no secret is written here.
CREATE TABLE raw_events (
${event_columns},
  kafka_ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  kafka_partition INT METADATA FROM 'partition' VIRTUAL,
  kafka_offset BIGINT METADATA FROM 'offset' VIRTUAL,
  proc_time AS PROCTIME(),
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '${watermark_delay}' DAY TO SECOND(3)
) WITH (
  -- the Kafka connector's source, with every record judged late, on time or a copy per
  -- partition as it is read (connectors/event-parser: dev.clickpulse.flink.judge); only
  -- `clickpulse bench pipeline` reads the topic unjudged, for its ceiling
  ${connector}
  'topic' = '${topic}',
  'properties.bootstrap.servers' = '${kafka_bootstrap_servers}',
  'properties.group.id' = '${group_id}',
  -- group-offsets: a new group starts at the beginning of the topics, a restart continues
  -- where the job stopped; `jobs submit --start-at` reads from a record time instead
  ${startup}
  'format' = 'clickpulse-event',
  'clickpulse-event.max-future-ms' = '${max_future_ms}'
)
