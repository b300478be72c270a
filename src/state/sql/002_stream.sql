-- State of the stream stage (issue 4). Idempotent so a renumbering never breaks an upgrade.

-- Measured by the stream on the source and stored here, so `status` reads the target alone.
alter table pgferry.migration
  -- Source log rows not yet applied, over the tables that stream (counted every few seconds).
  add column if not exists pending_changes bigint,
  add column if not exists pending_at timestamptz,
  -- now() - heartbeat_at when the stream last measured it (status may also compute it live).
  add column if not exists lag_seconds double precision,
  -- Log rows applied per second over the last measuring interval.
  add column if not exists stream_rate double precision,
  -- When a running stream last refreshed these figures: a stale value means no stream runs.
  add column if not exists stream_updated_at timestamptz;

alter table pgferry.tables
  add column if not exists pending_changes bigint,
  -- When the last window (even an empty one) committed.
  add column if not exists last_window_at timestamptz,
  -- The source heartbeat as of this table's position: the table's own lag.
  add column if not exists beat_at timestamptz,
  -- The source table's oid, recorded at its first window: finds it again after a rename.
  add column if not exists source_oid bigint,
  add column if not exists streaming_since timestamptz;
