-- The capture schema on the source. Created by the application role itself: no superuser.
create schema if not exists pgferry;
revoke all on schema pgferry from public;

-- One row per changed key. txid is epoch-extended (64-bit); windows select by txid snapshot.
-- No id column: insertion order is not commit order, so nothing may rely on one, and a
-- sequence and a second index would cost every captured write (cleanup deletes by ctid).
create table if not exists pgferry.changes (
  txid bigint not null default txid_current(),
  tbl int not null,
  op "char" not null,
  key jsonb
);
create index if not exists changes_tbl_txid on pgferry.changes (tbl, txid);

-- pgferry writes now() here four times a second; replicated like a row, it measures lag.
create table if not exists pgferry.heartbeat (id int primary key, beat_at timestamptz not null);

create table if not exists pgferry.meta (key text primary key, value text not null);

-- The write fence. A no-op until cutover replaces it with one that raises, in the same
-- transaction that swaps every capture function's body for one that calls it (FENCE_UP_SQL);
-- the live bodies wait in pgferry.fenced until the fence is lowered. Its source also tells
-- whether the fence is up. Created only when missing: installing again must not lower a
-- raised fence (the fenced bodies would then let writes through unlogged).
do $do$
begin
  if pg_catalog.to_regprocedure('pgferry.fence()') is null then
    create function pgferry.fence() returns void language plpgsql as $fn$ begin end $fn$;
  end if;
end
$do$;
create table if not exists pgferry.fenced (name text primary key, body text not null);
