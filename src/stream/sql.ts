import { createHash } from "node:crypto";
import { ident, literal, qualified } from "../db/quote.js";
import { changesAfter, changesUpTo } from "../positions/index.js";
import type { ApplyMode, StoredColumn, StreamTable } from "./types.js";

/**
 * The SQL of one window. COPY takes no bind parameters, so positions travel as literals
 * (literal() escaping); table ids are integers. Identifiers always go through ident().
 */

export function relation(t: Pick<StreamTable, "schema" | "name">): string {
  return qualified(t.schema, t.name);
}

/** Plain tables are read and written with ONLY (inheritance children are tables of their own). */
function only(t: Pick<StreamTable, "kind">): string {
  return t.kind === "partitioned" ? "" : "only ";
}

function snap(text: string): string {
  return `${literal(text)}::txid_snapshot`;
}

/**
 * The log rows of table `tableId` in the window (from, to]. Without `to` the window ends at
 * the reading transaction's own snapshot: rows not visible to it are not read anyway.
 */
export function windowWhere(tableId: number, from: string, to?: string): string {
  const id = Math.trunc(tableId);
  const p = snap(from);
  let where = `c.tbl = ${id} and ${changesAfter(p)}`;
  if (to !== undefined) {
    const q = snap(to);
    where += ` and ${changesUpTo(q)}`;
  }
  return where;
}

/** Columns COPY carries: generated columns are computed by the apply side. */
export function copiedColumns(t: Pick<StreamTable, "columns">): StoredColumn[] {
  return t.columns.filter((c) => !c.generated);
}

function keyDefs(t: StreamTable): StoredColumn[] {
  return t.keyColumns.map((k) => {
    const col = t.columns.find((c) => c.name === k);
    if (!col) throw new Error(`key column ${k} of ${t.schema}.${t.name} is not among its columns`);
    return col;
  });
}

/** Staged columns: the key first, then the other copied columns. */
function stagedColumns(t: StreamTable): StoredColumn[] {
  const keys = new Set(t.keyColumns);
  return [...keyDefs(t), ...copiedColumns(t).filter((c) => !keys.has(c.name))];
}

/**
 * The window's distinct keys, each with the row the source holds now (in the reading
 * transaction's snapshot) or nulls when it is gone: `present, key…, other columns…`.
 */
export function copyOutSql(t: StreamTable, where: string): string {
  const keys = keyDefs(t);
  const keySet = new Set(t.keyColumns);
  const recordDef = keys.map((k) => `${ident(k.name)} ${k.type}`).join(", ");
  const keyList = keys.map((k) => `r.${ident(k.name)}`).join(", ");
  const join = keys.map((k) => `t.${ident(k.name)} = k.${ident(k.name)}`).join(" and ");
  const out = [
    `t.${ident(keys[0]!.name)} is not null`,
    ...keys.map((k) => `k.${ident(k.name)}`),
    ...copiedColumns(t)
      .filter((c) => !keySet.has(c.name))
      .map((c) => `t.${ident(c.name)}`),
  ];
  return `copy (select ${out.join(", ")}
  from (select distinct ${keyList}
          from pgferry.changes c cross join lateral jsonb_to_record(c.key) as r(${recordDef})
         where ${where} and c.op <> 'T') k
  left join ${only(t)}${relation(t)} t on ${join}) to stdout`;
}

/**
 * The staging table's "the source still has this key" flag: a name none of the table's
 * columns has (a user column called pgferry_present once paused its table forever).
 */
export function presentColumn(t: Pick<StreamTable, "columns">): string {
  const taken = new Set(t.columns.map((c) => c.name));
  let name = "pgferry_present";
  while (taken.has(name)) name += "_";
  return name;
}

/** A temp table per table and shape on each apply session; text columns take any COPY text. */
export function stagingName(t: StreamTable): string {
  const h = createHash("sha1").update(t.shape).digest("hex").slice(0, 8);
  return `pgferry_stage_${t.id}_${h}`;
}

export function createStagingSql(t: StreamTable): string {
  const cols = stagedColumns(t).map((c) => `${ident(c.name)} text`);
  return `create temp table if not exists ${ident(stagingName(t))} (${ident(presentColumn(t))} boolean, ${cols.join(", ")}) on commit delete rows`;
}

export function copyInSql(t: StreamTable): string {
  const cols = [presentColumn(t), ...stagedColumns(t).map((c) => c.name)].map(ident).join(", ");
  return `copy pg_temp.${ident(stagingName(t))} (${cols}) from stdin`;
}

function keyMatch(t: StreamTable): string {
  return keyDefs(t)
    .map((k) => `t.${ident(k.name)} = s.${ident(k.name)}::${k.type}`)
    .join(" and ");
}

/**
 * Statements that move the staged window into the table (run in the caller's transaction).
 * `rows`: an extra condition on the staged rows (alias s), to apply only some of them.
 */
export function applySql(t: StreamTable, mode: ApplyMode, rows?: string): string[] {
  const stage = `pg_temp.${ident(stagingName(t))}`;
  const target = `${only(t)}${relation(t)}`;
  const cols = copiedColumns(t);
  const colList = cols.map((c) => ident(c.name)).join(", ");
  const values = cols.map((c) => `s.${ident(c.name)}::${c.type}`).join(", ");
  const filter = rows === undefined ? "" : ` and (${rows})`;
  const present = ident(presentColumn(t));
  // OVERRIDING SYSTEM VALUE: identity columns keep the source's values.
  const insert = `insert into ${relation(t)} (${colList}) overriding system value select ${values} from ${stage} s where s.${present}${filter}`;
  if (mode === "replace") {
    return [`delete from ${target} t using ${stage} s where ${keyMatch(t)}${filter}`, insert];
  }
  const keySet = new Set(t.keyColumns);
  // An identity ALWAYS column cannot be SET by an UPDATE; its value never changes in practice.
  const sets = cols
    .filter((c) => !keySet.has(c.name) && c.identity !== "a")
    .map((c) => `${ident(c.name)} = excluded.${ident(c.name)}`);
  const conflict = `on conflict (${t.keyColumns.map(ident).join(", ")}) do ${sets.length ? `update set ${sets.join(", ")}` : "nothing"}`;
  return [
    `${insert} ${conflict}`,
    `delete from ${target} t using ${stage} s where not s.${present} and ${keyMatch(t)}${filter}`,
  ];
}

/**
 * Replaces the staged rows' keys in ONE statement: the delete (a data-modifying CTE) runs to
 * completion before the insert reads its first row, and foreign keys with NO ACTION check at
 * the end of the statement, when every deleted key is back. For rows that exchanged unique
 * values, which no order of upserts can apply.
 */
export function replaceInOneSql(t: StreamTable, rows: string): string {
  const [del, insert] = applySql(t, "replace", rows);
  return `with gone as (${del} returning 1) ${insert} and (select count(*) from gone) >= 0`;
}

/** TRUNCATE for one log 'T' row: the whole table (key null) or the leaf partition it names. */
export function truncateSql(t: StreamTable, key: { schema?: string; name?: string } | null): string {
  if (key?.schema && key.name) return `truncate only ${qualified(key.schema, key.name)}`;
  return `truncate ${only(t)}${relation(t)}`;
}

/** The columns of a relation now, as json [{name, type, generated, identity}] (after LOCK). */
export function columnsJsonSql(regclassLiteral: string, major: number): string {
  const generated = major >= 12 ? "a.attgenerated = 's'" : "false";
  return `(select coalesce(json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
            'generated', ${generated}, 'identity', a.attidentity::text) order by a.attnum), '[]')
     from pg_attribute a where a.attrelid = ${regclassLiteral} and a.attnum > 0 and not a.attisdropped)`;
}

export function regclassOf(t: Pick<StreamTable, "schema" | "name">): string {
  return `${literal(relation(t))}::regclass`;
}
