/** A key as text values, one per key column in key order (the canonical output of each type). */
export type KeyValues = string[];

/**
 * A range of a table's key in its btree order (row-value comparison): the keys strictly after
 * `after` and up to and including `through`; null leaves that side unbounded. Copy's chunks
 * and verify's ranges are both of this kind, so consecutive ranges share a boundary value
 * that belongs to the lower one: (-∞, b1], (b1, b2], …, (bn, +∞).
 */
export interface KeyRangeAfterThrough {
  after: KeyValues | null;
  through: KeyValues | null;
}

/** The whole key space. */
export const WHOLE_KEY_RANGE: KeyRangeAfterThrough = Object.freeze({ after: null, through: null });

/** n strictly increasing boundaries → n+1 ranges: (-∞, b1], (b1, b2], …, (bn, +∞). */
export function rangesFromBounds(bounds: readonly KeyValues[]): KeyRangeAfterThrough[] {
  const ranges: KeyRangeAfterThrough[] = [];
  let after: KeyValues | null = null;
  for (const b of bounds) {
    ranges.push({ after, through: b });
    after = b;
  }
  ranges.push({ after, through: null });
  return ranges;
}
