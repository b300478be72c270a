import type pg from "pg";
import { withTransaction } from "../db/index.js";
import { qualified } from "../db/quote.js";
import { insertChunks, moveTable } from "../state/index.js";
import { claimPendingTable } from "./control-tables.js";
import { type PlanOptions, planTable } from "./planner.js";

const LEAVES_SQL = `
with recursive tree (oid) as (
  select $1::regclass::oid
  union all
  select i.inhrelid from tree t join pg_inherits i on i.inhparent = t.oid
)
select n.nspname as schema, c.relname as name
  from tree t join pg_class c on c.oid = t.oid join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r'
 order by 1, 2`;

/**
 * Plans one pending table, if any is left: its chunks and its phase 'copying' commit in one
 * target transaction, so a table has either all of its chunks or none (and stays pending).
 * Returns the planned table's name, or undefined when no table is waiting to be planned.
 */
export async function planNextTable(
  source: pg.ClientBase,
  target: pg.ClientBase,
  opts: PlanOptions,
): Promise<{ id: number; name: string; chunks: number } | undefined> {
  // Nothing pending: the transaction claimed nothing, so its commit changes nothing.
  return withTransaction(target, async () => {
    const table = await claimPendingTable(target);
    if (!table) return undefined;
    const leaves =
      table.kind === "partitioned"
        ? (
            await source.query<{ schema: string; name: string }>(LEAVES_SQL, [
              qualified(table.schema, table.name),
            ])
          ).rows
        : [];
    const chunks = await planTable(source, table, leaves, opts);
    await insertChunks(target, table.id, chunks);
    const rows = chunks.reduce((a, c) => a + c.rowsEstimate, 0);
    await moveTable(target, table.id, { from: ["pending"], to: "copying" }, { rowsEstimate: rows });
    return { id: table.id, name: `${table.schema}.${table.name}`, chunks: chunks.length };
  });
}
