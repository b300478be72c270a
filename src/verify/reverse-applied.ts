import type pg from "pg";
import type { EventSink } from "../progress/events.js";
import { readMigration } from "../state/index.js";
import { type AwaitApplied, directedApplyWaiter } from "./applied.js";

/**
 * Verify in the rollback window (issue 13): the application writes on the target, which is now
 * authoritative, and the reverse stream applies its log to the source. Differences are judged
 * the other way round: the target is read as "the side that leads", the source as "the side
 * that follows", and a difference counts only once the reverse stream's position (on the
 * source, pgferry.reverse_tables) covers the target snapshot it was read in.
 */

/** The reverse stream's sessions on the source (src/stream/reverse.ts). */
const REVERSE_APPLIER = "pgferry:rollback";

/** Whether the target is in an open rollback window with the reverse positions on the source. */
export async function inRollbackWindow(target: pg.ClientBase, source: pg.ClientBase): Promise<boolean> {
  // A control schema from before 006_rollback.sql has no rollback_switch_started_at (undefined).
  const m = await readMigration(target);
  if (!(m?.phase === "switched" && m.rollback_window && m.rollback_switch_started_at == null)) return false;
  const has = await source.query<{ ok: boolean }>(
    "select to_regclass('pgferry.reverse_tables') is not null as ok",
  );
  return has.rows[0]?.ok === true;
}

const STATE_SQL = `
select (select position from pgferry.reverse_tables where id = $1) as position,
       exists (select 1 from pg_stat_activity a
                where a.datname = current_database() and a.application_name = $2
                  and a.pid <> pg_backend_pid()) as applier`;

/**
 * An AwaitApplied for the rollback window: the table's reverse position on the source against
 * a TARGET snapshot; gives up at once when no reverse stream session is on the source or the
 * window closed.
 */
export function reverseApplyWaiter(
  source: pg.ClientBase,
  target: pg.ClientBase,
  opts: { timeoutMs: number; emit: EventSink; signal?: AbortSignal },
): AwaitApplied {
  return directedApplyWaiter(
    {
      async poll(tableId) {
        const { rows } = await source.query<{ position: string | null; applier: boolean }>(STATE_SQL, [
          tableId,
          REVERSE_APPLIER,
        ]);
        const s = rows[0]!;
        return { position: s.position, stopped: () => reverseStopped(source, target, s.applier) };
      },
      timedOut: (timeoutMs) =>
        `the reverse stream did not catch up with this table within ${timeoutMs / 1000} s: run verify again once \`pgferry status\` shows a small reverse-stream lag`,
      back: " back",
      stream: "the reverse stream",
      leads: "target",
      follows: "source",
    },
    opts,
  );
}

/** Why nothing applies the target's log to the source now, or null while the reverse stream may. */
async function reverseStopped(
  source: pg.ClientBase,
  target: pg.ClientBase,
  applier: boolean,
): Promise<string | null> {
  if (!(await inRollbackWindow(target, source)))
    return "the rollback window closed: nothing applies the target's changes to the source any more";
  if (!applier)
    return "no `pgferry start` streams the target's writes back to the source: is it running? (stopped, or reconnecting after an error)";
  return null;
}
