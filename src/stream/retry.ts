import type pg from "pg";
import { Backoff, sleep } from "../db/retry.js";
import { errorCodeOf, PgferryError } from "../errors/index.js";
import { type EventSink, stallEvent } from "../progress/events.js";
import { recordEvent } from "../state/index.js";
import { errorMessage, sideOf } from "./sessions.js";

/**
 * Backoff for one loop (the coordinator or a worker) that talks to both sides: emits a 'retry'
 * event per failure, and once the loop works again records one event row on the target
 * (which may itself have been the side that was down).
 */
export class RetryLoop {
  private readonly backoff: Backoff;
  private last: { side: "source" | "target"; message: string } | undefined;

  constructor(
    private readonly who: string,
    private readonly emit: EventSink,
    maxRetryMs: number,
  ) {
    this.backoff = new Backoff({ maxMs: maxRetryMs });
  }

  /** After a retryable failure: reports it and waits; throws when failing for too long. */
  async failed(err: unknown, signal: AbortSignal): Promise<void> {
    const side = sideOf(err) ?? "target";
    const message = errorMessage(err);
    const delayMs = this.backoff.next();
    this.last = { side, message };
    const stall = stallEvent(err);
    if (stall) this.emit(stall);
    if (this.backoff.exhausted()) {
      throw new PgferryError(
        "CONNECTION_LOST",
        `The ${side} has been unreachable for ${Math.round(this.backoff.failingForMs() / 1000)} s: ${message}`,
        { side, cause: err },
      );
    }
    const code = errorCodeOf(err);
    this.emit({
      type: "retry",
      side,
      attempt: this.backoff.attempt,
      delayMs,
      message,
      ...(code ? { code } : {}),
    });
    await sleep(delayMs, signal);
  }

  /** After a success: records the outage if there was one. */
  async succeeded(target: pg.ClientBase): Promise<void> {
    if (!this.last) return;
    const { side, message } = this.last;
    const attempts = this.backoff.attempt;
    const seconds = Math.round(this.backoff.failingForMs() / 100) / 10;
    this.last = undefined;
    this.backoff.reset();
    await recordEvent(
      target,
      "warn",
      "stream-retry",
      `${this.who}: the ${side} connection failed (${message}); recovered after ${attempts} retries in ${seconds} s`,
      { side, attempts, seconds },
    ).catch(() => {});
  }
}
