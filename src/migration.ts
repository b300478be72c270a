import type pg from "pg";
import type { MigrationContext } from "./context.js";
import { runCopy } from "./copy/index.js";
import {
  connect,
  connectionSlots,
  defaultIndexJobs,
  defaultJobs,
  driverFields,
  sourceConnectionBudget,
  withClient,
  withConnectionCap,
} from "./db/index.js";
import { sleep } from "./db/retry.js";
import { PgferryError, redact } from "./errors/index.js";
import { type PrepareOptions, runPrepare } from "./prepare/index.js";
import { readStatus } from "./progress/status.js";
import {
  controlTableExists,
  countTables,
  cutoverLockHeld,
  readMigrationIfAny,
  recordEvent,
  type StartHeartbeat,
  startHeartbeat,
} from "./state/index.js";
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
  /**
   * Why start returned: stopped by the signal; copy done and streaming skipped (or not built);
   * streaming ended; or the migration moved on: switched without a rollback window, rolled
   * back, or cleaned up (nothing left to stream in each).
   */
  outcome: "stopped" | "indexed" | "streamed" | "switched" | "rolled-back" | "cleaned";
  jobs: number;
  indexJobs: number;
}

/** How often start looks at the phase while a cutover runs. */
const CUTOVER_POLL_MS = 500;

/**
 * `pgferry start` as a library call: prepare, copy and index (overlapped), then stream, each
 * resumed from the state on the target, and on through the cutover (see followMigration).
 * Never prints; progress goes through ctx.emit.
 */
export async function runMigration(given: MigrationContext, opts: StartOptions = {}): Promise<StartResult> {
  const jobs = opts.jobs ?? (await jobsFromBudget(given));
  // The budget check promised: every source session of this run counts against it.
  const ctx = { ...given, source: withConnectionCap(given.source, sourceConnectionBudget(jobs)) };
  const indexJobs = opts.indexJobs ?? defaultIndexJobs();
  const result = (phase: string, outcome: StartResult["outcome"]): StartResult => ({
    phase,
    outcome,
    jobs,
    indexJobs,
  });
  const ticker = startTicker(ctx, opts.progressIntervalMs ?? 0);
  // Liveness for `status` (issue 13): a start that died leaves a row that goes stale.
  const beat = startHeartbeat(ctx.target, "prepare");
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
    if (!prepared) return result((await readLifecycle(ctx, false)).phase, "stopped");
    let phase = (await readLifecycle(ctx)).phase;
    if (phase === "rolled-back" || phase === "cleaned") {
      const what =
        phase === "rolled-back" ? "was rolled back: the application uses the source" : "was cleaned up";
      throw new PgferryError("MIGRATION_ENDED", `This migration ${what}; there is nothing left to stream.`, {
        side: "target",
      });
    }
    // While streaming, a table `pgferry tables add` registered but did not finish copying.
    if (
      phase === "copying" ||
      phase === "indexing" ||
      (phase === "streaming" && (await uncopiedTables(ctx)))
    ) {
      beat.role("copy");
      const done = await runCopy(ctx, {
        jobs,
        indexJobs,
        ...(opts.chunkRows ? { chunkRows: opts.chunkRows } : {}),
        ...(opts.maxRateMBps ? { maxRateMBps: opts.maxRateMBps } : {}),
        ...(opts.maintenanceWorkMem ? { maintenanceWorkMem: opts.maintenanceWorkMem } : {}),
      });
      phase = (await readLifecycle(ctx)).phase;
      if (!done) return result(phase, "stopped");
    }
    if (opts.stream === false) return result(phase, "indexed");
    const outcome = await followMigration(ctx, beat, opts.streamOptions);
    return result((await readLifecycle(ctx)).phase, ctx.signal.aborted ? "stopped" : outcome);
  } catch (err) {
    await recordFailure(ctx, err);
    throw err;
  } finally {
    await ticker.stop();
    await beat.stop();
  }
}

/**
 * Streams for as long as there is something to stream, following the phase another command
 * sets: forward while the migration streams; waiting while a cutover runs (the cutover applies
 * the last windows itself, and an aborted one sets 'streaming' again, so the forward stream
 * resumes); after a switch with a rollback window, the reverse stream (the target's writes back
 * to the source) until rollback or cleanup. Returns at Ctrl-C or when nothing is left.
 */
async function followMigration(
  ctx: MigrationContext,
  beat: StartHeartbeat,
  streamOptions: StreamOptions = {},
): Promise<StartResult["outcome"]> {
  let waiting: Waiting = "no";
  for (;;) {
    if (ctx.signal.aborted) return "stopped";
    const m = await readLifecycle(ctx);
    switch (m.phase) {
      case "cutover":
        waiting = await waitWhileHeld(ctx, beat, waiting, "cutover");
        break;
      case "switched":
        if (!m.rollbackWindow) {
          info(
            ctx,
            "The application was switched to the target without a rollback window: nothing left to stream.",
          );
          return "switched";
        }
        if (m.rollbackSwitchStarted) {
          // The application may be on the source again: streaming back would overwrite its writes.
          waiting = await waitWhileHeld(ctx, beat, waiting, "rollback");
          break;
        }
        info(
          ctx,
          "Switched with a rollback window: streaming the target's writes back to the source until `pgferry rollback` or `pgferry cleanup`.",
        );
        waiting = "no";
        beat.role("reverse stream");
        await endedUnder(ctx, runStream(ctx, { ...streamOptions, direction: "reverse" }));
        break;
      case "rolled-back":
        info(
          ctx,
          "The migration was rolled back: the application uses the source again; nothing left to stream.",
        );
        return "rolled-back";
      case "cleaned":
        return "cleaned";
      default: {
        if (waiting === "cutover" || waiting === "interrupted")
          info(ctx, "The cutover was aborted: streaming again.");
        waiting = "no";
        beat.role("forward stream");
        await endedUnder(ctx, runStream(ctx, streamOptions));
      }
    }
  }
}

/** What start waits for: nothing, a cutover or a rollback (after its switch started), running or interrupted. */
type Waiting = "no" | "cutover" | "interrupted" | "rollback" | "rollback-interrupted";

/** What start says while a cutover or a rollback holds the migration, running or interrupted. */
const HELD = {
  cutover: {
    running: {
      state: "cutover",
      level: "info",
      message: "A cutover is running: waiting for it (streaming resumes if it is aborted).",
    },
    interrupted: {
      state: "interrupted",
      level: "warn",
      message:
        "The cutover was interrupted (no `pgferry cutover` holds the migration): run `pgferry cutover` to finish it or `pgferry rollback` to undo it. Waiting.",
    },
  },
  rollback: {
    running: {
      state: "rollback",
      level: "info",
      message: "The rollback's switch has started: no longer streaming back; waiting for it.",
    },
    interrupted: {
      state: "rollback-interrupted",
      level: "warn",
      message:
        "The rollback was interrupted after its switch started: run `pgferry rollback` to finish it. Waiting.",
    },
  },
} as const;

/**
 * One poll while a cutover or a rollback holds the migration: whether its process still holds
 * the cutover lock, said once per state (a cutover run again after an interruption resumes
 * without a word), then the role "waiting" and one poll interval. Returns the new state.
 */
async function waitWhileHeld(
  ctx: MigrationContext,
  beat: StartHeartbeat,
  was: Waiting,
  by: keyof typeof HELD,
): Promise<Waiting> {
  const now = HELD[by][(await cutoverRunning(ctx)) ? "running" : "interrupted"];
  if (was !== now.state && !(was === "interrupted" && now.state === "cutover"))
    ctx.emit({ type: "log", level: now.level, message: now.message });
  beat.role("waiting");
  await sleep(CUTOVER_POLL_MS, ctx.signal);
  return now.state;
}

/**
 * A stream whose objects `pgferry cleanup` dropped under it fails mid-round: that is the end
 * of the migration, not a failure of start (the loop then sees phase 'cleaned').
 */
async function endedUnder<T>(ctx: MigrationContext, work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (err) {
    const now = await readLifecycle(ctx).catch(() => undefined);
    if (now?.phase === "cleaned") return undefined;
    throw err;
  }
}

async function uncopiedTables(ctx: MigrationContext): Promise<boolean> {
  return withClient(ctx.target, { stage: "status" }, async (c) => {
    return (await countTables(c, ["pending", "copying", "copied", "indexing"])) > 0;
  });
}

function info(ctx: MigrationContext, message: string): void {
  ctx.emit({ type: "log", level: "info", message });
}

async function jobsFromBudget(ctx: MigrationContext): Promise<number> {
  const slots = await withClient(ctx.source, { stage: "copy", statementTimeoutMs: 30_000 }, connectionSlots);
  return defaultJobs(slots.available);
}

async function readLifecycle(
  ctx: MigrationContext,
  prepared = true,
): Promise<{ phase: string; rollbackWindow: boolean; rollbackSwitchStarted: boolean }> {
  return withClient(ctx.target, { stage: "status" }, async (c) => {
    // Once prepared, a control schema that is gone was dropped by cleanup.
    const gone = prepared ? "cleaned" : "preparing";
    // A control schema from before 006_rollback.sql has no rollback_switch_started_at (undefined).
    const m = await readMigrationIfAny(c);
    return {
      phase: m?.phase ?? gone,
      rollbackWindow: m?.rollback_window === true,
      rollbackSwitchStarted: m ? m.rollback_switch_started_at != null : false,
    };
  });
}

/**
 * A cutover or a rollback holds a session advisory lock on the target while it runs
 * (src/state/cutover-lock.ts); phase 'cutover' without it is a cutover that died.
 */
async function cutoverRunning(ctx: MigrationContext): Promise<boolean> {
  return withClient(ctx.target, { stage: "status" }, cutoverLockHeld);
}

/** Refusals before this start owns the migration: recording them would land in someone else's. */
const NOT_RECORDED = new Set(["ALREADY_STARTED", "CHECK_FAILED", "BAD_OPTION", "NOT_PREPARED"]);

/** Failures are kept in the target's event log so `pgferry status` shows them from any shell. */
async function recordFailure(ctx: MigrationContext, err: unknown): Promise<void> {
  const e = driverFields(err);
  if (ctx.signal.aborted || (e.code && NOT_RECORDED.has(e.code))) return;
  await withClient(ctx.target, { stage: "status", connectTimeoutMs: 5000 }, async (c) => {
    if (!(await controlTableExists(c, "events"))) return;
    await recordEvent(
      c,
      "error",
      "start",
      redact(`${e.code ? `${e.code}: ` : ""}${e.message ?? String(err)}`),
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
