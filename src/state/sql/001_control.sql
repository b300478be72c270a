-- The control schema on the target: all migration state. Numbered files are applied in order
-- once each; never edit a released file, add the next number.
create table pgferry.migration (
  id boolean primary key default true check (id),
  source_display text not null,
  source_identity text not null,
  phase text not null default 'preparing',
  start_position text,
  options jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  copy_started_at timestamptz,
  copy_finished_at timestamptz,
  heartbeat_at timestamptz,
  fence_raised_at timestamptz,
  switched_at timestamptz,
  unavailable_ms bigint,
  rollback_window boolean not null default false,
  reverse_position text,
  rolled_back_at timestamptz
);

create table pgferry.tables (
  id int primary key,
  schema_name text not null,
  table_name text not null,
  -- 'table' or 'partitioned' (copied through its leaf partitions, streamed through the root)
  kind text not null default 'table',
  key_columns text[] not null,
  -- [{ "name", "type", "generated", "identity" }], the columns as on the source at prepare
  columns jsonb not null,
  -- A signature of the columns; a change on the source means DDL happened.
  shape text not null,
  phase text not null default 'pending',
  rows_estimate bigint not null default 0,
  bytes_estimate bigint not null default 0,
  rows_done bigint not null default 0,
  bytes_done bigint not null default 0,
  position text,
  changes_applied bigint not null default 0,
  paused_reason text,
  copied_at timestamptz,
  indexed_at timestamptz,
  unique (schema_name, table_name)
);

create table pgferry.chunks (
  table_id int not null references pgferry.tables (id) on delete cascade,
  chunk_no int not null,
  -- The physical relation read and written (a leaf partition, or the table itself).
  schema_name text not null,
  table_name text not null,
  -- A WHERE fragment over that relation, built by pgferry with quoted identifiers and
  -- literals; null means the whole relation.
  predicate text,
  rows_estimate bigint not null default 0,
  done boolean not null default false,
  rows bigint,
  bytes bigint,
  worker text,
  done_at timestamptz,
  primary key (table_id, chunk_no)
);
create index chunks_todo on pgferry.chunks (table_id, chunk_no) where not done;

-- Post-data DDL from pg_dump: built per table after its copy (stage 'index') or at cutover.
create table pgferry.post_data (
  id serial primary key,
  table_id int references pgferry.tables (id) on delete cascade,
  kind text not null,
  name text not null,
  statement text not null,
  stage text not null,
  done boolean not null default false,
  done_at timestamptz
);

create table pgferry.sequences (
  schema_name text not null,
  sequence_name text not null,
  last_value bigint,
  is_called boolean,
  synced_at timestamptz,
  primary key (schema_name, sequence_name)
);

create table pgferry.events (
  id bigserial primary key,
  at timestamptz not null default now(),
  level text not null,
  kind text not null,
  message text not null,
  details jsonb
);
