import { ident, literal, qualified } from "../db/quote.js";
import { SQLSTATE } from "../db/sqlstate.js";
import { type KeyFormat, PLAIN_KEY_FORMAT } from "./key-format.js";
import { APPLY_SESSION_TEST, DDL_SESSION_TEST } from "./ownership.js";

/** The id under which the heartbeat table's changes are logged. */
export const HEARTBEAT_TABLE_ID = 0;

export type CaptureOp = "ins" | "upd" | "del" | "trunc";

/**
 * One function per captured relation and operation: the table's insert, update, delete and
 * truncate functions, and each leaf partition's truncate function. One body per operation has
 * no branch on tg_op to evaluate: plpgsql sets up each expression again in every transaction.
 */
export function captureFunctionName(tableId: number, op: CaptureOp, leafOid?: number): string {
  return leafOid === undefined ? `capture_${tableId}_${op}` : `capture_${tableId}_p${leafOid}_${op}`;
}

// The capture functions are SECURITY DEFINER without a SET clause: a SET costs a GUC save
// and restore on every call (+20 % of the trigger's cost on TPC-B). Instead every name in the
// body is schema-qualified, operators and types included, so a caller's search_path cannot
// redirect anything the function runs as its owner. Only a key whose text output depends on
// the caller's settings (floats, intervals, … see keyFormatFor) gets a SET clause pinning them.
const EQ = "operator(pg_catalog.=)";

/** pg_catalog.jsonb_build_object('k1', r.k1, …) for the key columns of the row `r` (new or old). */
function keyJson(row: "new" | "old", keyColumns: readonly string[]): string {
  return `pg_catalog.jsonb_build_object(${keyColumns.map((k) => `${literal(k)}, ${row}.${ident(k)}`).join(", ")})`;
}

function keyUnchanged(keyColumns: readonly string[], equalityColumns: readonly string[]): string {
  return keyColumns
    .map((k) =>
      equalityColumns.includes(k)
        ? `new.${ident(k)} ${EQ} old.${ident(k)}`
        : `new.${ident(k)}::pg_catalog.text ${EQ} old.${ident(k)}::pg_catalog.text`,
    )
    .join(" and ");
}

function logInsert(tableId: number, op: string, ...keys: string[]): string {
  return `insert into pgferry.changes (tbl, op, key) values ${keys.map((k) => `(${tableId}, '${op}', ${k})`).join(", ")};`;
}

// pgferry's own apply sessions (the reverse stream, or the forward one once reverse capture is
// on the target) set pgferry.apply to the migration's token: their writes must not be logged
// back. Any role can set pgferry.apply, so the value must be the token, which only the owning
// role can read (ownership.ts). The outer test is a plpgsql simple expression: a writer that
// never set it pays one current_setting, as before; only a set value runs the lookup.
const IS_APPLY_SESSION = `pg_catalog.current_setting('pgferry.apply', true) operator(pg_catalog.<>) ''`;
const SKIP_APPLY = `if ${IS_APPLY_SESSION} then
    if ${APPLY_SESSION_TEST} then return null; end if;
  end if;`;

function setClauses(settings: Readonly<Record<string, string>>): string {
  return Object.entries(settings)
    .map(([k, v]) => ` set ${ident(k)} = ${literal(v)}`)
    .join("");
}

function fn(
  name: string,
  body: string,
  skipApply: boolean,
  settings: Readonly<Record<string, string>> = {},
): string {
  return `create or replace function pgferry.${ident(name)}() returns trigger
language plpgsql security definer${setClauses(settings)} as $fn$
begin
  ${skipApply ? SKIP_APPLY : ""}
  ${body}
  return null;
end
$fn$;`;
}

/**
 * The capture functions of one relation: for a table, the functions its row triggers call on
 * INSERT, UPDATE and DELETE, and its TRUNCATE function; for a leaf partition, its TRUNCATE
 * function only (rows are captured by the table's triggers, which PostgreSQL clones onto it).
 * Static SQL (plpgsql caches the plans), SECURITY DEFINER so any role that may write the table
 * can append to the log. A TRUNCATE's key: null for the whole table; for a leaf partition, the
 * leaf's name, so only that partition is truncated on the target.
 *
 * The write fence is not tested here: raising it puts FENCE_GUARD at the top of these bodies
 * (see FENCE_UP_SQL), so an unfenced write pays nothing for it.
 *
 * `skipApplySessions`: whether pgferry's apply sessions go unlogged. Needed where pgferry
 * applies changes while the capture is live: the target's capture for the rollback window,
 * written to by the forward stream until the switch. The source's capture is live only while
 * nothing applies into the source (the reverse stream writes into a fenced source, and
 * FENCE_GUARD always skips apply sessions), so it leaves the test out: ~5,000 instructions
 * less per captured row.
 *
 * `keyFormat`: how the key must be logged to be exact whatever the writer's session settings
 * (readKeyFormat); the row functions of a key of floats, intervals, … pin those settings.
 */
export function captureFunctionSql(
  tableId: number,
  keyColumns: readonly string[],
  leaf: { schema: string; name: string; oid: number } | null,
  skipApplySessions: boolean,
  keyFormat: KeyFormat = PLAIN_KEY_FORMAT,
): string {
  const id = Math.trunc(tableId);
  const skip = skipApplySessions;
  if (leaf) {
    const key = `pg_catalog.jsonb_build_object('schema', ${literal(leaf.schema)}, 'name', ${literal(leaf.name)})`;
    return fn(captureFunctionName(id, "trunc", leaf.oid), logInsert(id, "T", key), skip);
  }
  const newKey = keyJson("new", keyColumns);
  const oldKey = keyJson("old", keyColumns);
  const pin = keyFormat.settings;
  return [
    fn(captureFunctionName(id, "ins"), logInsert(id, "I", newKey), skip, pin),
    fn(
      captureFunctionName(id, "upd"),
      // A key update logs the old key too, so the target deletes it. Compared as text: every
      // type has one, and equal text (under the pinned settings) is the same key; timestamptz
      // parts with = (see keyFormatFor). A NULL compares unequal: both keys are logged.
      `if ${keyUnchanged(keyColumns, keyFormat.equalityColumns)} then
    ${logInsert(id, "U", newKey)}
  else
    ${logInsert(id, "U", newKey, oldKey)}
  end if;`,
      skip,
      pin,
    ),
    fn(captureFunctionName(id, "del"), logInsert(id, "D", oldKey), skip, pin),
    fn(captureFunctionName(id, "trunc"), logInsert(id, "T", "null"), skip),
  ].join("\n");
}

/** Marks a capture body the fence has guarded (its first line after BEGIN). */
export const FENCED_MARK = "-- pgferry: fenced";

/**
 * How a table without a key logs its rows: the whole row's text, in the table's column order.
 * `columns` null: the row variable's own text (a plain table: NEW is the table's row type,
 * which after any DDL still prints, so a writer never fails on a renamed or dropped column;
 * the stream sees the new shape and pauses the table). A partitioned table lists its columns:
 * its row triggers run on the leaves, whose NEW has the leaf's column order, which can differ
 * from the table's.
 */
export interface RowImage {
  columns: readonly string[] | null;
}

function imageOf(row: "new" | "old", image: RowImage): string {
  const rec =
    image.columns === null ? row : `row(${image.columns.map((c) => `${row}.${ident(c)}`).join(", ")})`;
  return `${rec}::pg_catalog.text`;
}

/**
 * The row functions of a table without a key (decisions.md, "Tables without a key"): an INSERT logs 'I' with the new
 * image, a DELETE 'D' with the old one, an UPDATE both (nothing when the row's text did not
 * change). The image is a jsonb string (the log's key column). `format` pins the settings
 * every column's text output needs to read back as the same value (readRowFormat).
 */
export function rowCaptureFunctionSql(
  tableId: number,
  image: RowImage,
  skipApplySessions: boolean,
  format: KeyFormat = PLAIN_KEY_FORMAT,
): string {
  const id = Math.trunc(tableId);
  const skip = skipApplySessions;
  const pin = format.settings;
  const log = (v: string) => `pg_catalog.to_jsonb(${v})`;
  return [
    fn(captureFunctionName(id, "ins"), logInsert(id, "I", log(imageOf("new", image))), skip, pin),
    fn(
      captureFunctionName(id, "upd"),
      // No DECLARE section: the fence's guard goes in right after the body's leading BEGIN.
      `if ${imageOf("new", image)} operator(pg_catalog.=) ${imageOf("old", image)} then return null; end if;
  insert into pgferry.changes (tbl, op, key) values (${id}, 'D', ${log(imageOf("old", image))}), (${id}, 'I', ${log(imageOf("new", image))});`,
      skip,
      pin,
    ),
    fn(captureFunctionName(id, "del"), logInsert(id, "D", log(imageOf("old", image))), skip, pin),
    fn(captureFunctionName(id, "trunc"), logInsert(id, "T", "null"), skip),
  ].join("\n");
}

/**
 * What the fence puts at the top of every capture function's body while it is up: apply
 * sessions (with the migration's token) pass unlogged, pgferry's own DDL sessions
 * (markDdlSession) go on to log the write as usual, and every other write fails at once in
 * pgferry.fence(). The DDL sessions' case is an event trigger writing into a captured table
 * (a DDL audit log): pgferry's own DDL on the fenced source fires it (issue 12). Unset,
 * current_setting gives NULL: hence the coalesce, or the test would be NULL and let writes pass.
 *
 * When pgferry.fence() returns, the write goes on into the live body below and is logged. It
 * returns while the fence is up only for the sessions that already left above; otherwise it
 * means the fence came down while this call ran: a call that began under the fenced body
 * can reach pgferry.fence() after the lowering committed, and sees the no-op. Returning here
 * instead (as this guard once did) committed that write unlogged: lost at the next window
 * (test/integration/fence.test.ts, "loses no write while the fence goes up and down").
 */
export const FENCE_GUARD = `
  ${FENCED_MARK}
  if coalesce(pg_catalog.current_setting('pgferry.ddl', true), '') operator(pg_catalog.=) ''
     or not ${DDL_SESSION_TEST} then
    ${SKIP_APPLY}
    perform pgferry.fence();
  end if;`;

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
  const call = (op: CaptureOp) => `pgferry.${ident(captureFunctionName(tableId, op, leafOid))}()`;
  const T = TRIGGER_NAMES;
  // EXECUTE PROCEDURE is accepted by every version from 10 on (EXECUTE FUNCTION needs 11).
  const truncate = [
    `drop trigger if exists ${ident(T.truncate)} on ${rel}`,
    `create trigger ${ident(T.truncate)} after truncate on ${rel} for each statement execute procedure ${call("trunc")}`,
  ];
  if (leafOid !== undefined) return truncate;
  return [
    `drop trigger if exists ${ident(T.insert)} on ${rel}`,
    `create trigger ${ident(T.insert)} after insert on ${rel} for each row execute procedure ${call("ins")}`,
    `drop trigger if exists ${ident(T.update)} on ${rel}`,
    `create trigger ${ident(T.update)} after update on ${rel} for each row execute procedure ${call("upd")}`,
    `drop trigger if exists ${ident(T.delete)} on ${rel}`,
    `create trigger ${ident(T.delete)} after delete on ${rel} for each row execute procedure ${call("del")}`,
    ...truncate,
  ];
}

// Replaces one capture function's body (format(): the name, its SET clauses, the body).
// CREATE OR REPLACE drops a SET clause it is not given: the function's own are given back
// (from its proconfig, 'name=value' entries), so a key's pinned settings survive the fence.
const REPLACE_BODY =
  "'create or replace function pgferry.%I() returns trigger language plpgsql security definer%s as %L'";

function setClausesOf(proconfig: string): string {
  return `coalesce((select pg_catalog.string_agg(pg_catalog.format(' set %I = %L', pg_catalog.split_part(c, '=', 1),
    pg_catalog.substr(c, pg_catalog.strpos(c, '=') + 1)), '') from pg_catalog.unnest(${proconfig}) c), '')`;
}

// The capture functions' saved bodies live in pgferry.fenced while the fence is up; raising
// and lowering both run in one transaction, so the swap is all-or-nothing. plpgsql checks a
// function's catalog row at every call: from the commit on, every session runs the new body.
const CAPTURE_FUNCTIONS = `select p.proname::text as name, p.prosrc, p.proconfig from pg_catalog.pg_proc p
   where p.pronamespace = 'pgferry'::regnamespace and p.proname like 'capture\\_%'`;

/** The fence raised: every capture function call (so every write) fails at once. */
export const FENCE_UP_SQL = `
create or replace function pgferry.fence() returns void
language plpgsql as $fn$
begin
  -- pgferry's apply sessions (the reverse stream writing into a fenced source) pass; only
  -- with the migration's token (ownership.ts), which a plain writer cannot read.
  if ${IS_APPLY_SESSION} then
    if ${APPLY_SESSION_TEST} then return; end if;
  end if;
  raise exception 'pgferry: writes are paused while this database is switched over'
    using errcode = '${SQLSTATE.readOnlySqlTransaction}', hint = 'This database is being migrated; retry against the new database.';
end
$fn$;
do $do$
declare f record; fenced text;
begin
  for f in ${CAPTURE_FUNCTIONS} loop
    -- A body already fenced stays as it is (its live body saved); a live one (new, or
    -- installed again while the fence was up) is saved and guarded. Only fenced bodies call
    -- pgferry.fence(), the guard as well as the whole body earlier versions put in its place
    -- (a cutover interrupted under one of those keeps its saved live body).
    if pg_catalog.strpos(f.prosrc, 'perform pgferry.fence()') operator(pg_catalog.=) 0 then
      insert into pgferry.fenced (name, body) values (f.name, f.prosrc)
        on conflict (name) do update set body = excluded.body;
      fenced := pg_catalog.regexp_replace(f.prosrc, '^[[:space:]]*begin', ${literal(`begin${FENCE_GUARD}`)}, 'i');
      -- A body of another shape would stay unfenced: refuse instead of letting writes through.
      if pg_catalog.strpos(fenced, ${literal(FENCED_MARK)}) operator(pg_catalog.=) 0 then
        raise exception 'pgferry: cannot fence function pgferry.%', f.name;
      end if;
      execute format(${REPLACE_BODY}, f.name, ${setClausesOf("f.proconfig")}, fenced);
    end if;
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
  for f in select d.name, d.body, p.proconfig from pgferry.fenced d
             join pg_catalog.pg_proc p on p.pronamespace = 'pgferry'::regnamespace and p.proname = d.name loop
    execute format(${REPLACE_BODY}, f.name, ${setClausesOf("f.proconfig")}, f.body);
  end loop;
  delete from pgferry.fenced;
end
$do$`;
