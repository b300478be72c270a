import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { type BuildSlots, buildTableIndexes } from "../index-build/index.js";
import { moveTable, readTable, tablesToIndex } from "../state/index.js";
import { stageCounts } from "./control-tables.js";
import { runLoop, type StepResult, type Waker } from "./worker-loop.js";

export interface IndexPoolOptions {
  indexJobs: number;
  /** Every index worker's builds together: at most indexJobs at once. */
  slots: BuildSlots;
  waker: Waker;
  maintenanceWorkMem?: string;
}

/**
 * The claim on a table being indexed is a session advisory lock on the target, keyed by the
 * table id, held by this worker's session for the whole build. Not a row lock on
 * the table's control row: buildTableIndexes updates that row (phase, indexed_at) from its own
 * session, which would wait forever behind our own FOR UPDATE. Like SKIP LOCKED, a busy
 * table is passed over; if this process dies the server drops the lock with the session and
 * another worker (here or in another process) takes the table over.
 */
const CLAIM_SQL = "select pg_try_advisory_lock(hashtext('pgferry:index'), $1) as ok";
const RELEASE_SQL = "select pg_advisory_unlock(hashtext('pgferry:index'), $1)";

async function claimCopiedTable(client: pg.Client): Promise<{ id: number; name: string } | undefined> {
  for (const id of await tablesToIndex(client)) {
    const claim = await client.query<{ ok: boolean }>(CLAIM_SQL, [id]);
    if (!claim.rows[0]?.ok) continue;
    // Re-read under the claim: another worker may have finished it between the two queries.
    const t = await readTable(client, id);
    if (t && (t.phase === "copied" || t.phase === "indexing")) {
      return { id, name: `${t.schema}.${t.name}` };
    }
    await client.query(RELEASE_SQL, [id]);
  }
  return undefined;
}

async function indexStep(
  ctx: MigrationContext,
  client: pg.Client,
  opts: IndexPoolOptions,
  signal: AbortSignal,
): Promise<StepResult> {
  const table = await claimCopiedTable(client);
  if (!table) {
    const counts = await stageCounts(client);
    return counts.unindexed === 0 ? "finished" : "idle";
  }
  try {
    await moveTable(client, table.id, { from: ["copied"], to: "indexing", skip: ["indexing"] });
    ctx.emit({ type: "table:phase", table: table.name, phase: "indexing" });
    const result = await buildTableIndexes(ctx.target, ctx.source, table.id, {
      signal,
      emit: ctx.emit,
      // A table's builds side by side when slots are free (the last table, at the end).
      jobs: opts.indexJobs,
      slots: opts.slots,
      ...(opts.maintenanceWorkMem ? { maintenanceWorkMem: opts.maintenanceWorkMem } : {}),
    });
    // Stopped at a safe point: the table stays 'indexing' and the next start finishes it.
    if (!result.completed) return "worked";
    ctx.emit({ type: "table:phase", table: table.name, phase: "indexed" });
    opts.waker.notify();
    return "worked";
  } finally {
    await client.query(RELEASE_SQL, [table.id]).catch(() => {});
  }
}

/** One index worker: builds the keys and indexes of copied tables, while the copy goes on. */
export function indexWorker(ctx: MigrationContext, opts: IndexPoolOptions) {
  return (signal: AbortSignal): Promise<void> =>
    runLoop<pg.Client>({
      signal,
      emit: ctx.emit,
      open: () => connect(ctx.target, { stage: "index" }),
      close: (c) => c.end(),
      step: (c) => indexStep(ctx, c, opts, signal),
      idleMs: 1000,
      waker: opts.waker,
    });
}
