-- Phases are a closed set (state/migration-row.ts MIGRATION_PHASES, state/tables.ts
-- TABLE_PHASES): the server refuses any other value. Every phase pgferry ever wrote is in the
-- lists, so a control schema of a running migration takes the constraints when it resumes.
-- Idempotent (a rerun after a partial upgrade finds them in place).
alter table pgferry.migration drop constraint if exists migration_phase_check;
alter table pgferry.migration add constraint migration_phase_check
  check (phase in ('preparing', 'copying', 'indexing', 'streaming', 'cutover', 'switched', 'rolled-back', 'cleaned'));

alter table pgferry.tables drop constraint if exists tables_phase_check;
alter table pgferry.tables add constraint tables_phase_check
  check (phase in ('pending', 'copying', 'copied', 'indexing', 'indexed', 'streaming', 'paused'));
