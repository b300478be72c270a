import type pg from "pg";
import { type KeyRangeAfterThrough, WHOLE_KEY_RANGE } from "../catalog/index.js";
import { ident, identList, qualified } from "../db/quote.js";
import {
  chunkCount,
  INTEGER_KEY_TYPES,
  rangePredicate,
  rangesFromBounds,
  samplePercent,
  splitIntegerRange,
} from "./chunk-plan.js";
import type { ControlTable } from "./control-tables.js";

export interface PlannedChunk {
  schema: string;
  name: string;
  predicate: string | null;
  rowsEstimate: number;
}

export interface PlanOptions {
  chunkRows: number;
  maxChunkBytes?: number;
}

interface RelationSize {
  rows: number;
  bytes: number;
}

/** Exact count below this many pages (cheap), planner statistics or a page sample above. */
const COUNT_PAGES_MAX = 2000;

/**
 * Estimated rows and bytes of one physical relation. reltuples is -1 (PG14+) or 0 until the
 * first ANALYZE, which is common right after a bulk load, so an unanalysed relation is
 * counted (small) or sampled by pages (large).
 */
async function relationSize(source: pg.ClientBase, schema: string, name: string): Promise<RelationSize> {
  const rel = qualified(schema, name);
  const { rows } = await source.query<{ reltuples: number; relpages: number; bytes: string; pages: string }>(
    `select c.reltuples::float8 as reltuples, c.relpages, pg_relation_size(c.oid)::int8 as bytes,
            (pg_relation_size(c.oid) / current_setting('block_size')::int)::int8 as pages
       from pg_class c where c.oid = $1::regclass`,
    [rel],
  );
  const r = rows[0]!;
  const bytes = Number(r.bytes);
  const pages = Number(r.pages);
  if (r.reltuples > 0 && r.relpages > 0)
    return { rows: Math.round((r.reltuples / r.relpages) * pages), bytes };
  if (pages <= COUNT_PAGES_MAX) {
    const c = await source.query<{ n: string }>(`select count(*)::int8 as n from only ${rel}`);
    return { rows: Number(c.rows[0]!.n), bytes };
  }
  const pct = samplePercent(pages, COUNT_PAGES_MAX);
  const c = await source.query<{ n: string }>(
    `select count(*)::int8 as n from only ${rel} tablesample system (${pct.toFixed(6)})`,
  );
  return { rows: Math.round((Number(c.rows[0]!.n) * 100) / pct), bytes };
}

async function integerRanges(
  source: pg.ClientBase,
  rel: string,
  key: string,
  n: number,
): Promise<KeyRangeAfterThrough[]> {
  const { rows } = await source.query<{ lo: string | null; hi: string | null }>(
    `select min(${ident(key)})::text as lo, max(${ident(key)})::text as hi from only ${rel}`,
  );
  const { lo, hi } = rows[0]!;
  if (lo === null || hi === null) return [WHOLE_KEY_RANGE];
  return splitIntegerRange(BigInt(lo), BigInt(hi), n);
}

/**
 * Boundaries for any other key: a row sample of the key, cut into n buckets in the key's own
 * btree order (ORDER BY uses the same operators and collation as the row comparison in the
 * predicate, so the boundaries are strictly increasing for it and every row falls in exactly
 * one chunk). The key is unique, so no two buckets start at the same value.
 */
async function sampledRanges(
  source: pg.ClientBase,
  rel: string,
  keys: readonly string[],
  rowsEstimate: number,
  n: number,
): Promise<KeyRangeAfterThrough[]> {
  const cols = identList(keys);
  const pct = samplePercent(rowsEstimate, n * 50);
  const method = rowsEstimate > 1_000_000 ? "system" : "bernoulli";
  const texts = keys.map((k, i) => `${ident(k)}::text as b${i}`).join(", ");
  const { rows } = await source.query<Record<string, string>>(
    `select distinct on (bucket) ${texts}
       from (select ${cols}, ntile(${n}) over (order by ${cols}) as bucket
               from only ${rel} tablesample ${method} (${pct.toFixed(6)})) s
      where bucket > 1
      order by bucket, ${cols}`,
  );
  return rangesFromBounds(rows.map((r) => keys.map((_, i) => r[`b${i}`]!)));
}

/** The chunks of one physical relation (the table itself, or one leaf partition). */
async function planRelation(
  source: pg.ClientBase,
  table: ControlTable,
  schema: string,
  name: string,
  opts: PlanOptions,
): Promise<PlannedChunk[]> {
  const size = await relationSize(source, schema, name);
  const n = chunkCount(size.rows, size.bytes, opts.chunkRows, opts.maxChunkBytes);
  const rel = qualified(schema, name);
  const keys = table.keyColumns;
  const types = keys.map((k) => table.columns.find((c) => c.name === k)?.type ?? "text");
  let ranges: KeyRangeAfterThrough[] = [WHOLE_KEY_RANGE];
  if (n > 1 && keys.length > 0) {
    // Boundaries from the keys' distribution, integers included: an even split of [min, max]
    // put 199,987 of 200,000 rows in one chunk once a few keys had moved far out (issue 17,
    // item 14). The arithmetic split remains for a sample too small to cut (a tiny table).
    ranges = await sampledRanges(source, rel, keys, size.rows, n);
    if (ranges.length < n / 2 && keys.length === 1 && INTEGER_KEY_TYPES.has(types[0]!)) {
      ranges = await integerRanges(source, rel, keys[0]!, n);
    }
  }
  const each = Math.ceil(size.rows / ranges.length);
  return ranges.map((r) => ({ schema, name, predicate: rangePredicate(keys, types, r), rowsEstimate: each }));
}

/**
 * Every chunk of a table: its own rows, or each leaf partition's for a partitioned table. A
 * table without a key is one chunk over the table itself, leaves included: it is copied in
 * one source snapshot, which becomes its stream position (decisions.md, "Tables without a key").
 */
export async function planTable(
  source: pg.ClientBase,
  table: ControlTable,
  leaves: readonly { schema: string; name: string }[],
  opts: PlanOptions,
): Promise<PlannedChunk[]> {
  const relations = table.kind === "partitioned" ? leaves : [{ schema: table.schema, name: table.name }];
  if (table.identity === "row") {
    let rows = 0;
    for (const r of relations) rows += (await relationSize(source, r.schema, r.name)).rows;
    return [{ schema: table.schema, name: table.name, predicate: null, rowsEstimate: rows }];
  }
  const chunks: PlannedChunk[] = [];
  for (const r of relations) chunks.push(...(await planRelation(source, table, r.schema, r.name, opts)));
  return chunks;
}
