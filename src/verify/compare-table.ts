import type pg from "pg";
import { SQLSTATE, sqlState } from "../db/index.js";
import { qualified } from "../db/quote.js";
import type { AwaitApplied } from "./applied.js";
import { describeDiffs, type KeyDiff, rangeKeyDiffs, recheckKeys } from "./keys.js";
import { compareMultiset } from "./multiset.js";
import {
  countRows,
  nextBoundary,
  type RangeAgg,
  rangeAgg,
  sameAgg,
  tailAgg,
  tailBoundary,
} from "./ranges.js";
import { type KeyRangeAfterThrough, tableName, type VerifyTable } from "./table-sql.js";
import type { TableVerdict } from "./types.js";

export interface CompareSides {
  source: pg.ClientBase;
  target: pg.ClientBase;
  /**
   * Waits until changes made on the source up to now have reached the target; false when
   * they did not (no point re-checking).
   */
  settle(t: VerifyTable): Promise<boolean>;
  /** Waits until the table's position covers a source snapshot, or says why it does not. */
  awaitApplied: AwaitApplied;
  signal?: AbortSignal;
}

export interface CompareLimits {
  rangeRows: number;
  maxKeys: number;
  recheckAttempts: number;
  recheckBatch?: number;
}

interface RangeResult {
  range: KeyRangeAfterThrough;
  source: RangeAgg;
  target: RangeAgg;
}

async function compareRange(
  sides: CompareSides,
  t: VerifyTable,
  range: KeyRangeAfterThrough,
): Promise<RangeResult> {
  const [source, target] = await Promise.all([
    rangeAgg(sides.source, t, range),
    rangeAgg(sides.target, t, range),
  ]);
  return { range, source, target };
}

export async function existsOn(client: pg.ClientBase, t: VerifyTable): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>("select to_regclass($1) is not null as ok", [
    qualified(t.schema, t.name),
  ]);
  return Boolean(rows[0]?.ok);
}

/** Walks the source's key order in ranges of `rangeRows`, comparing each range on both sides. */
async function walkRanges(sides: CompareSides, t: VerifyTable, rangeRows: number): Promise<RangeResult[]> {
  const results: RangeResult[] = [];
  let lo: KeyRangeAfterThrough["after"] = null;
  for (;;) {
    sides.signal?.throwIfAborted();
    const hi = await nextBoundary(sides.source, t, lo, rangeRows);
    results.push(await compareRange(sides, t, { after: lo, through: hi }));
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

/** Differing keys re-checked together (the batch bounds one recheck query, not how many are re-checked). */
const RECHECK_BATCH = 10_000;

interface KeyOutcome {
  listed: KeyDiff[];
  more: number;
  /** Keys whose logged changes nothing applied (listed or counted in `more`), and why. */
  notApplied?: { keys: number; reason: string };
  /** Keys seen in flight whose changes the stream applied while verify waited (busy rows). */
  inFlight: number;
}

/**
 * The keys of the differing ranges, each compared again until it is settled: equal; different
 * with nothing in the source's log after the target's position (a difference); or different
 * with a logged change still to apply. A key of the last kind is waited for: the table's
 * position must come to cover the snapshot it was read in. If it does, the key is compared
 * again (it may have changed again since: a busy row; after the last attempt it is taken as
 * applied, since the stream replaced it with the source's row as of at least that snapshot);
 * if it does not, nothing applies it and it is a difference, with the reason.
 *
 * Every differing key is settled this way, in batches, however many there are: a key counted
 * as a difference without a re-check would be a false alarm under sustained writes (issue 12).
 */
async function keyDifferences(
  sides: CompareSides,
  t: VerifyTable,
  bad: RangeResult[],
  limits: { maxKeys: number; recheckAttempts: number; recheckBatch?: number },
): Promise<KeyOutcome> {
  const out: KeyOutcome = { listed: [], more: 0, inFlight: 0 };
  let batch: KeyDiff[] = [];
  const flush = async () => {
    const settled = await settleKeys(sides, t, batch, limits.recheckAttempts);
    batch = [];
    // Only the listed keys are kept; the rest are counted (a table can differ by millions).
    const room = Math.max(0, limits.maxKeys - out.listed.length);
    out.listed.push(...settled.differ.slice(0, room));
    out.more += Math.max(0, settled.differ.length - room);
    out.inFlight += settled.inFlight;
    if (settled.notApplied) {
      out.notApplied = {
        keys: (out.notApplied?.keys ?? 0) + settled.notApplied.keys,
        reason: settled.notApplied.reason,
      };
    }
  };
  for (const r of bad) {
    for (const d of await rangeKeyDiffs(sides.source, sides.target, t, r.range)) {
      batch.push(d);
      if (batch.length >= (limits.recheckBatch ?? RECHECK_BATCH)) await flush();
    }
  }
  if (batch.length > 0) await flush();
  return out;
}

/** One batch of differing keys, re-checked until each is settled (see keyDifferences). */
async function settleKeys(
  sides: CompareSides,
  t: VerifyTable,
  keys: KeyDiff[],
  recheckAttempts: number,
): Promise<{ differ: KeyDiff[]; inFlight: number; notApplied?: { keys: number; reason: string } }> {
  const differ: KeyDiff[] = [];
  let pending = keys;
  for (let attempt = 1; pending.length > 0; attempt++) {
    sides.signal?.throwIfAborted();
    const r = await recheckKeys(sides.source, sides.target, t, pending);
    differ.push(...r.differ);
    if (r.waiting.length === 0) break;
    const applied = await sides.awaitApplied(t, r.snapshot, r.waiting.length);
    if (!applied.applied) {
      differ.push(...r.waiting);
      return { differ, inFlight: 0, notApplied: { keys: r.waiting.length, reason: applied.reason } };
    }
    if (attempt >= Math.max(1, recheckAttempts)) return { differ, inFlight: r.waiting.length };
    pending = r.waiting;
  }
  return { differ, inFlight: 0 };
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

/** A table of the migration that is not on the source any more (dropped, or renamed). */
function goneFromSource(t: VerifyTable, targetRows: number | null): TableVerdict {
  return {
    ...verdict(t, []),
    targetRows: targetRows ?? 0,
    identical: false,
    differences: [{ kind: "missing_source_table" }],
  };
}

/** Compares one table fully: every key range, then the keys of ranges that keep differing. */
export async function compareTable(
  sides: CompareSides,
  t: VerifyTable,
  limits: CompareLimits,
): Promise<TableVerdict> {
  try {
    return await compareExisting(sides, t, limits);
  } catch (err) {
    // Dropped on either side while verify read it: reported as such, not as a failure.
    if (sqlState(err) !== SQLSTATE.undefinedTable) throw err;
    if (!(await existsOn(sides.source, t)) || !(await existsOn(sides.target, t))) {
      return missingVerdict(sides, t);
    }
    throw err;
  }
}

async function missingVerdict(sides: CompareSides, t: VerifyTable): Promise<TableVerdict> {
  const onTarget = await existsOn(sides.target, t);
  if (!(await existsOn(sides.source, t)))
    return goneFromSource(t, onTarget ? await countRows(sides.target, t) : null);
  return {
    ...verdict(t, []),
    sourceRows: await countRows(sides.source, t),
    identical: false,
    differences: [{ kind: "missing_table" }],
  };
}

async function compareExisting(
  sides: CompareSides,
  t: VerifyTable,
  limits: CompareLimits,
): Promise<TableVerdict> {
  if (!(await existsOn(sides.source, t)) || !(await existsOn(sides.target, t)))
    return missingVerdict(sides, t);
  if (t.key.length === 0) return compareMultiset(sides, t, limits);
  const results = await walkRanges(sides, t, limits.rangeRows);
  const bad = await persistentRanges(sides, t, results, limits.recheckAttempts);
  const out = verdict(t, results);
  if (bad.length === 0) return out;
  const keys = await keyDifferences(sides, t, bad, limits);
  out.differences = await describeDiffs(sides.source, sides.target, t, keys.listed);
  out.moreDifferences = keys.more;
  if (keys.notApplied) out.notApplied = keys.notApplied;
  if (keys.inFlight > 0) out.inFlight = keys.inFlight;
  // Ranges whose keys all reconcile (a row seen in another range on the target) are identical;
  // so are keys the stream was seen to apply. Row counts are not compared on their own: they
  // were read while changes flowed, and every row they miss is a key found above.
  out.identical = out.differences.length === 0 && keys.more === 0;
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
  if (t.key.length === 0) {
    // No key order, so no tail: a keyless table is compared whole (a multiset), both sides at once.
    if (!(await existsOn(sides.source, t)) || !(await existsOn(sides.target, t)))
      return missingVerdict(sides, t);
    return compareMultiset(sides, t, { maxKeys: opts.maxKeys, recheckAttempts: 1 });
  }
  const count = t.rowsEstimate <= opts.countMaxRows;
  const orMissing = (err: unknown) => {
    if (sqlState(err) === SQLSTATE.undefinedTable) return null;
    throw err;
  };
  const [src, tgt] = await Promise.all([
    tailAgg(sides.source, t, opts.tailRows, count).catch(orMissing),
    tailAgg(sides.target, t, opts.tailRows, count).catch(orMissing),
  ]);
  if (!src) return goneFromSource(t, tgt ? (tgt.total ?? tgt.rows) : null);
  if (!tgt) return { ...verdict(t, []), identical: false, differences: [{ kind: "missing_table" }] };
  const out = verdict(t, []);
  out.ranges = 1;
  out.sourceRows = src.total ?? src.rows;
  out.targetRows = tgt.total ?? tgt.rows;
  if (sameAgg(src, tgt) && out.sourceRows === out.targetRows) return out;
  // The two tails may even differ only by collation order: compare their keys exactly.
  const lo = await tailBoundary(sides.source, t, opts.tailRows);
  const tail = await compareRange(sides, t, { after: lo, through: null });
  const keys = await keyDifferences(sides, t, [tail], { maxKeys: opts.maxKeys, recheckAttempts: 1 });
  out.differences = await describeDiffs(sides.source, sides.target, t, keys.listed);
  out.moreDifferences = keys.more;
  if (keys.notApplied) out.notApplied = keys.notApplied;
  out.identical =
    out.sourceRows === out.targetRows &&
    out.differences.length === 0 &&
    keys.more === 0 &&
    keys.inFlight === 0;
  return out;
}
