import { assertCaptureOwner } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect, serverMajor } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { parseSnapshot, snapshotCovers } from "../positions/index.js";
import { ensureControlSchema, migrationToken } from "../state/index.js";
import { countPending, storeStreamStatus } from "./monitor.js";
import { catchUpReverse } from "./reverse.js";
import { readStreamTables, tableName } from "./table-state.js";
import { resolveOptions, type StreamOptions } from "./types.js";
import { streamFailed, TableQueue, WorkerPool } from "./worker-pool.js";

const MAX_PASSES = 5;

/**
 * Takes Q = the source's snapshot now and applies every replicated table up to at least Q,
 * durably, then returns. At cutover, right after the fence drained, nothing commits after Q,
 * so the target then equals the source: lag is zero by construction. Waits for tables another
 * stream process holds (it is stopping). Throws when a table is not streaming or paused.
 */
export async function catchUp(
  ctx: MigrationContext,
  opts: StreamOptions = {},
): Promise<{ changes: number; windows: number }> {
  const o = resolveOptions(opts);
  if (o.direction === "reverse") return catchUpReverse(ctx, opts);
  const tgt = await connect(ctx.target, { stage: "stream" });
  try {
    await ensureControlSchema(tgt);
    const token = await migrationToken(tgt);
    const { q, major } = await sourceNow(ctx, token);
    const totals = { changes: 0, windows: 0 };
    for (let pass = 1; ; pass++) {
      ctx.signal.throwIfAborted();
      const tables = await readStreamTables(tgt);
      assertAllStreaming(tables);
      const behind = tables.filter(
        (t) => t.recopy || !snapshotCovers(parseSnapshot(t.position), parseSnapshot(q)),
      );
      if (behind.length === 0) break;
      if (pass > MAX_PASSES) {
        throw new PgferryError(
          "STREAM_FAILED",
          `Could not catch up ${behind.map(tableName).join(", ")} after ${MAX_PASSES} passes.`,
        );
      }
      const queue = new TableQueue();
      for (const t of behind) queue.push(t.id);
      const pool = new WorkerPool(ctx, queue, {
        jobs: Math.min(o.applyJobs, behind.length),
        window: { lock: "wait", maxChanges: Number.POSITIVE_INFINITY, syncCommit: true },
        maxRetryMs: o.maxRetryMs,
        readMajor: major,
        applyToken: token,
      });
      await pool.finish(true);
      if (pool.error !== undefined) throw streamFailed(pool.error);
      totals.changes += pool.totals.changes;
      totals.windows += pool.totals.windows;
    }
    const tables = await readStreamTables(tgt);
    const src = await connect(ctx.source, { stage: "stream", statementTimeoutMs: 60_000 });
    try {
      await storeStreamStatus(tgt, await countPending(src, tables), null);
    } finally {
      await src.end().catch(() => {});
    }
    return totals;
  } finally {
    await tgt.end().catch(() => {});
  }
}

/** Q, after checking that the source's log is this migration's (another one's would lack changes). */
async function sourceNow(ctx: MigrationContext, token: string): Promise<{ q: string; major: number }> {
  const src = await connect(ctx.source, { stage: "stream", statementTimeoutMs: 60_000 });
  try {
    await assertCaptureOwner(src, token, "source");
    const { rows } = await src.query<{ q: string }>("select txid_current_snapshot()::text as q");
    return { q: rows[0]!.q, major: await serverMajor(src) };
  } finally {
    await src.end().catch(() => {});
  }
}

function assertAllStreaming(tables: Awaited<ReturnType<typeof readStreamTables>>): void {
  const paused = tables.filter((t) => t.phase === "paused");
  if (paused.length > 0) {
    throw new PgferryError(
      "DDL_DETECTED",
      `Streaming is paused for ${paused.map(tableName).join(", ")}; the target cannot catch up.`,
      { side: "source" },
    );
  }
  const early = tables.filter((t) => t.phase !== "streaming" && t.phase !== "indexed");
  if (early.length > 0) {
    throw new PgferryError(
      "NOT_STREAMING",
      `Not every table is streaming yet: ${early.map((t) => `${tableName(t)} (${t.phase})`).join(", ")}.`,
    );
  }
}
