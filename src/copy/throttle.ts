import { Transform, type TransformCallback } from "node:stream";
import { sleep } from "../db/retry.js";

/**
 * A token bucket shared by every worker of the process (`--max-rate`). Taking more than is
 * available goes into debt and waits it off, so a COPY buffer larger than the bucket is fine
 * and the long-run rate holds across any number of workers.
 */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  private readonly capacity: number;

  constructor(private readonly bytesPerSecond: number) {
    // One second of burst; never smaller than a typical COPY buffer.
    this.capacity = Math.max(bytesPerSecond, 64 * 1024);
    this.tokens = this.capacity;
  }

  /** Resolves when `bytes` may pass (at once while under the rate). */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.bytesPerSecond);
    this.last = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.bytesPerSecond) * 1000;
    await sleep(waitMs, signal);
  }
}

/**
 * Passes COPY data through unchanged, counting bytes (and throttling when a limiter is
 * given). Nothing is buffered beyond the stream's own high-water mark.
 */
export class ByteCounter extends Transform {
  bytes = 0;

  constructor(
    private readonly limiter?: RateLimiter,
    private readonly signal?: AbortSignal,
    private readonly onBytes?: (n: number) => void,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    if (!this.limiter) {
      cb(null, chunk);
      return;
    }
    this.limiter.take(chunk.length, this.signal).then(
      () => cb(null, chunk),
      (err: Error) => cb(err),
    );
  }
}
