-- Liveness of `pgferry start` (issue 13): each running start keeps one row here, refreshed
-- every few seconds and deleted on a clean exit. A row gone stale is a start that died
-- (kill -9, a lost machine). `status` tells from it whether anything streams at all.
create table if not exists pgferry.start_heartbeats (
  id text primary key,
  host text not null,
  pid int not null,
  -- 'prepare', 'copy', 'forward stream', 'reverse stream' or 'waiting' (a cutover or rollback runs)
  role text not null,
  started_at timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);

-- When the last start that exited cleanly left (its row is gone then): "no start since …".
alter table pgferry.migration add column if not exists start_left_at timestamptz;
