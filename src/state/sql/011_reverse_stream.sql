-- The rollback window's reverse stream as `pgferry status` shows it (issue 13). Status reads the
-- target only, and the reverse positions live on the source: each round also notes here when it
-- applied and how many changes it brought back in all.
alter table pgferry.migration
  add column if not exists reverse_applied_at timestamptz,
  add column if not exists reverse_changes_applied bigint not null default 0;
