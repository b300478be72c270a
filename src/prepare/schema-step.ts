import type pg from "pg";
import {
  identityOf,
  listForeignTables,
  listTables,
  type SourceTable,
  tableMatcher,
  tableShape,
} from "../catalog/index.js";
import type { MigrationContext } from "../context.js";
import { serverMajor, withTransaction } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { applyPreData, dumpSchema, storePostData } from "../schema/index.js";
import { insertTableRows } from "../state/index.js";

export interface SchemaStepOptions {
  include?: string[];
  exclude?: string[];
  pgDump?: string;
}

/** The replicated tables (the filter applied) and everything left out, leaves included. */
export async function selectTables(
  source: pg.Client,
  opts: SchemaStepOptions,
): Promise<{ chosen: SourceTable[]; excluded: { schema: string; name: string }[] }> {
  const all = await listTables(source, await serverMajor(source));
  const match = tableMatcher({
    ...(opts.include ? { include: opts.include } : {}),
    ...(opts.exclude ? { exclude: opts.exclude } : {}),
  });
  const chosen = all.filter((t) => match(t.schema, t.name));
  const excluded = all
    .filter((t) => !match(t.schema, t.name))
    .flatMap((t) => [
      { schema: t.schema, name: t.name },
      ...t.leaves.map((l) => ({ schema: l.schema, name: l.name })),
    ])
    .concat((await listForeignTables(source)).filter((f) => !match(f.schema, f.name)));
  if (chosen.length === 0 && (opts.include?.length || opts.exclude?.length)) {
    throw new PgferryError("BAD_OPTION", "No source table matches --tables / --exclude.", {
      side: "local",
      hint: "Check the patterns (schema.table, * wildcards) against the source's tables.",
    });
  }
  return { chosen, excluded };
}

function tableRows(tables: readonly SourceTable[], firstId: number) {
  return tables.map((t, i) => ({
    id: firstId + i,
    schema_name: t.schema,
    table_name: t.name,
    kind: t.kind,
    // A table without a key is identified by its whole row (decisions.md, "Tables without a key"): no key columns.
    key_columns: t.key?.columns ?? [],
    identity: identityOf(t),
    columns: t.columns.map((c) => ({
      name: c.name,
      type: c.type,
      generated: c.generated,
      identity: c.identity,
    })),
    shape: tableShape(t.columns),
    rows_estimate: t.rowsEstimate,
    bytes_estimate: t.bytes,
  }));
}

/**
 * Inserts the tables' control rows (ids firstId.. in the given order, 1.. at prepare); returns
 * "schema.name" → id.
 */
export async function insertTables(
  target: pg.ClientBase,
  tables: readonly SourceTable[],
  firstId = 1,
): Promise<Map<string, number>> {
  const rows = tableRows(tables, firstId);
  await insertTableRows(target, rows);
  return new Map(rows.map((r) => [`${r.schema_name}.${r.table_name}`, r.id]));
}

/**
 * The schema on the target and the list of tables, in ONE target transaction: pre-data DDL,
 * the tables' control rows (ids 1..n, the ids the source's log uses) and the post-data items.
 * A kill during it leaves nothing, and the next start does it again from the beginning.
 */
export async function applySchema(
  ctx: MigrationContext,
  source: pg.Client,
  target: pg.Client,
  opts: SchemaStepOptions,
): Promise<number> {
  const { chosen, excluded } = await selectTables(source, opts);
  const dump = await dumpSchema(ctx.source, {
    excludeTables: excluded,
    signal: ctx.signal,
    ...(opts.pgDump ? { pgDump: opts.pgDump } : {}),
  });
  for (const w of dump.warnings ?? []) ctx.emit({ type: "log", level: "warn", message: w });
  await withTransaction(target, async () => {
    await applyPreData(target, dump);
    const ids = await insertTables(target, chosen);
    await storePostData(target, dump, ids);
  });
  return chosen.length;
}
