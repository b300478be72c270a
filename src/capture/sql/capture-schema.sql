-- The capture schema on the source. Created by the application role itself: no superuser.
create schema if not exists pgferry;
revoke all on schema pgferry from public;

-- One row per changed key. txid is epoch-extended (64-bit); windows select by txid snapshot,
-- never by id (ids are not commit order).
create table if not exists pgferry.changes (
  id bigserial primary key,
  txid bigint not null default txid_current(),
  tbl int not null,
  op "char" not null,
  key jsonb
);
create index if not exists changes_tbl_txid on pgferry.changes (tbl, txid);

-- pgferry writes now() here every second; replicated like a row, it measures lag.
create table if not exists pgferry.heartbeat (id int primary key, beat_at timestamptz not null);

create table if not exists pgferry.meta (key text primary key, value text not null);

-- Called first by every capture function. A no-op until cutover replaces it with one that
-- raises: that is the write fence. plpgsql looks the function up at each call, so replacing
-- it takes effect at once, for every table, in one statement.
create or replace function pgferry.fence() returns void
language plpgsql as $fn$ begin end $fn$;
