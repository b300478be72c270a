import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { BuildSlots } from "../index-build/index.js";
import { moveMigration, phasesExcept } from "../state/index.js";
import { DEFAULT_CHUNK_ROWS } from "./chunk-plan.js";
import { copyWorker } from "./copy-workers.js";
import { indexWorker } from "./index-workers.js";
import { RateLimiter } from "./throttle.js";
import { runPool, Waker } from "./worker-loop.js";

export { DEFAULT_CHUNK_ROWS } from "./chunk-plan.js";
export { workerName } from "./copy-workers.js";

export interface CopyOptions {
  /** Copy workers in this process (each holds one source and one target session). */
  jobs: number;
  /** Index workers in this process; 0 = copy only (return once every table is copied). */
  indexJobs: number;
  chunkRows?: number;
  /** Upper bound on what this process reads from the source, MB/s (10^6 bytes) over all its workers. */
  maxRateMBps?: number;
  maintenanceWorkMem?: string;
  onBytes?: (n: number) => void;
}

/**
 * The copy and index stages, overlapped: copy workers plan and copy chunks while index
 * workers build the keys and indexes of every table already copied. Returns true when every
 * table is indexed (the migration is then in phase 'streaming'), false when stopped by the
 * signal. Other pgferry processes on the same target share the work through the claims.
 */
export async function runCopy(ctx: MigrationContext, opts: CopyOptions): Promise<boolean> {
  const waker = new Waker();
  const limiter = opts.maxRateMBps ? new RateLimiter(opts.maxRateMBps * 1_000_000) : undefined;
  const copyOpts = {
    jobs: opts.jobs,
    chunkRows: opts.chunkRows ?? DEFAULT_CHUNK_ROWS,
    waker,
    textTables: new Set<number>(),
    ...(limiter ? { limiter } : {}),
    ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
  };
  const indexOpts = {
    indexJobs: opts.indexJobs,
    slots: new BuildSlots(opts.indexJobs),
    waker,
    ...(opts.maintenanceWorkMem ? { maintenanceWorkMem: opts.maintenanceWorkMem } : {}),
  };
  const started = Date.now();
  ctx.emit({ type: "stage:start", stage: "copy" });
  if (opts.indexJobs > 0) ctx.emit({ type: "stage:start", stage: "index" });
  const copying = async (signal: AbortSignal) => {
    await runPool(
      Array.from({ length: opts.jobs }, (_, i) => copyWorker(ctx, i + 1, copyOpts)),
      signal,
    );
    if (signal.aborted) return;
    await advancePhase(ctx, "indexing");
    ctx.emit({ type: "stage:done", stage: "copy", seconds: (Date.now() - started) / 1000 });
  };
  const indexing = async (signal: AbortSignal) => {
    await runPool(
      Array.from({ length: opts.indexJobs }, () => indexWorker(ctx, indexOpts)),
      signal,
    );
  };
  await runPool(opts.indexJobs > 0 ? [copying, indexing] : [copying], ctx.signal);
  if (ctx.signal.aborted) return false;
  if (opts.indexJobs === 0) return true;
  await advancePhase(ctx, "streaming");
  ctx.emit({ type: "stage:done", stage: "index", seconds: (Date.now() - started) / 1000 });
  return true;
}

/** Moves the migration forward (never back: another process may already be further). */
async function advancePhase(ctx: MigrationContext, phase: "indexing" | "streaming"): Promise<void> {
  const client = await connect(ctx.target, { stage: "copy" });
  try {
    const from = phase === "indexing" ? (["copying"] as const) : (["copying", "indexing"] as const);
    await moveMigration(
      client,
      { from, to: phase, skip: phasesExcept("preparing", ...from) },
      phase === "indexing" ? { copy_finished_at: "keep-or-now" } : {},
    );
  } finally {
    await client.end().catch(() => {});
  }
}
