import type pg from "pg";
import { FUNCTION_DEFS_SQL } from "./functions.js";
import { type RelationName, relationKey } from "./types.js";

export interface SourceFacts {
  /** "schema.name" of every partition (any depth) → its top-level partitioned table. */
  partitionRoot: Map<string, RelationName>;
  /** Every partition with its root. */
  partitions: (RelationName & { root: RelationName })[];
  /** Materialized views by "schema.name": whether the source has data in them. */
  matviewPopulated: Map<string, boolean>;
  /** Definitions of the source's functions and procedures, by pg_dump's tag (see functions.ts). */
  functions: Record<string, string>;
  /** Foreign servers that some foreign table uses. */
  serversWithTables: Set<string>;
}

const PARTITIONS_SQL = `
with recursive tree (root, rel) as (
  select c.oid, c.oid from pg_class c where c.relkind = 'p' and not c.relispartition
  union all
  select t.root, i.inhrelid
  from tree t join pg_inherits i on i.inhparent = t.rel join pg_class k on k.oid = i.inhrelid
  where k.relispartition
)
select rn.nspname as root_schema, r.relname as root_name, pn.nspname as schema, p.relname as name
from tree t
join pg_class r on r.oid = t.root join pg_namespace rn on rn.oid = r.relnamespace
join pg_class p on p.oid = t.rel join pg_namespace pn on pn.oid = p.relnamespace
where t.rel <> t.root`;

/** Reads what the dump text does not say: partition trees and which matviews hold data. */
export async function readSourceFacts(client: pg.ClientBase): Promise<SourceFacts> {
  const parts = await client.query<{ root_schema: string; root_name: string; schema: string; name: string }>(
    PARTITIONS_SQL,
  );
  const partitionRoot = new Map<string, RelationName>();
  const partitions: SourceFacts["partitions"] = [];
  for (const p of parts.rows) {
    const root = { schema: p.root_schema, name: p.root_name };
    partitionRoot.set(relationKey(p), root);
    partitions.push({ schema: p.schema, name: p.name, root });
  }
  const mv = await client.query<{ schemaname: string; matviewname: string; ispopulated: boolean }>(
    "select schemaname, matviewname, ispopulated from pg_catalog.pg_matviews",
  );
  const matviewPopulated = new Map<string, boolean>();
  for (const m of mv.rows)
    matviewPopulated.set(relationKey({ schema: m.schemaname, name: m.matviewname }), m.ispopulated);
  const servers = await client.query<{ name: string }>(
    `select s.srvname as name from pg_catalog.pg_foreign_server s
      where exists (select 1 from pg_catalog.pg_foreign_table f where f.ftserver = s.oid)`,
  );
  return {
    partitionRoot,
    partitions,
    matviewPopulated,
    functions: await readFunctionDefs(client),
    serversWithTables: new Set(servers.rows.map((r) => r.name)),
  };
}

/** In a transaction of its own, to print names under pg_dump's empty search_path and set it back. */
async function readFunctionDefs(client: pg.ClientBase): Promise<Record<string, string>> {
  await client.query("begin");
  try {
    await client.query("set local search_path = ''");
    const { rows } = await client.query<{ key: string; def: string }>(FUNCTION_DEFS_SQL);
    return Object.fromEntries(rows.map((r) => [r.key, r.def]));
  } finally {
    await client.query("rollback");
  }
}

/** The excluded tables plus every partition under them: pg_dump 15's -T does not follow partitions. */
export function expandExcluded(excluded: readonly RelationName[], facts: SourceFacts): RelationName[] {
  const roots = new Set(excluded.map(relationKey));
  const out = new Map(excluded.map((r) => [relationKey(r), r]));
  for (const p of facts.partitions) {
    if (roots.has(relationKey(p.root))) out.set(relationKey(p), { schema: p.schema, name: p.name });
  }
  return [...out.values()];
}
