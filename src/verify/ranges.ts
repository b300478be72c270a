import type pg from "pg";
import {
  fromClause,
  type KeyRangeAfterThrough,
  type KeyValues,
  keyOrder,
  keyTextColumns,
  rangePredicate,
  rowHashExpr,
  type VerifyTable,
} from "./table-sql.js";

/** Row count and order-independent hash of one key range on one side. */
export interface RangeAgg {
  rows: number;
  hash: string;
}

export function sameAgg(a: RangeAgg, b: RangeAgg): boolean {
  return a.rows === b.rows && a.hash === b.hash;
}

function keyOf(row: Record<string, string>, t: VerifyTable): KeyValues {
  return t.key.map((_, i) => row[`k${i}`]!);
}

/**
 * The inclusive upper bound of the range that starts after `lo` and holds `rows` rows, read on
 * the source through the key's index; null when no rows would remain after it (the last range is open).
 */
export async function nextBoundary(
  source: pg.ClientBase,
  t: VerifyTable,
  lo: KeyValues | null,
  rows: number,
): Promise<KeyValues | null> {
  const pred = rangePredicate(t, { after: lo, through: null });
  // Two rows: when the boundary row is the very last one, the range is the open last range.
  const { rows: out } = await source.query<Record<string, string>>(
    `select ${keyTextColumns(t)} from ${fromClause(t)} where ${pred.sql}
      order by ${keyOrder(t)} offset ${Math.max(0, rows - 1)} limit 2`,
    pred.params,
  );
  return out.length === 2 ? keyOf(out[0]!, t) : null;
}

/** The exclusive lower bound of the last `rows` rows by key, or null when the table is smaller. */
export async function tailBoundary(
  source: pg.ClientBase,
  t: VerifyTable,
  rows: number,
): Promise<KeyValues | null> {
  const { rows: out } = await source.query<Record<string, string>>(
    `select ${keyTextColumns(t)} from ${fromClause(t)} order by ${keyOrder(t, "desc")} offset ${rows} limit 1`,
  );
  return out[0] ? keyOf(out[0], t) : null;
}

export async function rangeAgg(
  client: pg.ClientBase,
  t: VerifyTable,
  range: KeyRangeAfterThrough,
): Promise<RangeAgg> {
  const pred = rangePredicate(t, range);
  const { rows } = await client.query<{ n: string; h: string }>(
    `select count(*) as n, coalesce(sum(${rowHashExpr(t)}), 0)::text as h from ${fromClause(t)} where ${pred.sql}`,
    pred.params,
  );
  return { rows: Number(rows[0]!.n), hash: rows[0]!.h };
}

export async function countRows(client: pg.ClientBase, t: VerifyTable): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`select count(*) as n from ${fromClause(t)}`);
  return Number(rows[0]!.n);
}

/** The last `rows` rows by key order on one side: their count and hash, and (optionally) the table's row count. */
export interface TailAgg extends RangeAgg {
  total: number | null;
}

/**
 * One round trip per side: the hash of the last `rows` rows in key order, each side on its
 * own (no boundary passed between them), and the exact row count when asked for.
 */
export async function tailAgg(
  client: pg.ClientBase,
  t: VerifyTable,
  rows: number,
  count: boolean,
): Promise<TailAgg> {
  const total = count ? `(select count(*) from ${fromClause(t)})` : "null::bigint";
  const { rows: out } = await client.query<{ n: string; h: string; total: string | null }>(
    `select count(*) as n, coalesce(sum(x.h), 0)::text as h, ${total} as total
       from (select ${rowHashExpr(t)} as h from ${fromClause(t)} order by ${keyOrder(t, "desc")} limit ${rows}) x`,
  );
  const r = out[0]!;
  return { rows: Number(r.n), hash: r.h, total: r.total === null ? null : Number(r.total) };
}
