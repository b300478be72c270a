import type { KeyRangeAfterThrough, KeyValues } from "../catalog/index.js";
import { ident, literal, qualified } from "../db/quote.js";

export type { KeyRangeAfterThrough, KeyValues } from "../catalog/index.js";

/** One column as verify reads it: name and format_type() of the source. */
export interface VerifyColumn {
  name: string;
  type: string;
}

/** A replicated table, as verify compares it (same names on both sides). */
export interface VerifyTable {
  /** The id of the table's control row, when the control schema knows the table. */
  id: number | null;
  schema: string;
  name: string;
  kind: "table" | "partitioned";
  /** Key columns with their types, in key order; none for a table without a key (multiset.ts). */
  key: VerifyColumn[];
  /** The copied (non-generated) columns in a fixed order: the row's canonical text. */
  columns: VerifyColumn[];
  /** Table phase in the control schema ("streaming", …), or null without one. */
  phase: string | null;
  rowsEstimate: number;
}

export function tableName(t: Pick<VerifyTable, "schema" | "name">): string {
  return `${t.schema}.${t.name}`;
}

/** FROM clause: ONLY for plain tables (inheritance children are their own tables), the root for partitioned ones. */
export function fromClause(t: VerifyTable): string {
  return `${t.kind === "partitioned" ? "" : "only "}${qualified(t.schema, t.name)} t`;
}

/**
 * A column's canonical value. Floats go through their binary send form: their text output
 * differs between servers before and after PostgreSQL 12 even with extra_float_digits=3.
 */
function columnExpr(c: VerifyColumn): string {
  const ref = `t.${ident(c.name)}`;
  if (c.type === "double precision") return `float8send(${ref})`;
  if (c.type === "real") return `float4send(${ref})`;
  return ref;
}

/** The canonical text of a row: a row constructor over the copied columns (NULL and '' differ). */
export function rowTextExpr(t: VerifyTable): string {
  return `row(${t.columns.map(columnExpr).join(", ")})::text`;
}

/** A 64-bit signed slice of the row's md5: summed, it is an order-independent hash of a set of rows. */
export function rowHashExpr(t: VerifyTable): string {
  return `('x' || substr(md5(${rowTextExpr(t)}), 1, 16))::bit(64)::bigint`;
}

/** md5 of one column's canonical text, null for NULL. */
export function columnHashExpr(c: VerifyColumn): string {
  return `md5((${columnExpr(c)})::text)`;
}

export function keyRow(t: VerifyTable): string {
  return `(${t.key.map((k) => `t.${ident(k.name)}`).join(", ")})`;
}

export function keyOrder(t: VerifyTable, dir: "asc" | "desc" = "asc"): string {
  return t.key.map((k) => `t.${ident(k.name)} ${dir}`).join(", ");
}

/** Selects each key column as text, aliased k0, k1, … */
export function keyTextColumns(t: VerifyTable): string {
  return t.key.map((k, i) => `t.${ident(k.name)}::text as k${i}`).join(", ");
}

/** The key as a JSON object, for reports and as a type-exact map key. */
export function keyJsonExpr(t: VerifyTable): string {
  return `jsonb_build_object(${t.key.map((k) => `${literal(k.name)}, t.${ident(k.name)}`).join(", ")})::text`;
}

/** A row of parameters cast to the key types: ($1::int, $2::text). */
function paramRow(t: VerifyTable, first: number): string {
  return `(${t.key.map((k, i) => `$${first + i}::${k.type}`).join(", ")})`;
}

/** WHERE fragment and its parameters for a key range. */
export function rangePredicate(
  t: VerifyTable,
  range: KeyRangeAfterThrough,
): { sql: string; params: string[] } {
  const parts: string[] = [];
  const params: string[] = [];
  if (range.after) {
    parts.push(`${keyRow(t)} > ${paramRow(t, params.length + 1)}`);
    params.push(...range.after);
  }
  if (range.through) {
    parts.push(`${keyRow(t)} <= ${paramRow(t, params.length + 1)}`);
    params.push(...range.through);
  }
  return { sql: parts.length ? parts.join(" and ") : "true", params };
}

/** Joins the table with a batch of keys given as one text array per key column. */
export function keyBatchJoin(t: VerifyTable): string {
  const cols = t.key.map((_, i) => `k${i}`);
  const arrays = t.key.map((_, i) => `$${i + 1}::text[]`).join(", ");
  const on = t.key.map((k, i) => `t.${ident(k.name)} = b.k${i}::${k.type}`).join(" and ");
  return `${fromClause(t)} join unnest(${arrays}) as b(${cols.join(", ")}) on ${on}`;
}

/** Transposes keys into one array per key column, the parameters of keyBatchJoin. */
export function keyBatchParams(t: VerifyTable, keys: readonly KeyValues[]): string[][] {
  return t.key.map((_, i) => keys.map((k) => k[i]!));
}
