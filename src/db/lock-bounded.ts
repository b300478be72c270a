import type pg from "pg";
import { lockTimeoutValue } from "./connect.js";
import { literal } from "./quote.js";
import { Backoff, type BackoffOptions, sleep } from "./retry.js";
import { SQLSTATE, sqlState } from "./sqlstate.js";
import { withTransaction } from "./transaction.js";

/**
 * How long one attempt at a lock that conflicts with the application's writers (a trigger
 * installed or dropped on a live table) may wait. While it waits, every writer of that table
 * queues behind it: 3 s per attempt stalled an application's writes ~3 s per round while a
 * long transaction held the table (issue 13, item 7). Attempts are retried with backoff
 * (lockBoundedTransaction), so a short one costs only more tries.
 */
export const DDL_LOCK_TIMEOUT_MS = 200;

/**
 * A statement that takes a lock conflicting with the application's writers (a trigger created
 * or dropped on a live table) must not queue behind a long transaction: every writer after it
 * would queue behind it in turn. So it runs in a short transaction with a short lock_timeout,
 * and a refused lock (55P03) is retried after a pause, naming who holds the table.
 */
export interface LockBoundedOptions<W> {
  /** lock_timeout of one attempt, ms. */
  lockTimeoutMs: number;
  /** Tries before giving up. */
  attempts: number;
  /** The pause between tries (the one Backoff, with this pace). */
  backoff: BackoffOptions;
  signal?: AbortSignal | undefined;
  /** Who holds or waits for the lock, read after a refused attempt. */
  holders: () => Promise<W[]>;
  /** After each refused attempt (a `lock:wait` event, a callback). */
  onWait: (holders: W[], attempt: number) => void;
  /** The error thrown when the last attempt was refused. */
  failure: (holders: W[], err: unknown) => Error;
}

/** Runs `body` in one lock-bounded transaction, retrying it while its lock is refused. */
export async function lockBoundedTransaction<T, W>(
  client: pg.ClientBase,
  opts: LockBoundedOptions<W>,
  body: () => Promise<T>,
): Promise<T> {
  const backoff = new Backoff(opts.backoff);
  for (let attempt = 1; ; attempt++) {
    opts.signal?.throwIfAborted();
    try {
      return await withTransaction(client, async () => {
        await client.query(`set local lock_timeout = ${literal(lockTimeoutValue(opts.lockTimeoutMs))}`);
        return body();
      });
    } catch (err) {
      if (sqlState(err) !== SQLSTATE.lockNotAvailable) throw err;
      const holders = await opts.holders();
      opts.onWait(holders, attempt);
      if (attempt >= opts.attempts) throw opts.failure(holders, err);
      await sleep(backoff.next(), opts.signal);
    }
  }
}
