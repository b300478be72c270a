import type pg from "pg";
import { qualified } from "../db/quote.js";
import type { VerifyTable } from "./table-sql.js";
import type { SequenceVerdict } from "./types.js";

// Sequences outside pgferry's schema and not owned by an extension, with the table that owns
// them (serial / identity), if any.
const SEQUENCES_SQL = `
select n.nspname as schema, c.relname as name, s.seqincrement::text as inc,
       (select tn.nspname || '.' || tc.relname
          from pg_depend d join pg_class tc on tc.oid = d.refobjid join pg_namespace tn on tn.oid = tc.relnamespace
         where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
           and d.deptype in ('a', 'i') limit 1) as owner_table
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  join pg_sequence s on s.seqrelid = c.oid
 where c.relkind = 'S' and n.nspname not in ('pg_catalog', 'information_schema', 'pgferry')
   and n.nspname not like 'pg\\_%'
   and not exists (select 1 from pg_depend e where e.classid = 'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')
 order by 1, 2`;

interface SequenceRow {
  schema: string;
  name: string;
  inc: string;
  owner_table: string | null;
}

/** The value nextval() would return next. */
async function nextValue(client: pg.ClientBase, schema: string, name: string, inc: bigint): Promise<bigint> {
  const { rows } = await client.query<{ v: string; c: boolean }>(
    `select last_value::text as v, is_called as c from ${qualified(schema, name)}`,
  );
  const v = BigInt(rows[0]!.v);
  return rows[0]!.c ? v + inc : v;
}

/**
 * Compares every sequence of the replicated tables (and free-standing ones): the target must
 * hand out values the source has not used. Only counted once cut over: before, the stream
 * follows sequences at intervals and the cutover sets them.
 */
export async function compareSequences(
  source: pg.ClientBase,
  target: pg.ClientBase,
  tables: readonly VerifyTable[],
  counted: boolean,
): Promise<SequenceVerdict[]> {
  const replicated = new Set(tables.map((t) => `${t.schema}.${t.name}`));
  const src = (await source.query<SequenceRow>(SEQUENCES_SQL)).rows.filter(
    (s) => s.owner_table === null || replicated.has(s.owner_table),
  );
  const tgt = new Map(
    (await target.query<SequenceRow>(SEQUENCES_SQL)).rows.map((s) => [`${s.schema}.${s.name}`, s]),
  );
  const out: SequenceVerdict[] = [];
  for (const s of src) {
    const name = `${s.schema}.${s.name}`;
    const inc = BigInt(s.inc);
    const sourceNext = await nextValue(source, s.schema, s.name, inc);
    const onTarget = tgt.get(name);
    const targetNext = onTarget ? await nextValue(target, s.schema, s.name, BigInt(onTarget.inc)) : null;
    const ok = targetNext !== null && (inc > 0n ? targetNext >= sourceNext : targetNext <= sourceNext);
    out.push({
      name,
      sourceNext: sourceNext.toString(),
      targetNext: targetNext?.toString() ?? null,
      ok,
      counted,
    });
  }
  return out;
}
