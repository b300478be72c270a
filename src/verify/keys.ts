import type pg from "pg";
import {
  columnHashExpr,
  fromClause,
  type KeyRange,
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

/** Rows keyed by the key's JSON text (exact per type, independent of collation). */
type Digests = Map<string, RowDigest>;

const BATCH = 500;

/** The same row text as the range hash, so a row's digest and its share of the hash agree. */
function digestSelect(t: VerifyTable): string {
  return `${keyJsonExpr(t)} as kj, ${keyTextColumns(t)}, md5(${rowTextExpr(t)}) as h`;
}

function collect(rows: Record<string, string>[], t: VerifyTable, into: Digests = new Map()): Digests {
  for (const r of rows) into.set(r["kj"]!, { key: t.key.map((_, i) => r[`k${i}`]!), hash: r["h"]! });
  return into;
}

async function rangeDigests(client: pg.ClientBase, t: VerifyTable, range: KeyRange): Promise<Digests> {
  const pred = rangePredicate(t, range);
  const { rows } = await client.query(
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
    const { rows } = await client.query(
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
    const { rows } = await client.query(
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
  range: KeyRange,
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

/** Compares the given keys again, by exact value on both sides; returns those still differing. */
export async function recheckKeys(
  source: pg.ClientBase,
  target: pg.ClientBase,
  t: VerifyTable,
  diffs: readonly KeyDiff[],
): Promise<KeyDiff[]> {
  const keys = diffs.map((d) => d.key);
  const src = await keyDigests(source, t, keys);
  const tgt = await keyDigests(target, t, keys);
  const out: KeyDiff[] = [];
  for (const d of diffs) {
    const a = src.get(d.keyJson);
    const b = tgt.get(d.keyJson);
    if (!a && !b) continue;
    if (a && !b) out.push({ ...d, kind: "missing" });
    else if (!a && b) out.push({ ...d, kind: "extra" });
    else if (a!.hash !== b!.hash) out.push({ ...d, kind: "changed" });
  }
  return out;
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
