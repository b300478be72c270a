import type pg from "pg";
import { sleep } from "../db/index.js";
import { parseSnapshot, snapshotCovers } from "../positions/index.js";
import type { EventSink } from "../progress/events.js";
import { readMigration } from "../state/index.js";
import type { AwaitApplied } from "./applied.js";
import { tableName, type VerifyTable } from "./table-sql.js";

/**
 * Verify in the rollback window (issue 13): the application writes on the target, which is now
 * authoritative, and the reverse stream applies its log to the source. Differences are judged
 * the other way round: the target is read as "the side that leads", the source as "the side
 * that follows", and a difference counts only once the reverse stream's position (on the
 * source, pgferry.reverse_tables) covers the target snapshot it was read in.
 */

const POLL_MS = 200;
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
 * An AwaitApplied for the rollback window: polls the table's reverse position on the source
 * until it covers a TARGET snapshot, for at most `timeoutMs`; gives up at once when no reverse
 * stream session is on the source or the window closed. A table that failed once is not
 * waited for again.
 */
export function reverseApplyWaiter(
  source: pg.ClientBase,
  target: pg.ClientBase,
  opts: { timeoutMs: number; emit: EventSink; signal?: AbortSignal },
): AwaitApplied {
  const failed = new Map<number, string>();
  return async (t, snapshot, keys) => {
    if (t.id === null)
      return { applied: false, reason: "the target holds no migration state for this table" };
    const known = failed.get(t.id);
    if (known) return { applied: false, reason: known };
    const wanted = parseSnapshot(snapshot);
    const started = Date.now();
    let announced = false;
    for (;;) {
      opts.signal?.throwIfAborted();
      const { rows } = await source.query<{ position: string | null; applier: boolean }>(STATE_SQL, [
        t.id,
        REVERSE_APPLIER,
      ]);
      const s = rows[0]!;
      if (s.position && snapshotCovers(parseSnapshot(s.position), wanted)) {
        if (announced) log(opts.emit, t, "info", `applied back after ${secondsSince(started)} s`);
        return { applied: true };
      }
      let reason: string | null = null;
      if (!(await inRollbackWindow(target, source)))
        reason = "the rollback window closed: nothing applies the target's changes to the source any more";
      else if (!s.applier)
        reason =
          "no `pgferry start` streams the target's writes back to the source: is it running? (stopped, or reconnecting after an error)";
      else if (Date.now() - started > opts.timeoutMs)
        reason = `the reverse stream did not catch up with this table within ${opts.timeoutMs / 1000} s: run verify again once \`pgferry status\` shows a small reverse-stream lag`;
      if (reason) {
        failed.set(t.id, reason);
        if (announced) log(opts.emit, t, "warn", `not applied back: ${reason}`);
        return { applied: false, reason };
      }
      if (!announced) {
        announced = true;
        const what =
          keys > 0
            ? `${keys} key${keys === 1 ? "" : "s"} changed on the target after the source's position`
            : "the target's changes up to verify's read of a differing range";
        log(
          opts.emit,
          t,
          "info",
          `waiting (at most ${opts.timeoutMs / 1000} s) for the reverse stream to apply ${what}`,
        );
      }
      await sleep(POLL_MS, opts.signal);
    }
  };
}

function secondsSince(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

function log(emit: EventSink, t: VerifyTable, level: "info" | "warn", message: string): void {
  emit({ type: "log", level, message, table: tableName(t) });
}
