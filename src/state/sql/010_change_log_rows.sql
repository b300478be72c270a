-- The number of rows in the source's change log (issue 16: the monitor's capture-log gauges),
-- measured with its bytes. The statistics' live-row estimate: counting a large log would cost
-- a full scan every few seconds.
alter table pgferry.migration add column if not exists log_rows bigint;
