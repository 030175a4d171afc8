-- Alert transitions (sql/alerts/*.yaml) to the alerts topic: key = alert_id, the value is
-- the JSON record of docs/design.md *Alerts*. At-least-once: after a restore the job may
-- write a transition of the last checkpoint interval again, with the same alert_id and
-- state, which the notifier de-duplicates; exactly-once would hold every record back
-- until the next checkpoint (10 s) and miss the alert latency target.
CREATE TABLE alerts_topic (
${columns}
) WITH (
  'connector' = 'kafka',
  'topic' = '${alerts_topic}',
  'properties.bootstrap.servers' = '${kafka_bootstrap_servers}',
  'key.format' = 'raw',
  'key.fields' = 'alert_id',
  'value.format' = 'json',
  'value.fields-include' = 'ALL',
  'value.json.timestamp-format.standard' = 'ISO-8601',
  'sink.delivery-guarantee' = 'at-least-once'
)
