-- State of the rollback (issue 17). Idempotent so a renumbering never breaks an upgrade.

alter table pgferry.migration
  -- When the rollback first raised the target's fence: a rerun keeps it, so the measured
  -- window covers every attempt.
  add column if not exists rollback_fence_raised_at timestamptz,
  -- Set (durably, before the command runs) when the rollback's switch command is about to run,
  -- cleared when it fails: a migration still 'switched' with this set may already have moved
  -- the application back to the source, so the rollback is finished, never undone, and the
  -- reverse stream no longer applies to the source.
  add column if not exists rollback_switch_started_at timestamptz,
  -- When the rollback lowered the source's fence (null while it is up, as pgferry last set it):
  -- status reads the target only, so this is how it knows the source's side.
  add column if not exists source_unfenced_at timestamptz;
