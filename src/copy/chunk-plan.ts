import { type KeyRangeAfterThrough, rangesFromBounds, WHOLE_KEY_RANGE } from "../catalog/key-range.js";
import { ident, identList, literal } from "../db/quote.js";

export { rangesFromBounds } from "../catalog/key-range.js";

/**
 * Pure chunk arithmetic: how many chunks a relation gets, how an integer key span is split,
 * and the WHERE fragments that select one chunk. Kept free of I/O so it is unit-tested.
 */

/**
 * 100k rows per chunk by default: at typical row widths (50 B – 1 kB) a chunk is 5–100 MB, a
 * few seconds of COPY. Small enough that a restart re-copies little and the last chunks of
 * a big table finish close together (workers stay busy to the end); large enough that the
 * per-chunk cost (one claim, one commit, one index probe) is negligible.
 */
export const DEFAULT_CHUNK_ROWS = 100_000;
/** Wide rows are split by size too, so one chunk never carries more than this. */
export const MAX_CHUNK_BYTES = 256 * 1024 * 1024;

/** Integer types whose key span can be split arithmetically (when a sample is too small to cut). */
export const INTEGER_KEY_TYPES = new Set(["smallint", "integer", "bigint"]);

export function chunkCount(
  rows: number,
  bytes: number,
  chunkRows: number,
  maxChunkBytes = MAX_CHUNK_BYTES,
): number {
  const byRows = Math.ceil(Math.max(0, rows) / Math.max(1, chunkRows));
  const byBytes = Math.ceil(Math.max(0, bytes) / Math.max(1, maxChunkBytes));
  return Math.max(1, byRows, byBytes);
}

/**
 * Splits [min, max] into at most n ranges of equal key span. The first and last ranges are
 * open-ended: rows inserted outside the span after planning are copied too (harmless, the
 * replay from S0 would bring them anyway) and no row can fall between two chunks.
 */
export function splitIntegerRange(min: bigint, max: bigint, n: number): KeyRangeAfterThrough[] {
  if (n <= 1 || max <= min) return [WHOLE_KEY_RANGE];
  const span = max - min + 1n;
  const parts = BigInt(n) > span ? span : BigInt(n);
  const step = (span + parts - 1n) / parts;
  const bounds: bigint[] = [];
  for (let b = min + step - 1n; b < max; b += step) bounds.push(b);
  return rangesFromBounds(bounds.map((b) => [b.toString()]));
}

/** A typed literal: 'text'::type, with the type as format_type() printed it (already quoted). */
function typed(value: string, type: string): string {
  return `${literal(value)}::${type}`;
}

function side(columns: readonly string[], types: readonly string[], values: readonly string[], op: string) {
  if (columns.length === 1) return `${ident(columns[0]!)} ${op} ${typed(values[0]!, types[0]!)}`;
  const lits = values.map((v, i) => typed(v, types[i]!)).join(", ");
  // Row-value comparison: lexicographic in the key's btree order, and usable as an index bound.
  return `(${identList(columns)}) ${op} (${lits})`;
}

/** The WHERE fragment of one range over the key columns; null = the whole relation. */
export function rangePredicate(
  columns: readonly string[],
  types: readonly string[],
  range: KeyRangeAfterThrough,
): string | null {
  const parts: string[] = [];
  if (range.after) parts.push(side(columns, types, range.after, ">"));
  if (range.through) parts.push(side(columns, types, range.through, "<="));
  return parts.length === 0 ? null : parts.join(" and ");
}

/** Percent of rows to sample so that about `wanted` rows come back (TABLESAMPLE argument). */
export function samplePercent(rows: number, wanted: number): number {
  if (rows <= 0) return 100;
  return Math.min(100, Math.max(0.0001, (100 * wanted) / rows));
}
