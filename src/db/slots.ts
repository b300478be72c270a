/**
 * A counting semaphore: at most `size` holders at once, the others waiting in order. The one
 * used for the process's capped sessions (connection-cap.ts) and its index builds
 * (index-build/build-slots.ts).
 */
export class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = size;
  }

  /**
   * Resolves with the release function once a slot is free; rejects if the signal fires first
   * (or has fired, when no slot is free). Releasing twice gives the slot back once.
   */
  async take(signal?: AbortSignal): Promise<() => void> {
    if (this.free > 0) this.free--;
    else {
      await new Promise<void>((resolve, reject) => {
        const grant = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          const i = this.waiting.indexOf(grant);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(signal?.reason);
        };
        if (signal?.aborted) return reject(signal.reason);
        this.waiting.push(grant);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
    let given = false;
    return () => {
      if (given) return;
      given = true;
      // Straight to the next waiter, so `free` never counts a slot someone waits for.
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
