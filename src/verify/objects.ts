import type pg from "pg";
import { qualified } from "../db/quote.js";
import { INDEXED_PHASES, phaseIn } from "../state/index.js";
import { tableName, type VerifyTable } from "./table-sql.js";
import type { Difference } from "./types.js";

type ObjectKind = "index" | "constraint" | "late_constraint" | "foreign_key" | "trigger";

// Indexes, constraints and user triggers of each table, by name (pgferry's own triggers and
// the internal ones of constraints excluded). Partitions inherit them from the root.
const OBJECTS_SQL = `
with rel as (select r.name, to_regclass(r.name) as oid from unnest($1::text[]) as r(name))
select rel.name as tbl, 'index' as kind, ic.relname as name
  from rel join pg_index i on i.indrelid = rel.oid join pg_class ic on ic.oid = i.indexrelid
union all
select rel.name,
       case when c.contype = 'f' then 'foreign_key'
            -- A NOT VALID check is dumped apart from its table and created at cutover (issue 12).
            when c.contype = 'c' and not c.convalidated then 'late_constraint'
            else 'constraint' end,
       c.conname
  from rel join pg_constraint c on c.conrelid = rel.oid where c.contype in ('p', 'u', 'f', 'c', 'x')
union all
select rel.name, 'trigger', t.tgname
  from rel join pg_trigger t on t.tgrelid = rel.oid
 where not t.tgisinternal and t.tgname not like 'pgferry\\_%'`;

async function objectsOf(client: pg.ClientBase, tables: readonly VerifyTable[]): Promise<Set<string>> {
  const names = tables.map((t) => qualified(t.schema, t.name));
  const { rows } = await client.query<{ tbl: string; kind: ObjectKind; name: string }>(OBJECTS_SQL, [names]);
  return new Set(rows.map((r) => `${r.tbl}\u0000${r.kind}\u0000${r.name}`));
}

const DIFF_KIND: Record<ObjectKind, "missing_index" | "missing_constraint" | "missing_trigger"> = {
  index: "missing_index",
  constraint: "missing_constraint",
  late_constraint: "missing_constraint",
  foreign_key: "missing_constraint",
  trigger: "missing_trigger",
};

const LABEL: Record<ObjectKind, string> = {
  index: "index",
  constraint: "constraint",
  late_constraint: "constraint (NOT VALID)",
  foreign_key: "foreign key",
  trigger: "trigger",
};

export interface ObjectFindings {
  /** Per table name: objects missing on the target that should be there by now. */
  missing: Map<string, Difference[]>;
  /** Per table name: objects the cutover creates that are not there yet. */
  pending: Map<string, string[]>;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key) ?? [];
  list.push(value);
  map.set(key, list);
}

/**
 * Every index, constraint and trigger of the source must exist on the target once it is due:
 * indexes, keys and validated checks when the table is indexed; foreign keys, NOT VALID checks
 * and user triggers once cut over.
 */
export async function compareObjects(
  source: pg.ClientBase,
  target: pg.ClientBase,
  tables: readonly VerifyTable[],
  cutOver: boolean,
): Promise<ObjectFindings> {
  const byQualified = new Map(tables.map((t) => [qualified(t.schema, t.name), t]));
  const onTarget = await objectsOf(target, tables);
  const { rows } = await source.query<{ tbl: string; kind: ObjectKind; name: string }>(OBJECTS_SQL, [
    [...byQualified.keys()],
  ]);
  const findings: ObjectFindings = { missing: new Map(), pending: new Map() };
  for (const r of rows) {
    if (onTarget.has(`${r.tbl}\u0000${r.kind}\u0000${r.name}`)) continue;
    // Validated on the target after the switch (or by hand): the same constraint either way.
    if (r.kind === "late_constraint" && onTarget.has(`${r.tbl}\u0000constraint\u0000${r.name}`)) continue;
    const t = byQualified.get(r.tbl)!;
    const late = r.kind === "foreign_key" || r.kind === "trigger" || r.kind === "late_constraint";
    const indexed = t.phase === null || phaseIn(INDEXED_PHASES, t.phase);
    const due = late ? cutOver : indexed;
    if (due) push(findings.missing, tableName(t), { kind: DIFF_KIND[r.kind], name: r.name });
    else push(findings.pending, tableName(t), `${LABEL[r.kind]} ${r.name}`);
  }
  return findings;
}
