import type pg from "pg";
import { qualified } from "../db/quote.js";
import { describeDiffs, type KeyDiff, rangeKeyDiffs, recheckKeys } from "./keys.js";
import {
  countRows,
  nextBoundary,
  type RangeAgg,
  rangeAgg,
  sameAgg,
  tailAgg,
  tailBoundary,
} from "./ranges.js";
import { type KeyRange, tableName, type VerifyTable } from "./table-sql.js";
import type { TableVerdict } from "./types.js";

export interface CompareSides {
  source: pg.ClientBase;
  target: pg.ClientBase;
  /**
   * Waits until changes made on the source up to now have reached the target; false when
   * nothing is flowing (no point re-checking).
   */
  settle(t: VerifyTable): Promise<boolean>;
  signal?: AbortSignal;
}

export interface CompareLimits {
  rangeRows: number;
  maxKeys: number;
  recheckAttempts: number;
}

interface RangeResult {
  range: KeyRange;
  source: RangeAgg;
  target: RangeAgg;
}

async function compareRange(sides: CompareSides, t: VerifyTable, range: KeyRange): Promise<RangeResult> {
  const [source, target] = await Promise.all([
    rangeAgg(sides.source, t, range),
    rangeAgg(sides.target, t, range),
  ]);
  return { range, source, target };
}

export async function existsOnTarget(target: pg.ClientBase, t: VerifyTable): Promise<boolean> {
  const { rows } = await target.query<{ ok: boolean }>("select to_regclass($1) is not null as ok", [
    qualified(t.schema, t.name),
  ]);
  return Boolean(rows[0]?.ok);
}

/** Walks the source's key order in ranges of `rangeRows`, comparing each range on both sides. */
async function walkRanges(sides: CompareSides, t: VerifyTable, rangeRows: number): Promise<RangeResult[]> {
  const results: RangeResult[] = [];
  let lo: KeyRange["lo"] = null;
  for (;;) {
    sides.signal?.throwIfAborted();
    const hi = await nextBoundary(sides.source, t, lo, rangeRows);
    results.push(await compareRange(sides, t, { lo, hi }));
    if (!hi) return results;
    lo = hi;
  }
}

/**
 * Re-checks differing ranges after the stream had time to replay them; returns the ranges
 * that still differ. Results are updated in place so the row totals stay current.
 */
async function persistentRanges(
  sides: CompareSides,
  t: VerifyTable,
  results: RangeResult[],
  attempts: number,
): Promise<RangeResult[]> {
  let bad = results.filter((r) => !sameAgg(r.source, r.target));
  for (let a = 0; a < attempts && bad.length > 0; a++) {
    if (!(await sides.settle(t))) break;
    for (const r of bad) {
      const again = await compareRange(sides, t, r.range);
      r.source = again.source;
      r.target = again.target;
    }
    bad = bad.filter((r) => !sameAgg(r.source, r.target));
  }
  return bad;
}

async function keyDifferences(
  sides: CompareSides,
  t: VerifyTable,
  bad: RangeResult[],
  maxKeys: number,
): Promise<{ listed: KeyDiff[]; more: number }> {
  let listed: KeyDiff[] = [];
  let more = 0;
  for (const r of bad) {
    const diffs = await rangeKeyDiffs(sides.source, sides.target, t, r.range);
    const room = Math.max(0, maxKeys - listed.length);
    listed.push(...diffs.slice(0, room));
    more += Math.max(0, diffs.length - room);
  }
  if (listed.length > 0) {
    // Give the stream a moment, then keep only keys that still differ with nothing in flight.
    await sides.settle(t);
    listed = await recheckKeys(sides.source, sides.target, t, listed);
  }
  return { listed, more };
}

function verdict(t: VerifyTable, results: RangeResult[]): TableVerdict {
  return {
    name: tableName(t),
    sourceRows: results.reduce((s, r) => s + r.source.rows, 0),
    targetRows: results.reduce((s, r) => s + r.target.rows, 0),
    identical: true,
    differences: [],
    moreDifferences: 0,
    ranges: results.length,
  };
}

/** Compares one table fully: every key range, then the keys of ranges that keep differing. */
export async function compareTable(
  sides: CompareSides,
  t: VerifyTable,
  limits: CompareLimits,
): Promise<TableVerdict> {
  if (!(await existsOnTarget(sides.target, t))) {
    return {
      ...verdict(t, []),
      sourceRows: await countRows(sides.source, t),
      identical: false,
      differences: [{ kind: "missing_table" }],
    };
  }
  const results = await walkRanges(sides, t, limits.rangeRows);
  const bad = await persistentRanges(sides, t, results, limits.recheckAttempts);
  const out = verdict(t, results);
  if (bad.length === 0) return out;
  const { listed, more } = await keyDifferences(sides, t, bad, limits.maxKeys);
  out.differences = await describeDiffs(sides.source, sides.target, t, listed);
  out.moreDifferences = more;
  // Ranges whose keys all reconcile (a row seen in another range on the target) are identical.
  out.identical = out.differences.length === 0 && more === 0;
  return out;
}

/**
 * The cutover's quick check, with writes fenced (nothing in flight): the exact row count
 * (for tables up to `countMaxRows` estimated rows) and the hash of the last `tailRows` keys,
 * where a lost final window would show; one query per side. Only a mismatch costs more: the
 * keys of the tail range are then compared one by one.
 */
export async function quickCompareTable(
  sides: CompareSides,
  t: VerifyTable,
  opts: { tailRows: number; countMaxRows: number; maxKeys: number },
): Promise<TableVerdict> {
  const count = t.rowsEstimate <= opts.countMaxRows;
  const [src, tgt] = await Promise.all([
    tailAgg(sides.source, t, opts.tailRows, count),
    tailAgg(sides.target, t, opts.tailRows, count).catch((err) => {
      if ((err as { code?: string }).code === "42P01") return null;
      throw err;
    }),
  ]);
  if (!tgt) return { ...verdict(t, []), identical: false, differences: [{ kind: "missing_table" }] };
  const out = verdict(t, []);
  out.ranges = 1;
  out.sourceRows = src.total ?? src.rows;
  out.targetRows = tgt.total ?? tgt.rows;
  if (sameAgg(src, tgt) && out.sourceRows === out.targetRows) return out;
  // The two tails may even differ only by collation order: compare their keys exactly.
  const lo = await tailBoundary(sides.source, t, opts.tailRows);
  const tail = await compareRange(sides, t, { lo, hi: null });
  const { listed, more } = await keyDifferences(sides, t, [tail], opts.maxKeys);
  out.differences = await describeDiffs(sides.source, sides.target, t, listed);
  out.moreDifferences = more;
  out.identical = out.sourceRows === out.targetRows && out.differences.length === 0 && more === 0;
  return out;
}
