import type pg from "pg";
import { withTransaction } from "../db/index.js";

/** One index of a table (or of one of its partitions), as PostgreSQL prints it. */
export interface IndexDefinition {
  /** schema.index, unquoted. */
  name: string;
  /** The relation it is on, schema.name unquoted. */
  relation: string;
  def: string;
  /** pg_get_constraintdef of the primary key / unique / exclusion constraint it backs. */
  constraint: string | null;
  valid: boolean;
}

export interface IndexMismatch {
  problem: "missing" | "different" | "extra" | "invalid";
  name: string;
  relation: string;
  source?: string;
  target?: string;
}

/**
 * The indexes of a table and of every partition under it. Run with an empty search_path so
 * every name is schema-qualified the same way on both sides (as pg_dump prints them).
 */
const INDEXES_SQL = `
with recursive rels (oid) as (
  select c.oid from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
   where n.nspname = $1 and c.relname = $2
  union all
  select i.inhrelid from rels r join pg_catalog.pg_inherits i on i.inhparent = r.oid
    join pg_catalog.pg_class k on k.oid = i.inhrelid
   where k.relispartition
)
select n.nspname || '.' || ic.relname as name, rn.nspname || '.' || rc.relname as relation,
       pg_catalog.pg_get_indexdef(ic.oid) as def, x.indisvalid as valid,
       (select pg_catalog.pg_get_constraintdef(k.oid) from pg_catalog.pg_constraint k
         where k.conindid = ic.oid and k.conrelid = x.indrelid and k.contype in ('p', 'u', 'x')) as constraint
  from rels r
  join pg_catalog.pg_index x on x.indrelid = r.oid
  join pg_catalog.pg_class ic on ic.oid = x.indexrelid join pg_catalog.pg_namespace n on n.oid = ic.relnamespace
  join pg_catalog.pg_class rc on rc.oid = r.oid join pg_catalog.pg_namespace rn on rn.oid = rc.relnamespace
 order by 1`;

export async function readIndexDefinitions(
  client: pg.ClientBase,
  schema: string,
  table: string,
): Promise<IndexDefinition[]> {
  return withTransaction(client, async () => {
    await client.query("set local search_path = ''");
    return (await client.query<IndexDefinition>(INDEXES_SQL, [schema, table])).rows;
  });
}

/** Whitespace collapsed, `pg_catalog.` dropped: versions differ in how they print built-ins. */
export function normalizeDefinition(def: string | null): string | null {
  return def === null
    ? null
    : def
        .replace(/\bpg_catalog\./g, "")
        .replace(/\s+/g, " ")
        .trim();
}

/**
 * Source against target, by index name. `pending` holds the names (schema.index) of items
 * deliberately left for cutover: their absence is expected, not a mismatch.
 */
export function compareIndexDefinitions(
  source: readonly IndexDefinition[],
  target: readonly IndexDefinition[],
  pending: ReadonlySet<string> = new Set(),
): IndexMismatch[] {
  const out: IndexMismatch[] = [];
  const onTarget = new Map(target.map((d) => [d.name, d]));
  for (const s of source) {
    const t = onTarget.get(s.name);
    onTarget.delete(s.name);
    if (!t) {
      if (!pending.has(s.name))
        out.push({ problem: "missing", name: s.name, relation: s.relation, source: s.def });
      continue;
    }
    const same =
      s.relation === t.relation &&
      normalizeDefinition(s.def) === normalizeDefinition(t.def) &&
      normalizeDefinition(s.constraint) === normalizeDefinition(t.constraint);
    if (!same) {
      out.push({
        problem: "different",
        name: s.name,
        relation: s.relation,
        source: describe(s),
        target: describe(t),
      });
    } else if (s.valid && !t.valid && !pending.has(s.name)) {
      out.push({ problem: "invalid", name: s.name, relation: t.relation, target: t.def });
    }
  }
  for (const t of onTarget.values())
    out.push({ problem: "extra", name: t.name, relation: t.relation, target: t.def });
  return out;
}

function describe(d: IndexDefinition): string {
  return d.constraint ? `${d.def} (constraint: ${d.constraint})` : d.def;
}
