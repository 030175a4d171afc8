-- The same columns as kafka_source.sql (and the envelope's kafka_ts_ms, kafka_partition
-- and kafka_offset, from the same EventColumn.java), read from a file of recorded Kafka records
-- ({"payload": "<record>", "kafka_ts_ms": .., "kafka_partition": .., "kafka_offset": ..}
-- per line, in arrival order). Lets every metric run on in-memory rows, without Kafka or a
-- cluster, through exactly the parsing, views and SQL that the deployed job runs.
CREATE TABLE raw_events (
${event_columns},
  kafka_ts AS TO_TIMESTAMP_LTZ(kafka_ts_ms, 3),
  proc_time AS PROCTIME(),
  event_time AS TO_TIMESTAMP_LTZ(ts, 3),
  WATERMARK FOR event_time AS event_time - INTERVAL '${watermark_delay}' DAY TO SECOND(3)
) WITH (
  'connector' = 'filesystem',
  'path' = '${path}',
  'format' = 'clickpulse-event',
  'clickpulse-event.envelope' = 'true',
  'clickpulse-event.max-future-ms' = '${max_future_ms}'
)
