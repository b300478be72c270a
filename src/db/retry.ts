import { isPgferryError } from "../errors/index.js";
import { driverFields, SQLSTATE, sqlState } from "./sqlstate.js";
import { StallError } from "./watchdog.js";

/**
 * One retry policy for every stage (issue 17, item 14: the copy gave up after ~90 s of source
 * outage while the stream rode out 30 min; issue 10, item 4: one rule, one backoff): which
 * failures a reconnect and a later try can fix, how long to wait between tries, and how long
 * an outage may last before pgferry stops.
 *
 * Two rules, one inside the other:
 * - `isTransient`: the session or its transaction is gone (a lost connection, a server
 *   restart, a stall, a serialization failure or deadlock that aborted the transaction).
 *   Whatever ran must be redone on a new session; an error mapper reports it as
 *   CONNECTION_LOST.
 * - `isRetryable`: a later try may succeed. Every transient error, plus a statement cancelled
 *   (a timeout, pg_cancel_backend), a lock not granted within lock_timeout, no free connection
 *   slot, and a PgferryError whose code or cause is one of these. The retry loops decide on
 *   this one.
 */

/** How long a stage keeps retrying one outage before it fails (a maintenance restart, a failover). */
export const MAX_OUTAGE_MS = 30 * 60_000;

const CONNECTION_CODES = ["CONNECTION_REFUSED", "CONNECTION_TIMEOUT", "CONNECTION_LOST"];

const TRANSIENT_SQLSTATES: readonly string[] = [
  SQLSTATE.adminShutdown,
  SQLSTATE.crashShutdown,
  SQLSTATE.cannotConnectNow,
  SQLSTATE.connectionException,
  SQLSTATE.connectionDoesNotExist,
  SQLSTATE.connectionFailure,
  SQLSTATE.sqlclientUnableToEstablishSqlconnection,
  SQLSTATE.sqlserverRejectedEstablishmentOfSqlconnection,
  SQLSTATE.serializationFailure,
  SQLSTATE.deadlockDetected,
];
const TRANSIENT_NET_CODES = ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"];
const RETRYABLE_SQLSTATES: readonly string[] = [
  SQLSTATE.queryCanceled,
  SQLSTATE.lockNotAvailable,
  SQLSTATE.tooManyConnections,
];

/** True for errors that a reconnect and retry can fix (lost connection, server restart). */
export function isTransient(err: unknown): boolean {
  if (!err) return false;
  if (err instanceof StallError) return true;
  const { code, message } = driverFields(err);
  if (code && (TRANSIENT_SQLSTATES.includes(code) || TRANSIENT_NET_CODES.includes(code))) return true;
  return /Connection terminated|connection closed|Client has encountered a connection error|not queryable/i.test(
    message ?? "",
  );
}

/**
 * Errors a reconnect and a later try fix: lost connections, restarts, connect failures of a
 * server that is down, a cancelled statement (a timeout, pg_cancel_backend), a lock not granted
 * within lock_timeout (queued behind someone's ALTER TABLE), no free connection slot.
 */
export function isRetryable(err: unknown): boolean {
  if (isTransient(err)) return true;
  if (RETRYABLE_SQLSTATES.includes(sqlState(err) ?? "")) return true;
  if (isPgferryError(err)) return CONNECTION_CODES.includes(err.code) || isRetryable(err.cause);
  return isTransient(driverFields(err).cause);
}

/** Resolves after ms, or at once when the signal aborts. The one sleep: every wait takes the caller's signal. */
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

export interface BackoffOptions {
  /** The first delay, ms; each next one doubles it. Default 250. */
  baseMs?: number;
  /** The largest delay, ms (before jitter). Default 10 s. */
  capMs?: number;
  /**
   * The delay is multiplied by a uniform factor in [min, max]. Default [0.75, 1.25]; [1, 1]
   * for none.
   */
  jitter?: readonly [min: number, max: number];
  /**
   * How long failures may go on (from the first), ms, before `exhausted()` says so. Default
   * MAX_OUTAGE_MS.
   */
  maxMs?: number;
}

/**
 * Exponential backoff with jitter, and how long the failures have lasted: attempt n waits
 * min(capMs, baseMs · 2^(n−1)) times a jitter factor. The one formula; callers that need
 * another pace (a lock retry, a round of blocked tables) pass options, not a formula.
 */
export class Backoff {
  attempt = 0;
  firstFailureAt: number | undefined;
  readonly baseMs: number;
  readonly capMs: number;
  readonly jitter: readonly [number, number];
  readonly maxMs: number;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 250;
    this.capMs = opts.capMs ?? 10_000;
    this.jitter = opts.jitter ?? [0.75, 1.25];
    this.maxMs = opts.maxMs ?? MAX_OUTAGE_MS;
  }

  /** The delay before the next try; counts a failure. */
  next(): number {
    this.attempt++;
    this.firstFailureAt ??= Date.now();
    const [lo, hi] = this.jitter;
    return Math.round(this.delayOf(this.attempt) * (lo + Math.random() * (hi - lo)));
  }

  /** The delay of attempt n before jitter. */
  delayOf(attempt: number): number {
    return Math.min(this.capMs, this.baseMs * 2 ** (attempt - 1));
  }

  failingForMs(): number {
    return this.firstFailureAt === undefined ? 0 : Date.now() - this.firstFailureAt;
  }

  /** True once failures have gone on longer than maxMs. */
  exhausted(): boolean {
    return this.failingForMs() > this.maxMs;
  }

  reset(): void {
    this.attempt = 0;
    this.firstFailureAt = undefined;
  }
}
