import type { MigrationContext } from "../context.js";
import { PgferryError } from "../errors/index.js";
import { deleteTables, newSourceTables, readTables, recordEvent, storedFilter } from "../state/index.js";
import { dropUncarriedCapture, inOpenMigration } from "./scope-change.js";
import {
  closeTables,
  exactKey,
  openTables,
  parseTableName,
  storeExclude,
  type TablesSessions,
  tableKey,
} from "./session.js";

export interface TablesOptions {
  /** lock_timeout of each trigger install or drop on the source (default 3 s). */
  lockTimeoutMs?: number;
}

export interface RemoveResult {
  /** Tables taken out of the migration (they were part of it). */
  removed: string[];
  /** Tables that were not part of it (new on the source): only excluded from now on. */
  excluded: string[];
  /** Relations on the source whose capture triggers were dropped. */
  triggersDropped: string[];
  /** Log rows deleted from pgferry.changes on the source. */
  changesDeleted: number;
}

interface Carried {
  id: number;
  name: string;
}

/** Each name: a table of the migration, or a source table it does not carry, or already excluded. */
async function resolve(
  s: TablesSessions,
  names: readonly string[],
): Promise<{ carried: Carried[]; others: string[] }> {
  const byName = new Map((await readTables(s.target)).map((r) => [tableKey(r), r.id]));
  const fresh = new Set((await newSourceTables(s.source, s.target)).map(tableKey));
  const excluded = new Set((storedFilter(s.options).exclude ?? []).map(exactKey));
  const carried: Carried[] = [];
  const others: string[] = [];
  for (const raw of names) {
    const t = parseTableName(raw, "TABLE_NOT_MIGRATED");
    const name = tableKey(t);
    const id = byName.get(name);
    if (id !== undefined) carried.push({ id, name });
    else if (fresh.has(name) || excluded.has(name)) others.push(name);
    else
      throw new PgferryError("TABLE_NOT_MIGRATED", `${name} is not a table of this migration.`, {
        side: "local",
        hint: 'Name tables as schema.table, as `pgferry status` lists them; double-quote a part that holds a dot or a quote: public."has.dot".',
      });
  }
  return { carried, others };
}

/**
 * `pgferry tables remove`: takes tables out of a running migration. First, in ONE target
 * transaction, their control rows (with their chunks and post-data items) go and
 * their names join the stored exclude filter, so nothing streams, verifies or cuts them over;
 * then their capture on the source (triggers if the table still exists, functions, log rows).
 * In that order: a table still carried never loses its capture. The target's copy of a
 * table is left as it is.
 */
export async function removeTables(
  ctx: MigrationContext,
  names: readonly string[],
  opts: TablesOptions = {},
): Promise<RemoveResult> {
  // Bad names are refused before anything connects.
  for (const n of names) parseTableName(n, "TABLE_NOT_MIGRATED");
  const s = await openTables(ctx);
  try {
    const { carried, others } = await resolve(s, names);
    await inOpenMigration(s, async (options) => {
      await deleteTables(
        s.target,
        carried.map((t) => t.id),
      );
      const all = [...carried.map((t) => t.name), ...others];
      await storeExclude(s.target, options, { add: all });
      for (const name of all) {
        await recordEvent(s.target, "info", "table-removed", `${name}: removed from the migration.`, {
          table: name,
        });
      }
    });
    for (const t of carried)
      ctx.emit({ type: "log", level: "info", message: "removed from the migration", table: t.name });
    const left = await dropUncarriedCapture(ctx, s, opts);
    return {
      removed: carried.map((t) => t.name),
      excluded: others,
      triggersDropped: left.relations,
      changesDeleted: left.changes,
    };
  } finally {
    await closeTables(s);
  }
}
