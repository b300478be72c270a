/**
 * Index builds allowed at once over every table of the process (--index-jobs). A table's
 * builds run side by side in as many sessions as it has builds, each taking a slot first: while
 * several tables are indexed each gets a share, and the last table's indexes (the tail after
 * the copy) get every slot instead of running one after another while a core idles.
 */
export class BuildSlots {
  private free: number;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    this.free = Math.max(1, size);
  }

  /** Resolves with the release function once a slot is free; rejects if the signal fires first. */
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
