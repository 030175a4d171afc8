-- One JDBC upsert sink per metric table; the runner fills in the columns (from the
-- metric's SELECT, as the planner resolves it) and the primary key (the metric's
-- `-- key:` header). The password comes from POSTGRES_WRITER_PASSWORD at submit time.
CREATE TABLE `${sink}` (
${columns},
  PRIMARY KEY (${key}) NOT ENFORCED
) WITH (
  'connector' = 'jdbc',
  'url' = '${jdbc_url}',
  'table-name' = '${table}',
  'username' = '${username}',
  'password' = '${password}',
  'sink.buffer-flush.max-rows' = '${flush_rows}',
  'sink.buffer-flush.interval' = '${flush_interval_ms} ms',
  'sink.max-retries' = '5'
)
