-- Malformed records, with the raw payload and the reason, to the dead-letter topic. The
-- collector writes the same shape for the events it rejects.
CREATE TABLE dead_letters (
  payload STRING,
  reason STRING,
  site_id STRING,
  kafka_ts TIMESTAMP_LTZ(3),
  kafka_partition INT,
  kafka_offset BIGINT,
  source STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '${dead_letter_topic}',
  'properties.bootstrap.servers' = '${kafka_bootstrap_servers}',
  'format' = 'json',
  'json.timestamp-format.standard' = 'ISO-8601',
  'sink.delivery-guarantee' = 'at-least-once'
)
