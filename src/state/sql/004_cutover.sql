-- State of the cutover (issue 5). Idempotent so a renumbering never breaks an upgrade.

alter table pgferry.post_data
  -- A foreign key the cutover added as NOT VALID: validated right after the switch.
  add column if not exists validate_after_switch boolean not null default false,
  add column if not exists validated_at timestamptz;

-- Set when the switch command is about to run, cleared when it fails: a cutover found in phase
-- 'cutover' with this set may already have moved the application, so it is finished, never undone.
alter table pgferry.migration add column if not exists switch_started_at timestamptz;

-- One row per cutover or rollback step run: where an interrupted one stopped, and how long
-- each step held the fence.
create table if not exists pgferry.cutover_steps (
  id bigserial primary key,
  operation text not null,
  attempt int not null,
  step text not null,
  state text not null,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  ms bigint,
  error text
);
