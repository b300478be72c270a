import { ident, literal, qualified } from "../db/quote.js";

/** The id under which the heartbeat table's changes are logged. */
export const HEARTBEAT_TABLE_ID = 0;

/** One function per captured relation: the table, or each leaf partition of a partitioned table. */
export function captureFunctionName(tableId: number, leafOid?: number): string {
  return leafOid === undefined ? `capture_${tableId}` : `capture_${tableId}_p${leafOid}`;
}

// The capture functions are SECURITY DEFINER without a SET clause: a SET costs a GUC save
// and restore on every call (+20 % of the trigger's cost on TPC-B). Instead every name in the
// body is schema-qualified, operators and types included, so a caller's search_path cannot
// redirect anything the function runs as its owner.
const EQ = "operator(pg_catalog.=)";

/** pg_catalog.jsonb_build_object('k1', r.k1, …) for the key columns of the row `r` (new or old). */
function keyJson(row: "new" | "old", keyColumns: readonly string[]): string {
  return `pg_catalog.jsonb_build_object(${keyColumns.map((k) => `${literal(k)}, ${row}.${ident(k)}`).join(", ")})`;
}

function logInsert(tableId: number, op: string, ...keys: string[]): string {
  return `insert into pgferry.changes (tbl, op, key) values ${keys.map((k) => `(${tableId}, '${op}', ${k})`).join(", ")};`;
}

/**
 * The per-relation capture function, called by row triggers for INSERT, UPDATE and DELETE and
 * by a statement trigger for TRUNCATE. Static SQL (plpgsql caches the plans), SECURITY DEFINER
 * so any role that may write the table can append to the log.
 * `truncateKey` of a TRUNCATE: null for the whole table; for a leaf partition, the leaf's
 * name, so only that partition is truncated on the target.
 *
 * The write fence is not tested here: raising it swaps this body for fencedBody() (see
 * FENCE_UP_SQL), so an unfenced write pays nothing for it.
 */
export function captureFunctionSql(
  tableId: number,
  keyColumns: readonly string[],
  leaf: { schema: string; name: string; oid: number } | null,
): string {
  const id = Math.trunc(tableId);
  const fn = `pgferry.${ident(captureFunctionName(id, leaf?.oid))}`;
  const truncKey = leaf
    ? `pg_catalog.jsonb_build_object('schema', ${literal(leaf.schema)}, 'name', ${literal(leaf.name)})`
    : "null";
  return `
create or replace function ${fn}() returns trigger
language plpgsql security definer as $fn$
declare
  k pg_catalog.jsonb;
begin
  -- pgferry's own apply sessions (the reverse stream, or the forward one once reverse capture
  -- is on the target) set pgferry.apply: their writes must not be logged back.
  if pg_catalog.current_setting('pgferry.apply', true) ${EQ} 'on' then return null; end if;
  if tg_op ${EQ} 'UPDATE' then
    -- A key update logs the old key too, so the target deletes it.
    k := ${keyJson("new", keyColumns)};
    if k ${EQ} ${keyJson("old", keyColumns)} then
      ${logInsert(id, "U", "k")}
    else
      ${logInsert(id, "U", "k", keyJson("old", keyColumns))}
    end if;
  elsif tg_op ${EQ} 'INSERT' then
    ${logInsert(id, "I", keyJson("new", keyColumns))}
  elsif tg_op ${EQ} 'DELETE' then
    ${logInsert(id, "D", keyJson("old", keyColumns))}
  else
    ${logInsert(id, "T", truncKey)}
  end if;
  return null;
end
$fn$`;
}

/**
 * What every capture function becomes while the fence is up: apply sessions pass (unlogged,
 * as always), every other write fails at once in pgferry.fence().
 */
export const FENCED_BODY = `
begin
  if pg_catalog.current_setting('pgferry.apply', true) ${EQ} 'on' then return null; end if;
  perform pgferry.fence();
  return null;
end
`;

export const TRIGGER_NAMES = {
  insert: "pgferry_capture_ins",
  update: "pgferry_capture_upd",
  delete: "pgferry_capture_del",
  truncate: "pgferry_capture_trunc",
} as const;

/**
 * The triggers of one relation. Row changes: three AFTER … FOR EACH ROW triggers on the table
 * (on a partitioned table PostgreSQL clones them onto every partition, present and future, so
 * leaves get none of their own). TRUNCATE: a statement trigger on the table and on each leaf
 * (a leaf can be truncated alone).
 */
export function triggerSql(tableId: number, schema: string, name: string, leafOid?: number): string[] {
  const rel = qualified(schema, name);
  const fn = `pgferry.${ident(captureFunctionName(tableId, leafOid))}()`;
  const T = TRIGGER_NAMES;
  // EXECUTE PROCEDURE is accepted by every version from 10 on (EXECUTE FUNCTION needs 11).
  const truncate = [
    `drop trigger if exists ${ident(T.truncate)} on ${rel}`,
    `create trigger ${ident(T.truncate)} after truncate on ${rel} for each statement execute procedure ${fn}`,
  ];
  if (leafOid !== undefined) return truncate;
  return [
    `drop trigger if exists ${ident(T.insert)} on ${rel}`,
    `create trigger ${ident(T.insert)} after insert on ${rel} for each row execute procedure ${fn}`,
    `drop trigger if exists ${ident(T.update)} on ${rel}`,
    `create trigger ${ident(T.update)} after update on ${rel} for each row execute procedure ${fn}`,
    `drop trigger if exists ${ident(T.delete)} on ${rel}`,
    `create trigger ${ident(T.delete)} after delete on ${rel} for each row execute procedure ${fn}`,
    ...truncate,
  ];
}

// The capture functions' saved bodies live in pgferry.fenced while the fence is up; raising
// and lowering both run in one transaction, so the swap is all-or-nothing. plpgsql checks a
// function's catalog row at every call: from the commit on, every session runs the new body.
const CAPTURE_FUNCTIONS = `select p.proname::text as name, p.prosrc from pg_catalog.pg_proc p
   where p.pronamespace = 'pgferry'::regnamespace and p.proname like 'capture\\_%'`;

/** The fence raised: every capture function call (so every write) fails at once. */
export const FENCE_UP_SQL = `
create or replace function pgferry.fence() returns void
language plpgsql as $fn$
begin
  -- pgferry's apply sessions (the reverse stream writing into a fenced source) pass.
  if current_setting('pgferry.apply', true) = 'on' then return; end if;
  raise exception 'pgferry: writes are paused while this database is switched over'
    using errcode = '25006', hint = 'This database is being migrated; retry against the new database.';
end
$fn$;
do $do$
declare f record;
begin
  for f in ${CAPTURE_FUNCTIONS} loop
    -- A body already fenced stays saved as it was; a live one (new, or installed again while
    -- the fence was up) is saved and fenced.
    if f.prosrc is distinct from ${literal(FENCED_BODY)} then
      insert into pgferry.fenced (name, body) values (f.name, f.prosrc)
        on conflict (name) do update set body = excluded.body;
    end if;
    execute format('create or replace function pgferry.%I() returns trigger language plpgsql security definer as %L',
                   f.name, ${literal(FENCED_BODY)});
  end loop;
end
$do$`;

/** The fence lowered: every capture function gets its own body back. */
export const FENCE_DOWN_SQL = `
create or replace function pgferry.fence() returns void
language plpgsql as $fn$ begin end $fn$;
do $do$
declare f record;
begin
  if pg_catalog.to_regclass('pgferry.fenced') is null then return; end if;
  for f in select name, body from pgferry.fenced loop
    if exists (select 1 from pg_catalog.pg_proc p where p.pronamespace = 'pgferry'::regnamespace and p.proname = f.name) then
      execute format('create or replace function pgferry.%I() returns trigger language plpgsql security definer as %L',
                     f.name, f.body);
    end if;
  end loop;
  delete from pgferry.fenced;
end
$do$`;
