import { describe, expect, it } from "vitest";
import type { KeyRangeAfterThrough } from "../../src/catalog/index.js";
import {
  chunkCount,
  rangePredicate,
  rangesFromBounds,
  samplePercent,
  splitIntegerRange,
} from "../../src/copy/chunk-plan.js";
import { defaultIndexJobs, defaultJobs } from "../../src/db/connection-budget.js";

/** Which ranges hold k (as the SQL predicate would decide for an integer key). */
function holders(ranges: KeyRangeAfterThrough[], k: bigint): number[] {
  return ranges.flatMap((r, i) =>
    (r.after === null || k > BigInt(r.after[0]!)) && (r.through === null || k <= BigInt(r.through[0]!))
      ? [i]
      : [],
  );
}

describe("chunkCount", () => {
  it("gives small tables one chunk and splits big ones by rows and by size", () => {
    expect(chunkCount(0, 0, 100_000)).toBe(1);
    expect(chunkCount(99_999, 10_000_000, 100_000)).toBe(1);
    expect(chunkCount(100_001, 10_000_000, 100_000)).toBe(2);
    expect(chunkCount(1_000_000, 0, 100_000)).toBe(10);
    // Wide rows: 1000 rows of 1 MB each are split by bytes.
    expect(chunkCount(1000, 1000 * 1024 * 1024, 100_000, 256 * 1024 * 1024)).toBe(4);
  });
});

describe("splitIntegerRange", () => {
  it("puts every key, inside and outside the sampled span, in exactly one chunk", () => {
    for (const [min, max, n] of [
      [1n, 100n, 7],
      [-50n, 50n, 4],
      [1n, 3n, 10],
      [5n, 5n, 3],
      [0n, 1_000_000n, 1],
    ] as const) {
      const ranges = splitIntegerRange(min, max, n);
      expect(ranges.length).toBeLessThanOrEqual(Math.max(1, n));
      for (let k = min - 5n; k <= max + 5n; k += max - min > 1000n ? 997n : 1n) {
        expect(holders(ranges, k)).toHaveLength(1);
      }
    }
  });

  it("splits the whole bigint span without overflow, in chunks of equal width", () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    const ranges = splitIntegerRange(min, max, 4);
    expect(ranges).toHaveLength(4);
    expect(ranges[0]).toEqual({ after: null, through: [String(min + 2n ** 62n - 1n)] });
    expect(ranges[3]!.through).toBeNull();
    for (const k of [min, -1n, 0n, 1n, max]) expect(holders(ranges, k)).toHaveLength(1);
  });

  it("cuts the span in chunks of `step` keys each, from min: the first ends at min + step - 1", () => {
    const r = splitIntegerRange(1n, 100n, 4);
    expect(r.map((x) => [x.after?.[0] ?? null, x.through?.[0] ?? null])).toEqual([
      [null, "25"],
      ["25", "50"],
      ["50", "75"],
      ["75", null],
    ]);
  });

  it("makes open-ended first and last chunks", () => {
    const r = splitIntegerRange(1n, 10n, 3);
    expect(r[0]!.after).toBeNull();
    expect(r[r.length - 1]!.through).toBeNull();
  });
});

describe("rangePredicate", () => {
  it("is null for the whole relation", () => {
    expect(rangePredicate(["id"], ["bigint"], { after: null, through: null })).toBeNull();
  });

  it("renders single-column bounds as typed literals", () => {
    expect(rangePredicate(["id"], ["bigint"], { after: ["5"], through: ["10"] })).toBe(
      `"id" > '5'::bigint and "id" <= '10'::bigint`,
    );
    expect(rangePredicate(["id"], ["integer"], { after: null, through: ["-3"] })).toBe(
      `"id" <= '-3'::integer`,
    );
  });

  it("renders composite keys as row comparisons, quoting identifiers and values", () => {
    const p = rangePredicate(["Key A", 'we"ird'], ["text", "public.mood"], {
      after: ["it's", "happy"],
      through: null,
    });
    expect(p).toBe(`("Key A", "we""ird") > ('it''s'::text, 'happy'::public.mood)`);
  });

  it("escapes backslashes in values the way node-postgres does (an E'' string)", () => {
    expect(rangePredicate(["k"], ["text"], { after: ["a\\b"], through: null })).toBe(
      `"k" >  E'a\\\\b'::text`,
    );
  });
});

describe("rangesFromBounds", () => {
  it("turns n boundaries into n+1 ranges, open at both ends, each boundary in the lower range", () => {
    expect(rangesFromBounds([])).toEqual([{ after: null, through: null }]);
    expect(rangesFromBounds([["b"], ["m"]])).toEqual([
      { after: null, through: ["b"] },
      { after: ["b"], through: ["m"] },
      { after: ["m"], through: null },
    ]);
  });
});

describe("samplePercent", () => {
  it("asks for about the wanted number of rows, within TABLESAMPLE's bounds", () => {
    expect(samplePercent(0, 100)).toBe(100);
    expect(samplePercent(50, 100)).toBe(100);
    expect(samplePercent(1_000_000, 1000)).toBeCloseTo(0.1);
    expect(samplePercent(1e15, 1)).toBe(0.0001);
  });
});

describe("default jobs", () => {
  it("follows the cores but leaves half of the source's free connections", () => {
    expect(defaultJobs(100, 4)).toBe(4);
    expect(defaultJobs(100, 1)).toBe(2);
    expect(defaultJobs(100, 64)).toBe(8);
    expect(defaultJobs(6, 8)).toBe(3);
    expect(defaultJobs(0, 8)).toBe(1);
    expect(defaultIndexJobs(2)).toBe(2);
    expect(defaultIndexJobs(16)).toBe(4);
  });
});
