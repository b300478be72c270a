-- The size of the source's change log (issue 17, item 14: 349 MB in 25 minutes while nothing
-- streamed, and nothing said so). Measured by the stream; status shows it with its age.
alter table pgferry.migration
  add column if not exists log_bytes bigint,
  add column if not exists log_measured_at timestamptz;
