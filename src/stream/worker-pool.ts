import type { MigrationContext } from "../context.js";
import { fromDriverError } from "../db/index.js";
import { isRetryable } from "../db/retry.js";
import { PgferryError } from "../errors/index.js";
import {
  type ApplySessions,
  applyTableWindow,
  type WindowOptions,
  type WindowOutcome,
} from "./apply-window.js";
import { RetryLoop } from "./retry.js";
import { Session } from "./sessions.js";
import { tableName } from "./table-state.js";

/** Table ids waiting for a worker; each id at most once. */
export class TableQueue {
  private items: number[] = [];
  private waiters: ((id: number | undefined) => void)[] = [];
  private closed = false;
  readonly busy = new Set<number>();

  /** Queued or being applied. */
  has(id: number): boolean {
    return this.busy.has(id) || this.items.includes(id);
  }

  push(id: number): void {
    if (this.closed || this.has(id)) return;
    const w = this.waiters.shift();
    if (w) {
      this.busy.add(id);
      w(id);
    } else this.items.push(id);
  }

  take(): Promise<number | undefined> {
    const id = this.items.shift();
    if (id !== undefined) {
      this.busy.add(id);
      return Promise.resolve(id);
    }
    if (this.closed) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(id: number): void {
    this.busy.delete(id);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** No more pushes: workers take what is queued, then stop. */
  end(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(undefined);
  }

  /** Stop now: what is queued is dropped. */
  close(): void {
    this.items = [];
    this.end();
  }
}

export interface PoolOptions {
  jobs: number;
  window: WindowOptions;
  maxRetryMs: number;
  readMajor: number;
  /**
   * The migration's token: apply sessions write with pgferry.apply set to it, so the fence
   * lets them through and the target's capture (rollback window) skips them.
   */
  applyToken: string;
}

export interface PoolTotals {
  changes: number;
  windows: number;
}

/**
 * Apply workers: each has its own read and write session and applies windows of the tables it
 * takes from the queue until the table is caught up (a cut window is followed at once by the
 * next). A lost connection is retried with backoff; any other failure stops the pool.
 */
export class WorkerPool {
  readonly totals: PoolTotals = { changes: 0, windows: 0 };
  private fatal: unknown;
  private readonly runs: Promise<void>[];
  private readonly sessions: ApplySessions[] = [];
  private draining = false;

  constructor(
    private readonly ctx: MigrationContext,
    readonly queue: TableQueue,
    private readonly opts: PoolOptions,
    private readonly onOutcome: (out: WindowOutcome) => void = () => {},
  ) {
    for (let i = 0; i < opts.jobs; i++)
      this.sessions.push(applySessions(ctx, opts.readMajor, opts.applyToken));
    this.runs = this.sessions.map((s, i) => this.work(s, i + 1));
  }

  get error(): unknown {
    return this.fatal;
  }

  private async work(s: ApplySessions, n: number): Promise<void> {
    const retry = new RetryLoop(`apply worker ${n}`, this.ctx.emit, this.opts.maxRetryMs);
    for (;;) {
      const id = await this.queue.take();
      if (id === undefined) break;
      try {
        for (;;) {
          const began = performance.now();
          // A copy: some outcomes are shared constants.
          const out = {
            ...(await applyTableWindow(s, id, this.opts.window)),
            seconds: (performance.now() - began) / 1000,
          };
          if (out.status === "applied") {
            this.totals.changes += out.changes;
            this.totals.windows++;
          }
          this.onOutcome(out);
          await retry.succeeded(await s.write.get());
          // A backlog's next cut window waits for the next start when the stream is stopping.
          if (!out.more || this.ctx.signal.aborted || (this.queue.isClosed && !this.draining)) break;
        }
      } catch (err) {
        if (!isRetryable(err)) {
          this.fatal ??= err;
          this.queue.close();
        } else {
          await s.read.discard();
          await s.write.discard();
          await retry.failed(err, this.ctx.signal).catch((e) => {
            this.fatal ??= e;
            this.queue.close();
          });
          // Left for the next round to queue again (it still has changes).
        }
      } finally {
        this.queue.done(id);
      }
    }
  }

  /** Waits for the workers and closes their sessions; `drain` first applies what is queued. */
  async finish(drain = false): Promise<void> {
    this.draining = drain;
    if (drain) this.queue.end();
    else this.queue.close();
    await Promise.all(this.runs);
    await Promise.all(this.sessions.flatMap((s) => [s.read.discard(), s.write.discard()]));
  }
}

export function applySessions(ctx: MigrationContext, readMajor: number, applyToken: string): ApplySessions {
  return {
    read: new Session(ctx.source, {
      stage: "stream",
      statementTimeoutMs: 30 * 60_000,
      lockTimeoutMs: 5000,
    }),
    write: new Session(ctx.target, {
      stage: "stream",
      asyncCommit: true,
      settings: { "pgferry.apply": applyToken },
    }),
    readMajor,
  };
}

/** The error runStream/catchUp throws when a worker failed for good. */
export function streamFailed(err: unknown): PgferryError {
  if (err instanceof PgferryError) return err;
  const table = tableOf(err);
  // Only errors the loops do not retry get here, so mostly STREAM_FAILED.
  return fromDriverError(err, {
    side: undefined,
    what: `Streaming failed${table ? ` on ${tableName(table)}` : ""}`,
    otherwise: "STREAM_FAILED",
  });
}

/** The table an error names in a `table` property ({schema, name}), if it does. */
function tableOf(err: unknown): { schema: string; name: string } | undefined {
  if (typeof err !== "object" || err === null || !("table" in err)) return undefined;
  const t = err.table;
  if (typeof t !== "object" || t === null || !("schema" in t) || !("name" in t)) return undefined;
  return typeof t.schema === "string" && typeof t.name === "string"
    ? { schema: t.schema, name: t.name }
    : undefined;
}
