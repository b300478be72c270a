import type pg from "pg";
import { type DropOptions, dropTriggers } from "../capture/index.js";

/**
 * Takes back the rollback window's capture on the target (the inverse of the stream stage's
 * installReverseCapture), when a cutover is undone before the switch: the target's capture
 * triggers and log, the reverse positions on the source, and the migration's flag. The
 * control tables in the target's schema pgferry stay.
 */
export async function removeReverseCapture(
  target: pg.ClientBase,
  source: pg.ClientBase,
  opts: DropOptions,
): Promise<void> {
  await dropTriggers(target, "target", opts);
  const { rows } = await target.query<{ fn: string }>(
    `select p.oid::regprocedure::text as fn from pg_proc p
      where p.pronamespace = 'pgferry'::regnamespace and (p.proname like 'capture\\_%' or p.proname = 'fence')`,
  );
  await target.query("begin");
  try {
    await target.query("drop table if exists pgferry.changes, pgferry.heartbeat, pgferry.meta");
    for (const r of rows) await target.query(`drop function if exists ${r.fn}`);
    await target.query(
      "update pgferry.migration set rollback_window = false, reverse_position = null, updated_at = now()",
    );
    await target.query("commit");
  } catch (err) {
    await target.query("rollback").catch(() => {});
    throw err;
  }
  await source.query("drop table if exists pgferry.reverse_tables");
}
