import { isPgferryError } from "../errors/index.js";
import { isTransient } from "./connect.js";

/**
 * One retry policy for every stage (issue 17, item 14: the copy gave up after ~90 s of source
 * outage while the stream rode out 30 min): which failures a reconnect and a later try can
 * fix, how long to wait between tries, and how long an outage may last before pgferry stops.
 */

/** How long a stage keeps retrying one outage before it fails (a maintenance restart, a failover). */
export const MAX_OUTAGE_MS = 30 * 60_000;

const CONNECTION_CODES = ["CONNECTION_REFUSED", "CONNECTION_TIMEOUT", "CONNECTION_LOST"];

/**
 * Errors a reconnect and a later try fix: lost connections, restarts, connect failures of a
 * server that is down, a cancelled statement (a timeout, pg_cancel_backend), a lock not granted
 * within lock_timeout (queued behind someone's ALTER TABLE), no free connection slot.
 */
export function isRetryable(err: unknown): boolean {
  if (isTransient(err)) return true;
  if (["57014", "55P03", "53300"].includes((err as { code?: string } | undefined)?.code ?? "")) return true;
  if (isPgferryError(err)) return CONNECTION_CODES.includes(err.code) || isRetryable(err.cause);
  return isTransient((err as { cause?: unknown } | undefined)?.cause);
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Exponential backoff with jitter (250 ms doubling to 10 s), and how long the failures have lasted. */
export class Backoff {
  attempt = 0;
  firstFailureAt: number | undefined;

  next(): number {
    this.attempt++;
    this.firstFailureAt ??= Date.now();
    return Math.round(Math.min(10_000, 250 * 2 ** (this.attempt - 1)) * (0.75 + Math.random() / 2));
  }

  failingForMs(): number {
    return this.firstFailureAt === undefined ? 0 : Date.now() - this.firstFailureAt;
  }

  reset(): void {
    this.attempt = 0;
    this.firstFailureAt = undefined;
  }
}
