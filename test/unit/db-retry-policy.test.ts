import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Backoff, isRetryable, isTransient, MAX_OUTAGE_MS, sleep } from "../../src/db/retry.js";
import { SQLSTATE, sqlState, sqlStateClass } from "../../src/db/sqlstate.js";
import { PgferryError } from "../../src/errors/index.js";

// Issue 10, item 4: one backoff (options, not formulas), one abortable sleep, one retry rule.

function delays(b: Backoff, n: number): number[] {
  return Array.from({ length: n }, () => b.next());
}

describe("Backoff", () => {
  afterEach(() => vi.restoreAllMocks());

  it("defaults: 250 ms doubling to 10 s, jitter 75–125 %", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    expect(delays(new Backoff(), 8)).toEqual([250, 500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect(delays(new Backoff(), 2)).toEqual([188, 375]);
    vi.spyOn(Math, "random").mockReturnValue(0.999999);
    expect(new Backoff().next()).toBe(312);
  });

  it("takes base, cap and jitter: the paces the lock retries and the install rounds keep", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.999999);
    // A trigger install's retries: min(30 s, 250·2^n) · (0.5 + r/2), as before issue 10.
    expect(delays(new Backoff({ baseMs: 500, capMs: 30_000, jitter: [0.5, 1] }), 8)).toEqual([
      500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    // A drop's: min(5 s, 100·2^n) · (0.5 + r/2).
    expect(delays(new Backoff({ baseMs: 200, capMs: 5000, jitter: [0.5, 1] }), 6)).toEqual([
      200, 400, 800, 1600, 3200, 5000,
    ]);
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect(delays(new Backoff({ baseMs: 200, capMs: 5000, jitter: [0.5, 1] }), 2)).toEqual([100, 200]);
    // prepare's rounds of blocked tables: min(15 s, 500·2^round), no jitter.
    expect(delays(new Backoff({ baseMs: 1000, capMs: 15_000, jitter: [1, 1] }), 6)).toEqual([
      1000, 2000, 4000, 8000, 15_000, 15_000,
    ]);
  });

  it("counts attempts, knows how long failures have lasted, and resets", () => {
    vi.useFakeTimers();
    try {
      const b = new Backoff({ maxMs: 60_000 });
      expect(b.failingForMs()).toBe(0);
      b.next();
      vi.advanceTimersByTime(59_000);
      b.next();
      expect(b.attempt).toBe(2);
      expect(b.exhausted()).toBe(false);
      vi.advanceTimersByTime(2000);
      expect(b.exhausted()).toBe(true);
      b.reset();
      expect([b.attempt, b.failingForMs(), b.exhausted()]).toEqual([0, 0, false]);
      expect(new Backoff().maxMs).toBe(MAX_OUTAGE_MS);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe("sleep", () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it("resolves after its time", async () => {
    let done = false;
    void sleep(1000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(done).toBe(true);
  });

  it("resolves at once when the signal aborts, or was aborted already", async () => {
    const ac = new AbortController();
    let done = false;
    void sleep(60_000, ac.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    ac.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(done).toBe(true);
    await sleep(60_000, ac.signal);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe("the two retry rules", () => {
  it("isTransient: the session or its transaction is gone", () => {
    for (const code of [
      "57P01",
      "57P02",
      "57P03",
      "08000",
      "08003",
      "08006",
      "08001",
      "08004",
      "40001",
      "40P01",
    ])
      expect(isTransient({ code }), code).toBe(true);
    for (const code of ["ECONNRESET", "ECONNREFUSED", "EPIPE", "ETIMEDOUT"])
      expect(isTransient({ code })).toBe(true);
    expect(isTransient(new Error("Connection terminated unexpectedly"))).toBe(true);
    for (const code of ["55P03", "57014", "53300", "23505"]) expect(isTransient({ code }), code).toBe(false);
    expect(isTransient(undefined)).toBe(false);
    expect(isTransient("a string")).toBe(false);
  });

  it("isRetryable: every transient error, plus cancels, lock timeouts, full slots and wrapped ones", () => {
    for (const code of ["57014", "55P03", "53300", "40P01"]) expect(isRetryable({ code }), code).toBe(true);
    expect(isRetryable(new PgferryError("CONNECTION_LOST", "gone"))).toBe(true);
    expect(isRetryable(new PgferryError("COPY_FAILED", "x", { cause: { code: "55P03" } }))).toBe(true);
    expect(isRetryable(new PgferryError("COPY_FAILED", "x", { cause: { code: "23505" } }))).toBe(false);
    expect(isRetryable(Object.assign(new Error("x"), { cause: { code: "57P01" } }))).toBe(true);
    expect(isRetryable({ code: "42P01" })).toBe(false);
  });
});

describe("sqlState", () => {
  it("reads a server error's SQLSTATE, nothing else", () => {
    expect(sqlState({ code: SQLSTATE.lockNotAvailable })).toBe("55P03");
    expect(sqlState(Object.assign(new Error("dup"), { code: "23505" }))).toBe(SQLSTATE.uniqueViolation);
    expect(sqlState({ code: "ECONNRESET" })).toBeUndefined();
    expect(sqlState({ code: 42 })).toBeUndefined();
    expect(sqlState(new PgferryError("LOCK_TIMEOUT", "x"))).toBeUndefined();
    expect(sqlState(new PgferryError("USAGE", "x"))).toBeUndefined();
    expect(sqlState(undefined)).toBeUndefined();
    expect(sqlState("55P03")).toBeUndefined();
    expect(sqlStateClass({ code: "22P02" })).toBe("22");
  });

  it("the constants are PostgreSQL's codes, each once", () => {
    const values = Object.values(SQLSTATE);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toMatch(/^[0-9A-Z]{5}$/);
  });
});
