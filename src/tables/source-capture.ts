import type pg from "pg";
import { type DropOptions, lockBounded } from "../capture/index.js";
import { ident, qualified, serverMajor } from "../db/index.js";

/**
 * The capture of tables the migration no longer carries (or never carried: an add that died
 * before its table was registered). Capture functions are named by table id
 * (capture_<id>_…), so everything whose id is not carried, heartbeat (0) aside, is left over.
 */
const ID_OF = "substring(p.proname from '^capture_([0-9]+)_')::int";

// Clones on partitions go with their parent's trigger (tgparentid, 13+; internal before).
const TRIGGERS_SQL = `
select n.nspname as schema, c.relname as name, array_agg(t.tgname::text order by t.tgname) as triggers
  from pg_trigger t
  join pg_class c on c.oid = t.tgrelid
  join pg_namespace n on n.oid = c.relnamespace
  join pg_proc p on p.oid = t.tgfoid
 where not t.tgisinternal %PARENT%
   and p.pronamespace = 'pgferry'::regnamespace and p.proname ~ '^capture_[0-9]+_'
   and ${ID_OF} <> all ($1::int[])
 group by 1, 2
 order by 1, 2`;

const FUNCTIONS_SQL = `
select p.oid::regprocedure::text as fn, p.proname::text as name from pg_proc p
 where p.pronamespace = 'pgferry'::regnamespace and p.proname ~ '^capture_[0-9]+_'
   and ${ID_OF} <> all ($1::int[])`;

export interface LeftoverCapture {
  /** Relations whose pgferry triggers were dropped, as schema.name. */
  relations: string[];
  functions: number;
  changes: number;
}

/**
 * Drops the triggers (one relation per short, lock-bounded transaction), then the functions
 * and the log rows of every table id not in `carried`. Idempotent: a run cut short is finished
 * by the next one.
 */
export async function dropLeftoverCapture(
  source: pg.Client,
  carried: readonly number[],
  opts: DropOptions,
): Promise<LeftoverCapture> {
  const keep = [0, ...carried];
  const major = await serverMajor(source);
  const sql = TRIGGERS_SQL.replace("%PARENT%", major >= 13 ? "and t.tgparentid = 0" : "");
  const { rows } = await source.query<{ schema: string; name: string; triggers: string[] }>(sql, [keep]);
  for (const rel of rows) {
    await lockBounded(source, "source", rel, opts, async () => {
      for (const trigger of rel.triggers)
        await source.query(`drop trigger if exists ${ident(trigger)} on ${qualified(rel.schema, rel.name)}`);
    });
  }
  await source.query("begin");
  try {
    const fns = await source.query<{ fn: string; name: string }>(FUNCTIONS_SQL, [keep]);
    for (const f of fns.rows) await source.query(`drop function if exists ${f.fn}`);
    await source.query("delete from pgferry.fenced where name = any ($1::text[])", [
      fns.rows.map((f) => f.name),
    ]);
    const del = await source.query("delete from pgferry.changes where tbl <> all ($1::int[])", [keep]);
    await source.query("commit");
    return {
      relations: rows.map((r) => `${r.schema}.${r.name}`),
      functions: fns.rows.length,
      changes: del.rowCount ?? 0,
    };
  } catch (err) {
    await source.query("rollback").catch(() => {});
    throw err;
  }
}
