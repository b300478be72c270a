import { ident, literal, qualified } from "../db/quote.js";

/** The id under which the heartbeat table's changes are logged. */
export const HEARTBEAT_TABLE_ID = 0;

/** One function per captured relation: the table, or each leaf partition of a partitioned table. */
export function captureFunctionName(tableId: number, leafOid?: number): string {
  return leafOid === undefined ? `capture_${tableId}` : `capture_${tableId}_p${leafOid}`;
}

/** jsonb_build_object('k1', r.k1, …) for the key columns of one transition table alias. */
function keyJson(alias: string, keyColumns: readonly string[]): string {
  return `jsonb_build_object(${keyColumns.map((k) => `${literal(k)}, ${alias}.${ident(k)}`).join(", ")})`;
}

/**
 * The per-table capture function: static SQL (plans are cached), SECURITY DEFINER so any role
 * that may write the table can append to the log, and a fixed search_path.
 * `truncateKey` is the log key of a TRUNCATE on this relation: null for the whole table; for a
 * leaf partition, the leaf's name, so only that partition is truncated on the target.
 */
export function captureFunctionSql(
  tableId: number,
  keyColumns: readonly string[],
  leaf: { schema: string; name: string; oid: number } | null,
): string {
  const relation = leaf;
  const fn = `pgferry.${ident(captureFunctionName(tableId, leaf?.oid))}`;
  const truncKey = relation
    ? `jsonb_build_object('schema', ${literal(relation.schema)}, 'name', ${literal(relation.name)})`
    : "null";
  return `
create or replace function ${fn}() returns trigger
language plpgsql security definer set search_path = pg_catalog, pgferry as $fn$
begin
  -- pgferry's own apply sessions (the reverse stream, or the forward one once reverse capture
  -- is on the target) set pgferry.apply: their writes must not be logged back.
  if current_setting('pgferry.apply', true) = 'on' then return null; end if;
  perform pgferry.fence();
  if tg_op = 'INSERT' then
    insert into pgferry.changes (tbl, op, key) select ${tableId}, 'I', ${keyJson("n", keyColumns)} from pgferry_new n;
  elsif tg_op = 'UPDATE' then
    insert into pgferry.changes (tbl, op, key)
      select ${tableId}, 'U', k from (
        select ${keyJson("n", keyColumns)} as k from pgferry_new n
        union
        select ${keyJson("o", keyColumns)} from pgferry_old o) u;
  elsif tg_op = 'DELETE' then
    insert into pgferry.changes (tbl, op, key) select ${tableId}, 'D', ${keyJson("o", keyColumns)} from pgferry_old o;
  elsif tg_op = 'TRUNCATE' then
    insert into pgferry.changes (tbl, op, key) values (${tableId}, 'T', ${truncKey});
  end if;
  return null;
end
$fn$`;
}

export const TRIGGER_NAMES = {
  insert: "pgferry_capture_ins",
  update: "pgferry_capture_upd",
  delete: "pgferry_capture_del",
  truncate: "pgferry_capture_trunc",
} as const;

/** The four statement-level triggers on one relation. */
export function triggerSql(tableId: number, schema: string, name: string, leafOid?: number): string[] {
  const rel = qualified(schema, name);
  const fn = `pgferry.${ident(captureFunctionName(tableId, leafOid))}()`;
  const T = TRIGGER_NAMES;
  // EXECUTE PROCEDURE is accepted by every version from 10 on (EXECUTE FUNCTION needs 11).
  return [
    `drop trigger if exists ${ident(T.insert)} on ${rel}`,
    `create trigger ${ident(T.insert)} after insert on ${rel} referencing new table as pgferry_new for each statement execute procedure ${fn}`,
    `drop trigger if exists ${ident(T.update)} on ${rel}`,
    `create trigger ${ident(T.update)} after update on ${rel} referencing old table as pgferry_old new table as pgferry_new for each statement execute procedure ${fn}`,
    `drop trigger if exists ${ident(T.delete)} on ${rel}`,
    `create trigger ${ident(T.delete)} after delete on ${rel} referencing old table as pgferry_old for each statement execute procedure ${fn}`,
    `drop trigger if exists ${ident(T.truncate)} on ${rel}`,
    `create trigger ${ident(T.truncate)} after truncate on ${rel} for each statement execute procedure ${fn}`,
  ];
}

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
$fn$`;

export const FENCE_DOWN_SQL = `
create or replace function pgferry.fence() returns void
language plpgsql as $fn$ begin end $fn$`;
