import type pg from "pg";
import {
  type CaptureOwner,
  type CaptureTarget,
  captureTargetOf,
  installCaptureSchema,
  installTableCapture,
} from "../capture/index.js";
import { listTables } from "../catalog/index.js";
import type { MigrationContext } from "../context.js";
import { Backoff, serverMajor, sleep, withTransaction } from "../db/index.js";
import { isPgferryError, PgferryError } from "../errors/index.js";
import { moveMigration, readTables, setTablePosition } from "../state/index.js";

export interface CaptureStepOptions {
  /** lock_timeout of one trigger install attempt. */
  lockTimeoutMs: number;
  /** Give up on a table that stays locked this long (over all rounds). */
  maxLockWaitMs: number;
}

/** The replicated tables as the capture needs them: ids from the target, leaves from the source now. */
async function captureTargets(source: pg.Client, target: pg.Client): Promise<CaptureTarget[]> {
  const rows = await readTables(target);
  const onSource = new Map(
    (await listTables(source, await serverMajor(source))).map((t) => [`${t.schema}\u0000${t.name}`, t]),
  );
  return rows.map((r) => {
    const t = onSource.get(`${r.schema}\u0000${r.name}`);
    if (!t) {
      throw new PgferryError("DDL_DETECTED", `Table ${r.schema}.${r.name} no longer exists on the source.`, {
        side: "source",
        hint: "It was dropped or renamed after `pgferry start` began: run `pgferry cleanup` and start over.",
      });
    }
    return captureTargetOf(r, t.leaves);
  });
}

/**
 * Installs the capture triggers table by table. A table whose lock is not granted within the
 * short lock_timeout is put back in the queue (with a lock:wait event naming who holds it)
 * and the other tables go on; locked tables are retried in rounds with growing pauses.
 */
async function installAll(
  ctx: MigrationContext,
  source: pg.Client,
  targets: CaptureTarget[],
  opts: CaptureStepOptions,
) {
  const firstBlocked = new Map<number, number>();
  // Rounds pause 1 s doubling to 15 s, without jitter (the tables' own tries have it).
  const rounds = new Backoff({ baseMs: 1000, capMs: 15_000, jitter: [1, 1] });
  let pending = targets;
  for (let round = 1; pending.length > 0; round++) {
    const blocked: CaptureTarget[] = [];
    for (const t of pending) {
      ctx.signal.throwIfAborted();
      const table = `${t.schema}.${t.name}`;
      try {
        await installTableCapture(source, t, {
          skipApplySessions: false,
          lockTimeoutMs: opts.lockTimeoutMs,
          attempts: 1,
          signal: ctx.signal,
          onWait: (waiters) => ctx.emit({ type: "lock:wait", table, attempt: round, waiters }),
        });
      } catch (err) {
        if (!isPgferryError(err) || err.code !== "LOCK_TIMEOUT") throw err;
        const since = firstBlocked.get(t.tableId) ?? Date.now();
        firstBlocked.set(t.tableId, since);
        if (Date.now() - since > opts.maxLockWaitMs) throw err;
        blocked.push(t);
      }
    }
    pending = blocked;
    if (pending.length > 0) await sleep(rounds.next(), ctx.signal);
  }
}

/**
 * The capture on the source, then the start position S0, taken AFTER every trigger is in
 * place: every change committed after S0 is then in the log. S0, the per-table positions
 * and the phase 'copying' are written in one target transaction. Idempotent: a start that
 * finds no S0 recorded redoes the (create-or-replace) installation and takes S0 then.
 */
export async function installCapture(
  ctx: MigrationContext,
  source: pg.Client,
  target: pg.Client,
  opts: CaptureStepOptions,
  owner: CaptureOwner,
): Promise<string> {
  const targets = await captureTargets(source, target);
  await installCaptureSchema(source, owner);
  ctx.emit({
    type: "log",
    level: "info",
    message: `Installing capture triggers on ${targets.length} table(s).`,
  });
  await installAll(ctx, source, targets, opts);
  const { rows } = await source.query<{ s: string }>("select txid_current_snapshot()::text as s");
  const s0 = rows[0]!.s;
  await withTransaction(target, async () => {
    await moveMigration(
      target,
      { from: ["preparing"], to: "copying" },
      { start_position: { value: s0 }, copy_started_at: "keep-or-now" },
    );
    await setTablePosition(target, undefined, s0);
  });
  return s0;
}
