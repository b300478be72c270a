import type pg from "pg";
import { qualified } from "../db/quote.js";

/**
 * How a relation's capture functions must log its key so that the log is exact whatever the
 * writing session's settings: the settings their SET clause pins, and the key columns whose
 * old and new values are compared with `=` instead of as text.
 */
export interface KeyFormat {
  /** GUC → value, pinned on the row capture functions; empty for most keys (a SET costs every call). */
  settings: Readonly<Record<string, string>>;
  /** Key columns compared with = in the update function (their text can be equal for distinct values). */
  equalityColumns: readonly string[];
}

export const PLAIN_KEY_FORMAT: KeyFormat = { settings: {}, equalityColumns: [] };

/** A built-in type a key column is made of, and whether the log holds it as its text output. */
export interface KeyLeafType {
  /** pg_catalog type name, e.g. float8. */
  name: string;
  /**
   * Printed by its type's text output inside a range or multirange. Elsewhere jsonb writes
   * dates and timestamps in ISO form whatever DateStyle says (verified on 12 to 17).
   */
  inText: boolean;
}

const FLOATS = new Set(["float4", "float8"]);
// Their output names an object as the session's search_path needs it (qualified or not).
const REG_TYPES = new Set([
  "regclass",
  "regtype",
  "regproc",
  "regprocedure",
  "regoper",
  "regoperator",
  "regconfig",
  "regdictionary",
  "regcollation",
]);
// time and timetz print alike under every DateStyle; these do not.
const DATE_TYPES = new Set(["date", "timestamp", "timestamptz"]);

/**
 * The settings a key made of these types needs pinned, with the values pgferry's own sessions
 * read it back with (CANONICAL_SETTINGS). Each exists because some value of the type prints
 * differently under the writer's setting AND reads back as another value (or not at all):
 * - extra_float_digits: ≤ 0 prints 0.30000000000000004 as 0.3 (PostgreSQL 11's default is 0);
 *   3 gives the shortest exact form on 12+ and 17 significant digits, which round-trip, on 11.
 * - IntervalStyle: sql_standard prints '-1 day -2 hours' as '-1 2:00:00', which any other
 *   style reads as -1 day +2 hours.
 * - DateStyle: only inside ranges (text output): 'SQL, DMY' prints 2020-01-02 as 02/01/2020.
 * - lc_monetary: money prints and parses in the session's locale.
 * - search_path: reg* types print names unqualified when the session's path finds them.
 * Not pinned: bytea_output (both forms read back exactly), TimeZone (ISO forms carry the
 * offset), lc_numeric and lc_time (no type's output uses them).
 */
export function keyFormatFor(columns: ReadonlyMap<string, readonly KeyLeafType[]>): KeyFormat {
  const all = [...columns.values()].flat();
  const settings: Record<string, string> = {};
  if (all.some((t) => FLOATS.has(t.name))) settings["extra_float_digits"] = "3";
  if (all.some((t) => t.name === "interval")) settings["intervalstyle"] = "postgres";
  if (all.some((t) => t.inText && DATE_TYPES.has(t.name))) settings["datestyle"] = "ISO, YMD";
  if (all.some((t) => t.name === "money")) settings["lc_monetary"] = "C";
  if (all.some((t) => REG_TYPES.has(t.name))) settings["search_path"] = "pg_catalog";
  // Under a non-ISO DateStyle two instants can print alike (01:30 MSK before and after the
  // clocks went back): = tells them apart without pinning DateStyle for every timestamptz key.
  const equalityColumns =
    "datestyle" in settings
      ? []
      : [...columns].filter(([, types]) => types.some((t) => t.name === "timestamptz")).map(([c]) => c);
  return { settings, equalityColumns };
}

// Every built-in type each key column is made of: through domains, arrays and composites
// (to_jsonb writes their parts one by one) and ranges and multiranges (written as their text
// output, so what is inside them is `in_text`). pg_range.rngmultitypid exists from 14 on.
const KEY_TYPES_SQL = `
with recursive walk (col, typ, in_text, depth) as (
  select a.attname::text, a.atttypid, false, 0
    from pg_catalog.pg_attribute a
   where a.attrelid = $1::regclass and a.attname = any ($2::text[]) and a.attnum > 0 and not a.attisdropped
  union all
  select w.col, s.typ, w.in_text or s.in_text, w.depth + 1
    from walk w
    join pg_catalog.pg_type t on t.oid = w.typ
    cross join lateral (
      select t.typbasetype, false where t.typtype = 'd'
      union all
      select t.typelem, false where t.typtype = 'b' and t.typlen = -1 and t.typelem <> 0
      union all
      select a.atttypid, false from pg_catalog.pg_attribute a
       where t.typtype = 'c' and a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped
      union all
      select r.rngsubtype, true from pg_catalog.pg_range r where r.rngtypid = t.oid
      union all
      select r.rngtypid, true from pg_catalog.pg_range r
       where t.typtype = 'm' and (pg_catalog.to_jsonb(r) ->> 'rngmultitypid')::oid = t.oid
    ) s (typ, in_text)
   where w.depth < 32
)
select w.col, t.typname::text as type, pg_catalog.bool_or(w.in_text) as in_text
  from walk w join pg_catalog.pg_type t on t.oid = w.typ
 where t.typnamespace = 'pg_catalog'::regnamespace
 group by w.col, t.typname`;

/** Reads the key columns' types from the catalog of the side being captured. */
export async function readKeyFormat(
  client: pg.ClientBase,
  rel: { schema: string; name: string },
  keyColumns: readonly string[],
): Promise<KeyFormat> {
  const { rows } = await client.query<{ col: string; type: string; in_text: boolean }>(KEY_TYPES_SQL, [
    qualified(rel.schema, rel.name),
    keyColumns,
  ]);
  const columns = new Map<string, KeyLeafType[]>(keyColumns.map((k) => [k, []]));
  for (const r of rows) columns.get(r.col)?.push({ name: r.type, inText: r.in_text });
  return keyFormatFor(columns);
}

/**
 * The settings a table without a key pins on its row functions: every column is logged as
 * part of the row's text output, so each type counts as printed in text (DateStyle included).
 */
export async function readRowFormat(
  client: pg.ClientBase,
  rel: { schema: string; name: string },
  columns: readonly string[],
): Promise<KeyFormat> {
  const { rows } = await client.query<{ col: string; type: string }>(KEY_TYPES_SQL, [
    qualified(rel.schema, rel.name),
    columns,
  ]);
  const all = new Map<string, KeyLeafType[]>([["row", rows.map((r) => ({ name: r.type, inText: true }))]]);
  return { settings: keyFormatFor(all).settings, equalityColumns: [] };
}
