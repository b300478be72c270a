import type pg from "pg";
import { ident, qualified, withTransaction } from "../db/index.js";
import { changesAfter } from "../positions/index.js";
import { controlTableExists, readTable } from "../state/index.js";
import {
  columnHashExpr,
  fromClause,
  type KeyRangeAfterThrough,
  type KeyValues,
  keyBatchJoin,
  keyBatchParams,
  keyJsonExpr,
  keyTextColumns,
  rangePredicate,
  rowTextExpr,
  type VerifyTable,
} from "./table-sql.js";
import type { Difference } from "./types.js";

/** One row reduced to its key and the md5 of its canonical text. */
interface RowDigest {
  key: KeyValues;
  hash: string;
}

/** A row of digestSelect: kj (the key's JSON text), k0 … (each key column as text), h (the md5). */
type DigestRow = Record<string, string>;

/** Rows keyed by the key's JSON text (exact per type, independent of collation). */
type Digests = Map<string, RowDigest>;

const BATCH = 500;

/** The same row text as the range hash, so a row's digest and its share of the hash agree. */
function digestSelect(t: VerifyTable): string {
  return `${keyJsonExpr(t)} as kj, ${keyTextColumns(t)}, md5(${rowTextExpr(t)}) as h`;
}

function collect(rows: DigestRow[], t: VerifyTable, into: Digests = new Map()): Digests {
  for (const r of rows) into.set(r["kj"]!, { key: t.key.map((_, i) => r[`k${i}`]!), hash: r["h"]! });
  return into;
}

async function rangeDigests(
  client: pg.ClientBase,
  t: VerifyTable,
  range: KeyRangeAfterThrough,
): Promise<Digests> {
  const pred = rangePredicate(t, range);
  const { rows } = await client.query<DigestRow>(
    `select ${digestSelect(t)} from ${fromClause(t)} where ${pred.sql}`,
    pred.params,
  );
  return collect(rows, t);
}

async function keyDigests(
  client: pg.ClientBase,
  t: VerifyTable,
  keys: readonly KeyValues[],
): Promise<Digests> {
  const out: Digests = new Map();
  for (let i = 0; i < keys.length; i += BATCH) {
    const batch = keys.slice(i, i + BATCH);
    const { rows } = await client.query<DigestRow>(
      `select ${digestSelect(t)} from ${keyBatchJoin(t)}`,
      keyBatchParams(t, batch),
    );
    collect(rows, t, out);
  }
  return out;
}

/** Per-column md5s of the given keys' rows. */
async function columnDigests(
  client: pg.ClientBase,
  t: VerifyTable,
  keys: readonly KeyValues[],
): Promise<Map<string, (string | null)[]>> {
  const cols = t.columns.map((c, i) => `${columnHashExpr(c)} as c${i}`).join(", ");
  const out = new Map<string, (string | null)[]>();
  for (let i = 0; i < keys.length; i += BATCH) {
    // kj: the key's JSON text; c0 …: each column's md5, null for a null value.
    const { rows } = await client.query<{ kj: string } & Record<string, string | null>>(
      `select ${keyJsonExpr(t)} as kj, ${cols} from ${keyBatchJoin(t)}`,
      keyBatchParams(t, keys.slice(i, i + BATCH)),
    );
    for (const r of rows)
      out.set(
        r.kj,
        t.columns.map((_, j) => r[`c${j}`] ?? null),
      );
  }
  return out;
}

/** A key-level difference before the column names are known. */
export interface KeyDiff {
  kind: "missing" | "extra" | "changed";
  keyJson: string;
  key: KeyValues;
}

/**
 * The keys that differ inside one key range. A key found on one side only is looked up by
 * its exact value on the other side too: the two servers may order text keys differently
 * (collation versions), which moves a row across a range boundary without it differing.
 */
export async function rangeKeyDiffs(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  range: KeyRangeAfterThrough,
): Promise<KeyDiff[]> {
  const src = await rangeDigests(source, t, range);
  const tgt = await rangeDigests(target, t, range);
  const onlySource: RowDigest[] = [];
  const onlyTarget: RowDigest[] = [];
  const diffs: KeyDiff[] = [];
  for (const [kj, d] of src) {
    const other = tgt.get(kj);
    if (!other) onlySource.push(d);
    else if (other.hash !== d.hash) diffs.push({ kind: "changed", keyJson: kj, key: d.key });
  }
  for (const [kj, d] of tgt) if (!src.has(kj)) onlyTarget.push(d);
  const inTarget = await keyDigests(
    target,
    t,
    onlySource.map((d) => d.key),
  );
  const inSource = await keyDigests(
    source,
    t,
    onlyTarget.map((d) => d.key),
  );
  for (const [kj, d] of src) {
    if (tgt.has(kj)) continue;
    const found = inTarget.get(kj);
    if (!found) diffs.push({ kind: "missing", keyJson: kj, key: d.key });
    else if (found.hash !== d.hash) diffs.push({ kind: "changed", keyJson: kj, key: d.key });
  }
  for (const [kj, d] of tgt) {
    if (src.has(kj)) continue;
    const found = inSource.get(kj);
    if (!found) diffs.push({ kind: "extra", keyJson: kj, key: d.key });
    // Found with another hash: reported once, from the source side's view of the range.
  }
  return diffs;
}

/** The outcome of comparing keys again, each side read in one snapshot. */
export interface Recheck {
  /** Keys that differ with no change of theirs in the source's log after the target's position. */
  differ: KeyDiff[];
  /**
   * Keys that differ with a change logged after the target's position: not a difference only
   * once that position covers `snapshot` (something applied them).
   */
  waiting: KeyDiff[];
  /** The source snapshot the keys and the log were read in. */
  snapshot: string;
}

/** Reads while the table's position moves are re-done this often before they are taken as they are. */
const STABLE_ATTEMPTS = 5;

/**
 * Compares the given keys again, by exact value on both sides, and sorts those still differing
 * into differences and keys waiting for the stream. The target's rows and position are read in
 * one snapshot, then the source's rows and log in another; the position is read again last:
 * when it moved, the stream may have cleaned up log rows the source read needed, so the reads
 * are done again.
 */
export async function recheckKeys(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  diffs: readonly KeyDiff[],
): Promise<Recheck> {
  for (let attempt = 1; ; attempt++) {
    const r = await recheckOnce(source, target, t, diffs);
    const after = t.id === null ? null : await appliedPosition(target, t.id);
    if (after === r.position || attempt >= STABLE_ATTEMPTS) return r.result;
  }
}

async function recheckOnce(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  diffs: readonly KeyDiff[],
): Promise<{ position: string | null; result: Recheck }> {
  const keys = diffs.map((d) => d.key);
  const { tgt, position } = await inSnapshot(target, async () => ({
    position: t.id === null ? null : await appliedPosition(target, t.id),
    tgt: await keyDigests(target, t, keys),
  }));
  const { src, inFlight, snapshot } = await inSnapshot(source, async () => ({
    snapshot: (await source.query<{ s: string }>("select txid_current_snapshot()::text as s")).rows[0]!.s,
    src: await keyDigests(source, t, keys),
    inFlight: position === null ? new Set<number>() : await unappliedKeys(source, t, keys, position),
  }));
  const result: Recheck = { differ: [], waiting: [], snapshot };
  for (const [i, d] of diffs.entries()) {
    const a = src.get(d.keyJson);
    const b = tgt.get(d.keyJson);
    let kind: KeyDiff["kind"] | null = null;
    if (a && !b) kind = "missing";
    else if (!a && b) kind = "extra";
    else if (a && b && a.hash !== b.hash) kind = "changed";
    if (kind === null) continue;
    (inFlight.has(i) ? result.waiting : result.differ).push({ ...d, kind });
  }
  return { position, result };
}

/** Read-only: a failed read rolls back, and a broken session's rollback error does not hide the read's. */
function inSnapshot<T>(client: pg.ClientBase, work: () => Promise<T>): Promise<T> {
  return withTransaction(client, work, "begin isolation level repeatable read read only");
}

/**
 * The position the following side applied up to: the target's (its control rows), or, when
 * verify runs the other way round in the rollback window, the source's (pgferry.reverse_tables).
 */
async function appliedPosition(follower: pg.ClientBase, tableId: number): Promise<string | null> {
  if (await controlTableExists(follower, "tables"))
    return (await readTable(follower, tableId))?.position ?? null;
  const has = await follower.query<{ reverse: boolean }>(
    "select to_regclass('pgferry.reverse_tables') is not null as reverse",
  );
  if (!has.rows[0]?.reverse) return null;
  const { rows } = await follower.query<{ p: string | null }>(
    "select position as p from pgferry.reverse_tables where id = $1",
    [tableId],
  );
  return rows[0]?.p ?? null;
}

/**
 * Indexes (into `keys`) of the keys with a change in the source's log that `position` does not
 * cover: still on their way to the target, so a difference there is not (yet) a difference.
 * An unapplied TRUNCATE puts every key on its way.
 */
async function unappliedKeys(
  source: pg.ClientBase,
  t: VerifyTable,
  keys: readonly KeyValues[],
  position: string,
): Promise<Set<number>> {
  const has = await source.query<{ ok: boolean }>("select to_regclass('pgferry.changes') is not null as ok");
  if (!has.rows[0]?.ok || keys.length === 0) return new Set();
  const unapplied = (tbl: string, pos: string) => `c.tbl = ${tbl} and ${changesAfter(pos)}`;
  const truncated = await source.query(
    `select 1 from pgferry.changes c where ${unapplied("$1", "$2::txid_snapshot")} and c.op = 'T' limit 1`,
    [t.id, position],
  );
  if ((truncated.rowCount ?? 0) > 0) return new Set(keys.map((_, i) => i));
  const n = t.key.length;
  const row = `jsonb_populate_record(null::${qualified(t.schema, t.name)}, c.key)`;
  const arrays = t.key.map((_, i) => `$${i + 1}::text[]`).join(", ");
  const cols = t.key.map((_, i) => `k${i}`).join(", ");
  const on = t.key.map((k, i) => `(${row}).${ident(k.name)} = b.k${i}::${k.type}`).join(" and ");
  const { rows } = await source.query<{ ord: string }>(
    `select distinct b.ord from unnest(${arrays}) with ordinality as b(${cols}, ord)
       join pgferry.changes c on ${unapplied(`$${n + 1}`, `$${n + 2}::txid_snapshot`)} and c.op <> 'T' and ${on}`,
    [...keyBatchParams(t, keys), t.id, position],
  );
  return new Set(rows.map((r) => Number(r.ord) - 1));
}

/** Turns key diffs into reported differences, naming the columns that differ in changed rows. */
export async function describeDiffs(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  diffs: readonly KeyDiff[],
): Promise<Difference[]> {
  const changed = diffs.filter((d) => d.kind === "changed").map((d) => d.key);
  const src = changed.length ? await columnDigests(source, t, changed) : new Map();
  const tgt = changed.length ? await columnDigests(target, t, changed) : new Map();
  return diffs.map((d): Difference => {
    const key = JSON.parse(d.keyJson) as Record<string, unknown>;
    if (d.kind !== "changed") return { kind: d.kind, key };
    const a = src.get(d.keyJson) ?? [];
    const b = tgt.get(d.keyJson) ?? [];
    const columns = t.columns.filter((_, i) => a[i] !== b[i]).map((c) => c.name);
    return { kind: "changed", key, columns };
  });
}
