import type pg from "pg";
import { qualified } from "../db/index.js";
import { changesAfter } from "../positions/index.js";
import { readTable } from "../state/index.js";
import type { CompareSides } from "./compare-table.js";
import { fromClause, rowTextExpr, tableName, type VerifyTable } from "./table-sql.js";
import type { Difference, TableVerdict } from "./types.js";

/**
 * A table without a key, compared as a multiset of rows (decisions.md, "Tables without a key"): the row count and two
 * sums of 64-bit slices of each row's md5 (128 bits, order-independent, and a duplicate
 * counts twice, so a missing copy of a repeated row shows). Rows are rendered as verify
 * renders every row (table-sql.ts: floats in their binary form), so 12 and 17 agree.
 *
 * While the stream runs, the two sides are read at one consistent point: the target's rows and
 * its position P under a lock on the table's control row (no window of the table commits in
 * between), the source's rows in a REPEATABLE READ snapshot Q together with the log rows in
 * (P, Q], whose net counts are taken off the source's aggregate. So source-as-of-P is compared
 * with target-as-of-P exactly, and nothing is waited for. A TRUNCATE in (P, Q] cannot be taken
 * off: the stream is waited for and the comparison repeated.
 */

interface Agg {
  rows: string;
  h1: string;
  h2: string;
}

function hashes(t: VerifyTable): { h1: string; h2: string } {
  const text = rowTextExpr(t);
  return {
    h1: `('x' || substr(md5(${text}), 1, 16))::bit(64)::bigint`,
    h2: `('x' || substr(md5(${text}), 17, 16))::bit(64)::bigint`,
  };
}

function aggSql(t: VerifyTable): string {
  const { h1, h2 } = hashes(t);
  return `select count(*)::text as rows, coalesce(sum(${h1}), 0)::text as h1, coalesce(sum(${h2}), 0)::text as h2
            from ${fromClause(t)}`;
}

/** The log's net row counts after position $1 (up to the reading snapshot), as an aggregate. */
function deltaSql(t: VerifyTable): string {
  // Each image is parsed into the source's row type and rendered as verify renders rows.
  const { h1, h2 } = hashes(t);
  return `select coalesce(sum(d.n), 0)::text as rows, coalesce(sum(d.n::numeric * ${h1}), 0)::text as h1,
                 coalesce(sum(d.n::numeric * ${h2}), 0)::text as h2,
                 (select count(*) from pgferry.changes c where c.tbl = $2 and c.op = 'T'
                     and ${changesAfter("$1::txid_snapshot")})::int as truncs
            from (select c.key #>> '{}' as img, sum(case c.op when 'I' then 1 else -1 end) as n
                    from pgferry.changes c
                   where c.tbl = $2 and c.op in ('I', 'D') and ${changesAfter("$1::txid_snapshot")}
                   group by 1) d
           cross join lateral (select (d.img::${qualified(t.schema, t.name)}).*) t`;
}

function minus(a: Agg, b: Agg): Agg {
  return {
    rows: String(BigInt(a.rows) - BigInt(b.rows)),
    h1: String(BigInt(a.h1) - BigInt(b.h1)),
    h2: String(BigInt(a.h2) - BigInt(b.h2)),
  };
}

const same = (a: Agg, b: Agg) => a.rows === b.rows && a.h1 === b.h1 && a.h2 === b.h2;

interface Read {
  source: Agg;
  target: Agg;
  /** A TRUNCATE in the source's log after the target's position, at the source snapshot. */
  truncated: boolean;
  snapshot: string | null;
}

/**
 * One consistent read. `position`: whether the target holds migration state for the table
 * (then the log after its position is taken off the source); without it both sides are read
 * as they are.
 */
async function readSides(
  sides: CompareSides,
  t: VerifyTable,
  detail: boolean,
): Promise<Read & { rows?: Rows }> {
  const { source, target } = sides;
  await target.query("begin");
  try {
    const position = t.id === null ? null : ((await readTable(target, t.id, "share"))?.position ?? null);
    await source.query("begin isolation level repeatable read read only");
    try {
      const snap = await source.query<{ s: string }>("select txid_current_snapshot()::text as s");
      const [src, tgt] = await Promise.all([source.query<Agg>(aggSql(t)), target.query<Agg>(aggSql(t))]);
      let delta: Agg = { rows: "0", h1: "0", h2: "0" };
      let truncated = false;
      if (position !== null) {
        const d = await source.query<Agg & { truncs: number }>(deltaSql(t), [position, t.id]);
        delta = d.rows[0]!;
        truncated = d.rows[0]!.truncs > 0;
      }
      const out: Read & { rows?: Rows } = {
        source: minus(src.rows[0]!, delta),
        target: tgt.rows[0]!,
        truncated,
        snapshot: snap.rows[0]!.s,
      };
      if (detail && !truncated) out.rows = await rowCounts(source, target, t, position);
      return out;
    } finally {
      await source.query("rollback").catch(() => {});
    }
  } finally {
    await target.query("rollback").catch(() => {});
  }
}

/** Row text → copies on each side (the source's net of its log after the position). */
interface Rows {
  source: Map<string, number>;
  target: Map<string, number>;
}

async function rowCounts(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  position: string | null,
): Promise<Rows> {
  const group = `select ${rowTextExpr(t)} as r, count(*)::int8 as n from ${fromClause(t)} group by 1`;
  const [s, g] = await Promise.all([
    source.query<{ r: string; n: string }>(group),
    target.query<{ r: string; n: string }>(group),
  ]);
  const src = new Map(s.rows.map((x) => [x.r, Number(x.n)]));
  if (position !== null) {
    const { rows } = await source.query<{ r: string; n: string }>(
      `select ${rowTextExpr(t)} as r, sum(d.n)::int8 as n
         from (select c.key #>> '{}' as img, sum(case c.op when 'I' then 1 else -1 end) as n
                 from pgferry.changes c
                where c.tbl = $2 and c.op in ('I', 'D') and ${changesAfter("$1::txid_snapshot")}
                group by 1) d
        cross join lateral (select (d.img::${qualified(t.schema, t.name)}).*) t group by 1`,
      [position, t.id],
    );
    for (const x of rows) src.set(x.r, (src.get(x.r) ?? 0) - Number(x.n));
  }
  return { source: src, target: new Map(g.rows.map((x) => [x.r, Number(x.n)])) };
}

/** Rows listed in detail only for tables up to this size (the listing reads every row into memory). */
const DETAIL_MAX_ROWS = 1_000_000;

function rowDifferences(rows: Rows): Difference[] {
  const out: Difference[] = [];
  for (const [r, n] of rows.source) {
    const m = rows.target.get(r) ?? 0;
    if (n > m) out.push({ kind: "missing", key: { row: r, copies: n - m } });
  }
  for (const [r, m] of rows.target) {
    const n = rows.source.get(r) ?? 0;
    if (m > n) out.push({ kind: "extra", key: { row: r, copies: m - n } });
  }
  return out;
}

/** Compares a keyless table as a multiset, at one consistent point of both sides. */
export async function compareMultiset(
  sides: CompareSides,
  t: VerifyTable,
  limits: { maxKeys: number; recheckAttempts: number },
): Promise<TableVerdict> {
  let read = await readSides(sides, t, false);
  for (let attempt = 1; read.truncated && attempt <= Math.max(1, limits.recheckAttempts); attempt++) {
    const applied = await sides.awaitApplied(t, read.snapshot!, 0);
    if (!applied.applied) break;
    read = await readSides(sides, t, false);
  }
  const verdict: TableVerdict = {
    name: tableName(t),
    sourceRows: Number(read.source.rows),
    targetRows: Number(read.target.rows),
    identical: !read.truncated && same(read.source, read.target),
    differences: [],
    moreDifferences: 0,
    ranges: 1,
  };
  if (verdict.identical) return verdict;
  if (read.truncated) {
    verdict.notApplied = { keys: 1, reason: "a TRUNCATE on the source is not applied to the target yet" };
    verdict.moreDifferences = 1;
    return verdict;
  }
  const detail = t.rowsEstimate <= DETAIL_MAX_ROWS ? await readSides(sides, t, true) : undefined;
  if (detail?.rows && !same(detail.source, detail.target)) {
    const diffs = rowDifferences(detail.rows);
    verdict.sourceRows = Number(detail.source.rows);
    verdict.targetRows = Number(detail.target.rows);
    verdict.differences = diffs.slice(0, limits.maxKeys);
    verdict.moreDifferences = diffs.length - verdict.differences.length;
    return verdict;
  }
  if (detail && same(detail.source, detail.target)) {
    // The detail read is as exact as the first, and later: the table stands identical now
    // (it was still being copied or caught up at the first read).
    return {
      ...verdict,
      identical: true,
      sourceRows: Number(detail.source.rows),
      targetRows: Number(detail.target.rows),
    };
  }
  verdict.moreDifferences = 1;
  return verdict;
}
