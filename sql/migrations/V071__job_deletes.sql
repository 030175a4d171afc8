-- Tables whose rows the job itself removes. The writer role may insert and update the
-- metric tables, not delete from them, except in the tables listed here (granted by
-- `clickpulse db migrate` to POSTGRES_WRITER_USER):
--   active_users_provisional: when every user of a bucket has moved on to a newer one, the
--   bucket's row is deleted.
CREATE TABLE clickpulse_job_deletes (
  table_name text PRIMARY KEY
);
INSERT INTO clickpulse_job_deletes VALUES ('active_users_provisional');
