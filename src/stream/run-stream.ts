import type pg from "pg";
import { assertCaptureOwner } from "../capture/index.js";
import { tableArg } from "../catalog/index.js";
import type { MigrationContext } from "../context.js";
import { connectionCap, serverMajor } from "../db/index.js";
import { isRetryable, sleep } from "../db/retry.js";
import { PgferryError } from "../errors/index.js";
import { changesAfter } from "../positions/index.js";
import {
  advanceIdleTables,
  ensureControlSchema,
  INDEXED_PHASES,
  moveMigration,
  newSourceTables,
  phaseIn,
  phasesExcept,
  readMigration,
  recordEvent,
} from "../state/index.js";
import type { WindowOutcome } from "./apply-window.js";
import { changedShapes, recheckPaused, recordSourceOids } from "./ddl.js";
import { startHeartbeat } from "./heartbeat.js";
import {
  appliedTotal,
  changeLogBytes,
  changeLogRows,
  cleanupLog,
  countPending,
  storeStreamStatus,
} from "./monitor.js";
import { RetryLoop } from "./retry.js";
import { syncSequencesOn } from "./sequences.js";
import { onSide, Session } from "./sessions.js";
import { readStreamTables, tableName } from "./table-state.js";
import { FORWARD_MIGRATION_PHASES, type ResolvedStreamOptions, type StreamTable } from "./types.js";
import { streamFailed, TableQueue, WorkerPool } from "./worker-pool.js";

const PAUSED_RECHECK_MS = 10_000;
/** Idle tables' positions (and so their lag) move forward at most this often. */
const IDLE_ADVANCE_MS = 1000;

/** Which tables have log rows after their position, and the snapshot that says so. */
const BUSY_SQL = `
select txid_current_snapshot()::text as q, (select max(beat_at)::text from pgferry.heartbeat) as beat,
       array(select x.id from unnest($1::int[], $2::text[]) as x(id, p)
              where exists (select 1 from pgferry.changes c
                             where c.tbl = x.id and ${changesAfter("x.p::txid_snapshot")})) as busy`;

/**
 * The forward stream: a coordinator cuts windows every windowIntervalMs and queues the tables
 * that have changes; workers apply them. Between rounds: pending counts, lag and rate, log
 * cleanup, sequence following, and the re-check of paused tables.
 */
export class ForwardStream {
  private readonly read: Session;
  private readonly write: Session;
  private majors = { source: 0, target: 0 };
  private tables: StreamTable[] = [];
  private last = { status: 0, cleanup: 0, sequences: 0, paused: 0, idle: 0 };
  /** Counting a huge backlog is not free: the pause between counts grows with their cost. */
  private statusEveryMs = 0;
  private applied: { total: number; at: number } | undefined;
  /** The migration's token (capture/ownership.ts), read at start. */
  private token = "";
  /** New source tables already reported by this run. */
  private readonly newTables = new Set<string>();

  constructor(
    private readonly ctx: MigrationContext,
    private readonly o: ResolvedStreamOptions,
  ) {
    this.read = new Session(ctx.source, {
      stage: "stream",
      statementTimeoutMs: 120_000,
      lockTimeoutMs: 5000,
    });
    this.write = new Session(ctx.target, { stage: "stream", statementTimeoutMs: 120_000 });
  }

  async run(): Promise<void> {
    const { ctx, o } = this;
    const started = Date.now();
    try {
      if (!(await this.start())) return;
    } catch (err) {
      await this.close();
      throw err;
    }
    ctx.emit({ type: "stage:start", stage: "stream" });
    const queue = new TableQueue();
    const pool = new WorkerPool(
      ctx,
      queue,
      {
        jobs: this.applyJobs(),
        window: { lock: "skip", maxChanges: o.windowMaxChanges },
        maxRetryMs: o.maxRetryMs,
        readMajor: this.majors.source,
        applyToken: this.token,
      },
      (out) => this.report(out),
    );
    const heartbeat = startHeartbeat(ctx.source, o.heartbeatIntervalMs, ctx.emit);
    const retry = new RetryLoop("stream", ctx.emit, o.maxRetryMs);
    let failure: unknown;
    try {
      while (!ctx.signal.aborted && pool.error === undefined) {
        try {
          if (!(await this.round(queue))) break;
          await this.periodic(queue);
          await retry.succeeded(await this.write.get());
        } catch (err) {
          if (!isRetryable(err)) throw err;
          await this.read.discard();
          await this.write.discard();
          await retry.failed(err, ctx.signal);
          continue;
        }
        await sleep(o.windowIntervalMs, ctx.signal);
      }
    } catch (err) {
      failure = err;
    } finally {
      await pool.finish();
      await heartbeat.stop();
    }
    failure ??= pool.error;
    await this.stop(failure, pool.totals, started);
    if (failure !== undefined) throw streamFailed(failure);
  }

  /**
   * Appliers within the process's source connection cap, if one is set: each holds a source
   * session, besides the coordinator's and the heartbeat's, and one slot stays free for a
   * stall probe (db/watchdog.ts), which takes none.
   */
  private applyJobs(): number {
    const cap = connectionCap(this.ctx.source);
    return cap === undefined ? this.o.applyJobs : Math.max(1, Math.min(this.o.applyJobs, cap - 3));
  }

  /** Control schema up to date, migration present, paused tables re-checked once. */
  private async start(): Promise<boolean> {
    const tgt = await this.write.get();
    await ensureControlSchema(tgt);
    const m = await readMigration(tgt);
    if (!m)
      throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
    if (!phaseIn(FORWARD_MIGRATION_PHASES, m.phase)) return false;
    const src = await onSide("source", () => this.read.get());
    this.token = m.token;
    // Another migration's log would lack changes, and this stream would trim it under it.
    await onSide("source", () => assertCaptureOwner(src, m.token, "source"));
    this.majors = { source: await serverMajor(src), target: await serverMajor(tgt) };
    await this.recheckPaused(true);
    await this.recordOids();
    await recordEvent(tgt, "info", "stream-start", "Streaming changes.");
    return true;
  }

  private async stop(failure: unknown, totals: { changes: number; windows: number }, started: number) {
    const message = `${totals.changes} change(s) applied in ${totals.windows} window(s)`;
    try {
      const tgt = await this.write.get();
      if (failure === undefined)
        await recordEvent(tgt, "info", "stream-stop", `Streaming stopped: ${message}.`);
      else
        await recordEvent(tgt, "error", "stream-failed", `Streaming failed: ${(failure as Error).message}`);
    } catch {
      // The target may be what failed; the event is best effort.
    }
    await this.close();
    if (failure === undefined) {
      this.ctx.emit({ type: "stage:done", stage: "stream", message, seconds: (Date.now() - started) / 1000 });
    }
  }

  private async close(): Promise<void> {
    await Promise.all([this.read.discard(), this.write.discard()]);
  }

  private report(out: WindowOutcome): void {
    const t = out.table;
    if (!t) return;
    if (out.status === "applied" && out.changes > 0) {
      this.ctx.emit({
        type: "stream:window",
        table: tableName(t),
        direction: "forward",
        changes: out.changes,
        seconds: out.seconds ?? 0,
      });
    }
    if (out.status === "applied" && out.phaseBefore === "indexed") {
      this.ctx.emit({ type: "table:phase", table: tableName(t), phase: "streaming" });
    }
    if (out.uncut) {
      this.ctx.emit({
        type: "log",
        level: "info",
        message: "a cut window met a unique conflict and was applied whole instead",
        table: tableName(t),
      });
    }
    if (out.status === "paused") {
      this.ctx.emit({ type: "table:phase", table: tableName(t), phase: "paused" });
      this.ctx.emit({ type: "log", level: "warn", message: out.reason ?? "paused", table: tableName(t) });
    }
  }

  /** One window cut: returns false when the migration has left the streaming phases. */
  private async round(queue: TableQueue): Promise<boolean> {
    const tgt = await onSide("target", () => this.write.get());
    const m = await onSide("target", () => readMigration(tgt));
    if (!m || !phaseIn(FORWARD_MIGRATION_PHASES, m.phase)) return false;
    this.tables = await onSide("target", () => readStreamTables(tgt));
    const active = this.tables.filter(
      (t) => (t.phase === "indexed" || t.phase === "streaming") && t.position,
    );
    if (active.length === 0) return true;
    const src = await onSide("source", () => this.read.get());
    const { rows } = await onSide("source", () =>
      // Named: prepared once per session, as it runs several times a second.
      src.query<{ q: string; beat: string | null; busy: number[] }>({
        name: "pgferry_stream_busy",
        text: BUSY_SQL,
        values: [active.map((t) => t.id), active.map((t) => t.position)],
      }),
    );
    const { q, beat } = rows[0]!;
    // A keyless table to copy again has a window to apply even with an empty log.
    const busy = [...new Set([...rows[0]!.busy, ...active.filter((t) => t.recopy).map((t) => t.id)])];
    for (const id of busy) queue.push(id);
    const busySet = new Set(busy);
    const idle = active.filter((t) => !busySet.has(t.id) && !queue.has(t.id));
    const fresh = idle.some((t) => t.phase === "indexed");
    if (idle.length > 0 && (fresh || Date.now() - this.last.idle >= IDLE_ADVANCE_MS)) {
      this.last.idle = Date.now();
      // Tables with nothing after their position move to the coordinator's snapshot in one
      // statement (an empty window each); rows a worker or another process holds are skipped.
      const moved = await onSide("target", () => advanceIdleTables(tgt, idle, q, beat));
      for (const r of moved) {
        if (r.was === "indexed") {
          this.ctx.emit({
            type: "table:phase",
            table: r.name,
            phase: "streaming",
          });
        }
      }
    }
    await this.promoteMigration(tgt, m.phase);
    return true;
  }

  /** Once every table streams (or is paused), the migration's phase says so. */
  private async promoteMigration(tgt: pg.ClientBase, phase: string): Promise<void> {
    if (phase !== "copying" && phase !== "indexing") return;
    if (this.tables.some((t) => t.phase !== "streaming" && t.phase !== "paused")) return;
    await onSide("target", () =>
      moveMigration(tgt, {
        from: ["copying", "indexing"],
        to: "streaming",
        skip: phasesExcept("preparing", "copying", "indexing"),
      }),
    );
  }

  private async periodic(queue: TableQueue): Promise<void> {
    const now = Date.now();
    const o = this.o;
    if (now - this.last.status >= Math.max(o.statusIntervalMs, this.statusEveryMs)) {
      this.last.status = now;
      await this.measure();
      this.statusEveryMs = 20 * (Date.now() - now);
      await this.recordOids();
      await this.checkShapes(queue);
    }
    if (now - this.last.cleanup >= o.cleanupIntervalMs) {
      this.last.cleanup = now;
      const withPosition = this.tables.filter((t) => t.position);
      const src = await onSide("source", () => this.read.get());
      // Trimmed only while the log is still this migration's (a forced cleanup may have
      // handed the source to another one since the start).
      await onSide("source", () => assertCaptureOwner(src, this.token, "source"));
      await onSide("source", () => cleanupLog(src, withPosition, o.cleanupBatch, 1000));
    }
    if (now - this.last.sequences >= o.sequenceSyncIntervalMs) {
      this.last.sequences = now;
      const src = await onSide("source", () => this.read.get());
      const tgt = await onSide("target", () => this.write.get());
      await syncSequencesOn({ from: src, to: tgt, control: tgt, reverse: false, gap: 0 });
    }
    if (now - this.last.paused >= PAUSED_RECHECK_MS) {
      this.last.paused = now;
      await this.recheckPaused(false);
      await this.reportNewTables();
    }
  }

  /**
   * A table created on the source after prepare is not captured: nothing streams it, and the
   * cutover refuses while it exists. Said once per table and run (an event, for `status`).
   */
  private async reportNewTables(): Promise<void> {
    const src = await onSide("source", () => this.read.get());
    const tgt = await onSide("target", () => this.write.get());
    const found = await onSide("source", () => newSourceTables(src, tgt));
    for (const t of found) {
      const name = tableName(t);
      if (this.newTables.has(name)) continue;
      this.newTables.add(name);
      const arg = tableArg(t.schema, t.name);
      const message = `${name}: a new table on the source that the migration does not carry. Run \`pgferry tables add ${arg}\` to migrate it, or \`pgferry tables remove ${arg}\` to leave it out; the cutover refuses until then.`;
      this.ctx.emit({ type: "log", level: "warn", message, table: name });
      await onSide("target", () => recordEvent(tgt, "warn", "new-table", message, { table: name }));
    }
  }

  /** Source oids, so a table renamed later is still found (and named in the pause reason). */
  private async recordOids(): Promise<void> {
    const tgt = await onSide("target", () => this.write.get());
    const tables = this.tables.length ? this.tables : await readStreamTables(tgt);
    if (tables.every((t) => t.sourceOid !== null)) return;
    const src = await onSide("source", () => this.read.get());
    await recordSourceOids(src, tgt, tables);
  }

  /**
   * DDL on a table that sees no writes (a retype rewrites rows without logging them) must
   * pause it too: a table whose columns changed is queued, and its worker pauses it.
   */
  private async checkShapes(queue: TableQueue): Promise<void> {
    const active = this.tables.filter((t) => t.phase === "indexed" || t.phase === "streaming");
    if (active.length === 0) return;
    const src = await onSide("source", () => this.read.get());
    for (const id of await onSide("source", () => changedShapes(src, this.majors.source, active)))
      queue.push(id);
  }

  private async measure(): Promise<void> {
    const counted = this.tables.filter((t) => t.position && phaseIn(INDEXED_PHASES, t.phase));
    const src = await onSide("source", () => this.read.get());
    const pending = await onSide("source", () => countPending(src, counted));
    const logBytes = await onSide("source", () => changeLogBytes(src));
    const logRows = await onSide("source", () => changeLogRows(src));
    const tgt = await onSide("target", () => this.write.get());
    const total = await onSide("target", () => appliedTotal(tgt));
    const now = Date.now();
    const rate = this.applied
      ? ((total - this.applied.total) * 1000) / Math.max(1, now - this.applied.at)
      : null;
    this.applied = { total, at: now };
    await onSide("target", () => storeStreamStatus(tgt, pending, rate, logBytes, logRows));
  }

  private async recheckPaused(retryUnchanged: boolean): Promise<void> {
    const tgt = await onSide("target", () => this.write.get());
    const paused = (await readStreamTables(tgt)).filter((t) => t.phase === "paused");
    if (paused.length === 0) return;
    const src = await onSide("source", () => this.read.get());
    for (const t of paused) {
      if (await recheckPaused(src, tgt, this.majors, t, retryUnchanged)) {
        this.ctx.emit({ type: "table:phase", table: tableName(t), phase: "streaming" });
        this.ctx.emit({
          type: "log",
          level: "info",
          message: "the target matches the source again; streaming resumed",
          table: tableName(t),
        });
      }
    }
  }
}
