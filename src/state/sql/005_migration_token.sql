-- The migration's token (issue 17, items 1 and 6): a random secret that names this migration
-- on the source (pgferry.meta 'migration': the one migration whose stream may read and trim
-- the log there) and is the only value of pgferry.apply that the fence and the capture let
-- through. New migrations get one from a CSPRNG (prepare); this default only fills rows
-- created before the column existed. Never printed: status and events do not read it.
alter table pgferry.migration
  add column if not exists token text not null
  default md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text);
