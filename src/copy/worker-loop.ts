import { Backoff, driverFields, isRetryable, MAX_OUTAGE_MS, sleep } from "../db/index.js";
import { errorCodeOf, isPgferryError } from "../errors/index.js";
import { type EventSink, stallEvent } from "../progress/events.js";

/** Wakes idle workers early when another worker made new work (a table copied, planned). */
export class Waker {
  private waiters = new Set<() => void>();

  notify(): void {
    const all = [...this.waiters];
    this.waiters.clear();
    for (const w of all) w();
  }

  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      if (signal?.aborted) done();
      else signal?.addEventListener("abort", done, { once: true });
    });
  }
}

export type StepResult = "worked" | "idle" | "finished";

export interface LoopOptions<S> {
  signal: AbortSignal;
  emit: EventSink;
  open(): Promise<S>;
  close(session: S): Promise<void>;
  /** One unit of work; 'idle' waits for the waker or idleMs, 'finished' ends the loop. */
  step(session: S): Promise<StepResult>;
  idleMs: number;
  waker: Waker;
  /** How long one outage may last (consecutive transient failures, each followed by a reconnect and backoff). */
  maxRetryMs?: number;
}

/**
 * One worker: opens its sessions, runs steps until finished or aborted, and on a transient
 * failure drops its sessions (the open transaction rolls back on the server) and retries
 * with backoff. Any other failure is thrown to the pool.
 */
export async function runLoop<S>(o: LoopOptions<S>): Promise<void> {
  let session: S | undefined;
  const backoff = new Backoff({ maxMs: o.maxRetryMs ?? MAX_OUTAGE_MS });
  try {
    while (!o.signal.aborted) {
      try {
        session ??= await o.open();
        const r = await o.step(session);
        if (r === "finished") return;
        if (r === "worked") backoff.reset();
        else await o.waker.wait(o.idleMs, o.signal);
      } catch (err) {
        const s = session;
        session = undefined;
        if (s !== undefined) await o.close(s).catch(() => {});
        if (o.signal.aborted) return;
        const delayMs = backoff.next();
        if (!isRetryable(err) || backoff.exhausted()) throw err;
        const e = driverFields(err);
        const side = isPgferryError(err) ? err.side : undefined;
        const stall = stallEvent(err);
        if (stall) o.emit(stall);
        o.emit({
          type: "retry",
          side: side === "source" ? "source" : "target",
          attempt: backoff.attempt,
          delayMs,
          message: e.message ?? String(err),
          ...codeOf(err),
        });
        await sleep(delayMs, o.signal);
      }
    }
  } finally {
    if (session !== undefined) await o.close(session).catch(() => {});
  }
}

/**
 * Runs loops side by side. The first failure stops the others (through the pool's own
 * signal) and is thrown once all have ended; an abort of the outer signal ends them quietly.
 */
export async function runPool(
  loops: ((signal: AbortSignal) => Promise<void>)[],
  outer: AbortSignal,
): Promise<void> {
  const inner = new AbortController();
  const onAbort = () => inner.abort(outer.reason);
  if (outer.aborted) onAbort();
  else outer.addEventListener("abort", onAbort, { once: true });
  let first: unknown;
  try {
    await Promise.all(
      loops.map((loop) =>
        loop(inner.signal).catch((err) => {
          first ??= err;
          inner.abort(err);
        }),
      ),
    );
  } finally {
    outer.removeEventListener("abort", onAbort);
  }
  if (first !== undefined) throw first;
}

function codeOf(err: unknown): { code?: string } {
  const code = errorCodeOf(err);
  return code ? { code } : {};
}
