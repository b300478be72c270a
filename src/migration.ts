import type pg from "pg";
import type { MigrationContext } from "./context.js";
import { runCopy } from "./copy/index.js";
import { connect, connectionSlots, defaultIndexJobs, defaultJobs, withClient } from "./db/index.js";
import { isPgferryError, PgferryError, redact } from "./errors/index.js";
import { type PrepareOptions, runPrepare } from "./prepare/index.js";
import { readStatus } from "./progress/status.js";
import { recordEvent } from "./state/index.js";
import { runStream, type StreamOptions } from "./stream/index.js";

export interface StartOptions extends PrepareOptions {
  /** Copy workers in this process; default from the cores and the source's free connections. */
  jobs?: number;
  /** Index workers in this process; default from the cores. */
  indexJobs?: number;
  chunkRows?: number;
  maxRateMBps?: number;
  maintenanceWorkMem?: string;
  /** false: stop once every table is indexed, without streaming (`--no-stream`). */
  stream?: boolean;
  streamOptions?: StreamOptions;
  /** Emit a `progress` event (the status read model) this often; 0 = never. */
  progressIntervalMs?: number;
}

export interface StartResult {
  /** The migration's phase when start returned. */
  phase: string;
  /** Why start returned: stopped by the signal, copy done and streaming skipped or not built, or streaming ended. */
  outcome: "stopped" | "indexed" | "stream-unavailable" | "streamed";
  jobs: number;
  indexJobs: number;
}

const DONE_PHASES = new Set(["switched", "rolled-back", "cleaned"]);

/**
 * `pgferry start` as a library call: prepare, copy and index (overlapped), then stream, each
 * resumed from the state on the target. Never prints; progress goes through ctx.emit.
 */
export async function runMigration(ctx: MigrationContext, opts: StartOptions = {}): Promise<StartResult> {
  const jobs = opts.jobs ?? (await jobsFromBudget(ctx));
  const indexJobs = opts.indexJobs ?? defaultIndexJobs();
  const result = (phase: string, outcome: StartResult["outcome"]): StartResult => ({
    phase,
    outcome,
    jobs,
    indexJobs,
  });
  const ticker = startTicker(ctx, opts.progressIntervalMs ?? 0);
  try {
    const prepared = await runPrepare(ctx, {
      ...opts,
      jobs,
      recordOptions: {
        include: opts.include ?? null,
        exclude: opts.exclude ?? null,
        chunkRows: opts.chunkRows ?? null,
      },
    });
    if (!prepared) return result(await currentPhase(ctx), "stopped");
    let phase = await currentPhase(ctx);
    if (DONE_PHASES.has(phase) || phase === "cutover") {
      throw new PgferryError("ALREADY_SWITCHED", `This migration is past streaming (phase ${phase}).`, {
        side: "target",
      });
    }
    if (phase === "copying" || phase === "indexing") {
      const done = await runCopy(ctx, {
        jobs,
        indexJobs,
        ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
        ...(opts.maxRateMBps ? { maxRateMBps: opts.maxRateMBps } : {}),
        ...(opts.maintenanceWorkMem ? { maintenanceWorkMem: opts.maintenanceWorkMem } : {}),
      });
      phase = await currentPhase(ctx);
      if (!done) return result(phase, "stopped");
    }
    if (opts.stream === false) return result(phase, "indexed");
    const streamed = await stream(ctx, opts.streamOptions);
    return result(await currentPhase(ctx), ctx.signal.aborted ? "stopped" : streamed);
  } catch (err) {
    await recordFailure(ctx, err);
    throw err;
  } finally {
    await ticker.stop();
  }
}

async function stream(ctx: MigrationContext, opts?: StreamOptions): Promise<StartResult["outcome"]> {
  try {
    await runStream(ctx, opts);
    return "streamed";
  } catch (err) {
    // The stream stage is built separately; until it is, start ends after the index stage.
    if (isPgferryError(err) && err.code === "INTERNAL" && /not built yet/.test(err.message)) {
      return "stream-unavailable";
    }
    throw err;
  }
}

async function jobsFromBudget(ctx: MigrationContext): Promise<number> {
  const slots = await withClient(ctx.source, { stage: "copy", statementTimeoutMs: 30_000 }, connectionSlots);
  return defaultJobs(slots.available);
}

async function currentPhase(ctx: MigrationContext): Promise<string> {
  return withClient(ctx.target, { stage: "status" }, async (c) => {
    const has = await c.query<{ ok: boolean }>("select to_regclass('pgferry.migration') is not null as ok");
    if (!has.rows[0]?.ok) return "preparing";
    const { rows } = await c.query<{ phase: string }>("select phase from pgferry.migration");
    return rows[0]?.phase ?? "preparing";
  });
}

/** Refusals before this start owns the migration: recording them would land in someone else's. */
const NOT_RECORDED = new Set(["ALREADY_STARTED", "CHECK_FAILED", "BAD_OPTION", "NOT_PREPARED"]);

/** Failures are kept in pgferry.events so `pgferry status` shows them from any shell. */
async function recordFailure(ctx: MigrationContext, err: unknown): Promise<void> {
  const e = err as { code?: string; message?: string };
  if (ctx.signal.aborted || (e?.code && NOT_RECORDED.has(e.code))) return;
  await withClient(ctx.target, { stage: "status", connectTimeoutMs: 5000 }, async (c) => {
    const exists = await c.query<{ ok: boolean }>("select to_regclass('pgferry.events') is not null as ok");
    if (!exists.rows[0]?.ok) return;
    await recordEvent(
      c,
      "error",
      "start",
      redact(`${e?.code ? `${e.code}: ` : ""}${e?.message ?? String(err)}`),
    );
  }).catch(() => {});
}

/** Emits the status read model every intervalMs while start runs (once more when it stops). */
function startTicker(ctx: MigrationContext, intervalMs: number): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: async () => {} };
  let client: pg.Client | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      client ??= await connect(ctx.target, {
        stage: "status",
        statementTimeoutMs: 10_000,
        connectTimeoutMs: 5000,
      });
      ctx.emit({ type: "progress", status: await readStatus(client) });
    } catch {
      // Before prepare created the control schema, or a lost connection: try again next tick.
      await client?.end().catch(() => {});
      client = undefined;
    }
  };
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, intervalMs);
  };
  running = tick().then(schedule);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      // The final picture, unless the target is out of reach (then exit without waiting on it).
      if (client) await tick();
      await client?.end().catch(() => {});
    },
  };
}
