import { getEventListeners } from "node:events";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runLoop, Waker } from "../../src/copy/worker-loop.js";
import { isRetryable, MAX_OUTAGE_MS, sleep } from "../../src/db/retry.js";
import type { PgferryEvent } from "../../src/progress/events.js";

// Issue 17, item 14: the copy gave up after ~90 s (8 tries) of source outage while the stream
// rode out 30 minutes. One policy now: retry for as long as the outage lasts, up to MAX_OUTAGE_MS.

/** A worker whose server is down for `downMs` (each try fails like a refused connection), then works once. */
function outage(downMs: number) {
  const events: PgferryEvent[] = [];
  const start = Date.now();
  let worked = false;
  const loop = runLoop<object>({
    signal: new AbortController().signal,
    emit: (e) => void events.push(e),
    open: async () => {
      if (Date.now() - start < downMs)
        throw Object.assign(new Error("connection refused"), { code: "ECONNREFUSED" });
      return {};
    },
    close: async () => {},
    step: async () => {
      worked = true;
      return "finished";
    },
    idleMs: 1000,
    waker: new Waker(),
  });
  return { loop, events, worked: () => worked };
}

describe("one retry policy for every stage", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("the copy rides out a 10-minute outage, reporting each retry", async () => {
    const o = outage(10 * 60_000);
    const done = o.loop.then(
      () => "ok",
      (e) => e,
    );
    await vi.runAllTimersAsync();
    expect(await done).toBe("ok");
    expect(o.worked()).toBe(true);
    expect(o.events.filter((e) => e.type === "retry").length).toBeGreaterThan(8);
  });

  it("and gives up once an outage outlasts the stream's limit", async () => {
    const o = outage(MAX_OUTAGE_MS + 60_000);
    const done = o.loop.then(
      () => "ok",
      (e) => e,
    );
    await vi.runAllTimersAsync();
    expect(await done).toMatchObject({ code: "ECONNREFUSED" });
    expect(o.worked()).toBe(false);
  });

  it("the stages agree on what is retryable", () => {
    for (const code of ["57P01", "08006", "57014", "55P03", "53300"])
      expect(isRetryable({ code }), code).toBe(true);
    for (const code of ["23505", "42P01", "42501"]) expect(isRetryable({ code }), code).toBe(false);
  });

  it("sleep takes its abort listener off again (status --watch warned after ten refreshes)", async () => {
    const signal = new AbortController().signal;
    for (let i = 0; i < 20; i++) {
      const done = sleep(10, signal);
      await vi.advanceTimersByTimeAsync(10);
      await done;
    }
    expect(getEventListeners(signal, "abort")).toHaveLength(0);
  });
});
