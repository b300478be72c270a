import type { MigrationContext } from "../context.js";
import { DDL_LOCK_TIMEOUT_MS } from "../db/index.js";
import { readTables } from "../state/index.js";
import type { TablesOptions } from "./remove.js";
import { lockOpenMigration, type TablesSessions } from "./session.js";
import { dropLeftoverCapture, type LeftoverCapture } from "./source-capture.js";

/**
 * What `tables add` and `tables remove` both do to change which tables the migration carries:
 * register the change in one target transaction under the migration row's lock, and drop the
 * source's capture of whatever the migration does not carry.
 */

/**
 * Runs `register` in ONE target transaction that first locks the migration row and checks it
 * is still open (lockOpenMigration, whose stored options it is given); commits, or rolls back
 * on any error.
 */
export async function inOpenMigration<T>(
  s: TablesSessions,
  register: (options: Record<string, unknown>) => Promise<T>,
): Promise<T> {
  await s.target.query("begin");
  try {
    const out = await register(await lockOpenMigration(s.target));
    await s.target.query("commit");
    return out;
  } catch (err) {
    await s.target.query("rollback").catch(() => {});
    throw err;
  }
}

/**
 * Drops, on the source, the capture (triggers lock-bounded, functions, log rows) of every
 * table id the target's control rows do not carry: removed tables, or the leftovers of an add
 * that died before registering its table.
 */
export async function dropUncarriedCapture(
  ctx: MigrationContext,
  s: TablesSessions,
  opts: TablesOptions,
): Promise<LeftoverCapture> {
  const rows = await readTables(s.target);
  return dropLeftoverCapture(
    s.source,
    rows.map((r) => r.id),
    {
      lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
      attempts: 8,
      emit: ctx.emit,
      signal: ctx.signal,
    },
  );
}
