import os from "node:os";
import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect, SQLSTATE, SQLSTATE_CLASS, sqlState, sqlStateClass } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { markCopiedTables, stageCounts } from "./control-tables.js";
import { type ClaimedChunk, chunkFormat, claimChunk, copyClaimedChunk } from "./copy-chunk.js";
import { planNextTable } from "./plan-step.js";
import type { RateLimiter } from "./throttle.js";
import { runLoop, type StepResult, type Waker } from "./worker-loop.js";

export interface CopyPoolOptions {
  jobs: number;
  chunkRows: number;
  limiter?: RateLimiter;
  /** Woken when a table is copied (the index workers wait on it) or new chunks exist. */
  waker: Waker;
  /** Bytes streamed, as they pass (for live progress). */
  onBytes?: (n: number) => void;
  /** Tables whose binary COPY the target refused: copied as text by every worker of the process. */
  textTables: Set<number>;
}

/** Source reads are bounded: a chunk is a few seconds of work, so an hour means something is wrong. */
const SOURCE_STATEMENT_TIMEOUT_MS = 60 * 60 * 1000;
const SOURCE_LOCK_TIMEOUT_MS = 10_000;

interface Sessions {
  source: pg.Client;
  target: pg.Client;
}

/** "host:pid:wN": which process and worker copied a chunk, kept in its chunk row (worker). */
export function workerName(i: number): string {
  return `${os.hostname()}:${process.pid}:w${i}`;
}

async function openSessions(ctx: MigrationContext): Promise<Sessions> {
  const source = await connect(ctx.source, {
    stage: "copy",
    statementTimeoutMs: SOURCE_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: SOURCE_LOCK_TIMEOUT_MS,
    // A worker whose network died must not keep a snapshot open on the live source.
    settings: { idle_in_transaction_session_timeout: 60_000 },
  });
  try {
    // Each chunk commits with its done-mark: a crash loses at most unmarked chunks, which are
    // re-copied, so the fsync wait buys nothing here.
    const target = await connect(ctx.target, { stage: "copy", asyncCommit: true });
    return { source, target };
  } catch (err) {
    await source.end().catch(() => {});
    throw err;
  }
}

async function closeSessions(s: Sessions): Promise<void> {
  await Promise.all([s.source.end().catch(() => {}), s.target.end().catch(() => {})]);
}

async function copyStep(
  ctx: MigrationContext,
  s: Sessions,
  worker: string,
  opts: CopyPoolOptions,
  signal: AbortSignal,
): Promise<StepResult> {
  const planned = await planNextTable(s.source, s.target, { chunkRows: opts.chunkRows });
  if (planned) {
    ctx.emit({ type: "table:phase", table: planned.name, phase: "copying" });
    opts.waker.notify();
    return "worked";
  }
  const chunk = await claimChunk(s.target);
  if (!chunk) {
    await announceCopied(ctx, s.target, opts);
    const counts = await stageCounts(s.target);
    // Chunks still not done are held by other workers (here or in another process); if one of
    // them dies its claim is released and we pick the chunk up on a later round.
    return counts.uncopied === 0 ? "finished" : "idle";
  }
  const asText = opts.textTables.has(chunk.tableId);
  try {
    await copyClaimedChunk(s.source, s.target, chunk, {
      worker,
      signal,
      ...(asText ? { format: "text" as const } : {}),
      ...(opts.limiter ? { limiter: opts.limiter } : {}),
      ...(opts.onBytes ? { onBytes: opts.onBytes } : {}),
    });
  } catch (err) {
    if (asText || chunkFormat(chunk) !== "binary" || !binaryRefused(err)) throw err;
    await fallBackToText(ctx, s, chunk, err, opts);
    return "worked";
  }
  await announceCopied(ctx, s.target, opts);
  return "worked";
}

/**
 * The target failed a binary chunk on its data (class 22) or framing (08P01): a column whose
 * type differs from the source's, or a type the rule took for built-in. Nothing was written
 * (the chunk rolled back); the table is copied as text from now on, where the server's own
 * input functions decide, so a real data error shows up there with its usual message.
 */
function binaryRefused(err: unknown): boolean {
  if (!(err instanceof PgferryError) || err.side !== "target") return false;
  return (
    sqlStateClass(err.cause) === SQLSTATE_CLASS.dataException ||
    sqlState(err.cause) === SQLSTATE.protocolViolation
  );
}

async function fallBackToText(
  ctx: MigrationContext,
  s: Sessions,
  chunk: ClaimedChunk,
  err: unknown,
  opts: CopyPoolOptions,
): Promise<void> {
  if (!opts.textTables.has(chunk.tableId)) {
    opts.textTables.add(chunk.tableId);
    ctx.emit({
      type: "log",
      level: "warn",
      table: chunk.table,
      message: `The target refused ${chunk.table} in COPY's binary format (${(err as Error).message}); copying it as text.`,
    });
  }
  // The source session was closed mid-COPY (copy-pipe.ts): this worker starts afresh.
  await closeSessions(s);
  Object.assign(s, await openSessions(ctx));
}

async function announceCopied(ctx: MigrationContext, target: pg.Client, opts: CopyPoolOptions) {
  const copied = await markCopiedTables(target);
  for (const t of copied) ctx.emit({ type: "table:phase", table: t.name, phase: "copied" });
  if (copied.length > 0) opts.waker.notify();
}

/** One copy worker: plans pending tables, then claims and copies chunks until every table is copied. */
export function copyWorker(ctx: MigrationContext, i: number, opts: CopyPoolOptions) {
  const worker = workerName(i);
  return (signal: AbortSignal): Promise<void> =>
    runLoop<Sessions>({
      signal,
      emit: ctx.emit,
      open: () => openSessions(ctx),
      close: closeSessions,
      step: (s) => copyStep(ctx, s, worker, opts, signal),
      idleMs: 1000,
      waker: opts.waker,
    });
}
