import type pg from "pg";
import { installTableCapture, rowImageOf } from "../capture/index.js";
import { tableShape } from "../catalog/index.js";
import { literal, qualified } from "../db/quote.js";
import { isPgferryError } from "../errors/index.js";
import { moveTable, recordEvent, storeSourceOids } from "../state/index.js";
import { columnsJsonSql, relation } from "./sql.js";
import { tableName } from "./table-state.js";
import type { StoredColumn, StreamTable } from "./types.js";

/** The same signature prepare stored in the table's control row (shape). */
export function shapeOf(columns: readonly StoredColumn[]): string {
  return tableShape(
    columns.map((c) => ({
      name: c.name,
      type: c.type,
      generated: c.generated,
      notNull: false,
      identity: (c.identity ?? "") as "" | "a" | "d",
    })),
  );
}

/** What changed between the stored columns and the current ones, in words. */
export function describeShapeChange(before: readonly StoredColumn[], after: readonly StoredColumn[]): string {
  const was = new Map(before.map((c) => [c.name, c]));
  const now = new Map(after.map((c) => [c.name, c]));
  const parts: string[] = [];
  for (const c of after) {
    const old = was.get(c.name);
    if (!old) parts.push(`column "${c.name}" added (${c.type})`);
    else if (old.type !== c.type) parts.push(`column "${c.name}" changed type from ${old.type} to ${c.type}`);
    else if (old.generated !== c.generated) parts.push(`column "${c.name}" changed its generated expression`);
  }
  for (const c of before) if (!now.has(c.name)) parts.push(`column "${c.name}" dropped`);
  if (parts.length === 0) parts.push("columns reordered");
  return parts.join("; ");
}

export function ddlPauseReason(t: StreamTable, change: string): string {
  return `DDL on the source: ${change}. Apply the same change to ${tableName(t)} on the target, then run \`pgferry start\` again (it re-checks and resumes).`;
}

export function renamePauseReason(t: StreamTable, now: { schema: string; name: string } | null): string {
  return now
    ? `DDL on the source: renamed to ${now.schema}.${now.name}. Rename ${tableName(t)} the same way on the target, then run \`pgferry start\` again.`
    : `DDL on the source: the table was dropped (or renamed before its first window). Drop it on the target and remove it from the migration, or recreate it on the source.`;
}

interface Located {
  schema: string;
  name: string;
  columns: StoredColumn[];
}

/** The source table now: found by oid when known (a rename keeps it), else by name. */
export async function locateOnSource(
  source: pg.ClientBase,
  major: number,
  t: StreamTable,
): Promise<Located | null> {
  const byOid = t.sourceOid !== null;
  const where = byOid
    ? `c.oid = ${Math.trunc(t.sourceOid!)}`
    : `c.oid = to_regclass(${literal(qualified(t.schema, t.name))})`;
  const { rows } = await source.query<Located>(
    `select n.nspname as schema, c.relname as name, ${columnsJsonSql("c.oid", major)} as columns
       from pg_class c join pg_namespace n on n.oid = c.relnamespace where ${where}`,
  );
  return rows[0] ?? null;
}

export async function targetColumns(
  target: pg.ClientBase,
  major: number,
  rel: { schema: string; name: string },
): Promise<StoredColumn[] | null> {
  const { rows } = await target.query<{ ok: boolean; columns: StoredColumn[] }>(
    `select to_regclass(${literal(qualified(rel.schema, rel.name))}) is not null as ok,
            ${columnsJsonSql(`to_regclass(${literal(qualified(rel.schema, rel.name))})`, major)} as columns`,
  );
  return rows[0]?.ok ? rows[0].columns : null;
}

/**
 * A paused table resumes when the target table (under the source's current name) has the
 * source's current columns: the user applied the same DDL. Its stored name, columns and shape
 * are updated, and it streams again from its unchanged position. `retryUnchanged` also
 * resumes tables paused for another reason (a target error), once per start.
 */
export async function recheckPaused(
  source: pg.ClientBase,
  target: pg.ClientBase,
  majors: { source: number; target: number },
  t: StreamTable,
  retryUnchanged: boolean,
): Promise<boolean> {
  const src = await locateOnSource(source, majors.source, t);
  if (!src) return false;
  const srcShape = shapeOf(src.columns);
  const renamed = src.schema !== t.schema || src.name !== t.name;
  if (srcShape === t.shape && !renamed && !retryUnchanged) return false;
  const tgt = await targetColumns(target, majors.target, src);
  if (!tgt || shapeOf(tgt) !== srcShape) return false;
  const columns = src.columns.map((c) => ({
    name: c.name,
    type: c.type,
    generated: c.generated,
    identity: c.identity ?? "",
  }));
  const keyless = t.identity === "row" && srcShape !== t.shape;
  // A partitioned keyless table's row functions list its columns: logged again with the new ones.
  if (keyless && t.kind === "partitioned" && !(await recapture(source, t, src))) return false;
  // A keyless table's log now holds rows of the old shape, which no longer parse: copied whole.
  const moved = await moveTable(
    target,
    t.id,
    { from: ["paused"], to: "streaming", skip: ["streaming"] },
    {
      pausedReason: null,
      renamed: { schema: src.schema, name: src.name, columns, shape: srcShape, recopy: keyless },
    },
  );
  if (!moved) return false;
  await recordEvent(target, "info", "stream-resumed", `${src.schema}.${src.name}: streaming again`, {
    table: `${src.schema}.${src.name}`,
    was: tableName(t),
  });
  return true;
}

const LEAVES_SQL = `
with recursive tree (oid) as (
  select $1::regclass::oid union all select i.inhrelid from tree t join pg_inherits i on i.inhparent = t.oid)
select n.nspname as schema, c.relname as name, c.oid::int8::text as oid
  from tree t join pg_class c on c.oid = t.oid join pg_namespace n on n.oid = c.relnamespace
 where c.relkind = 'r'`;

/** Installs a partitioned keyless table's capture again, lock-bounded; false when its lock is busy. */
async function recapture(source: pg.ClientBase, t: StreamTable, now: Located): Promise<boolean> {
  const { rows } = await source.query<{ schema: string; name: string; oid: string }>(LEAVES_SQL, [
    qualified(now.schema, now.name),
  ]);
  try {
    await installTableCapture(
      source,
      {
        tableId: t.id,
        schema: now.schema,
        name: now.name,
        keyColumns: [],
        rowImage: rowImageOf(
          "partitioned",
          now.columns.map((c) => c.name),
        ),
        leaves: rows.map((r) => ({ schema: r.schema, name: r.name, oid: Number(r.oid) })),
      },
      { skipApplySessions: false, attempts: 1 },
    );
    return true;
  } catch (err) {
    if (isPgferryError(err) && err.code === "LOCK_TIMEOUT") return false;
    throw err;
  }
}

/** Ids of the tables whose columns on the source no longer match the stored shape (or that vanished). */
export async function changedShapes(
  source: pg.ClientBase,
  major: number,
  tables: readonly StreamTable[],
): Promise<number[]> {
  const { rows } = await source.query<{ id: number; columns: StoredColumn[] }>(
    `select x.id, ${columnsJsonSql("to_regclass(x.rel)", major)} as columns
       from unnest($1::int[], $2::text[]) as x(id, rel)`,
    [tables.map((t) => t.id), tables.map((t) => relation(t))],
  );
  const byId = new Map(tables.map((t) => [t.id, t]));
  return rows.filter((r) => shapeOf(r.columns) !== byId.get(r.id)?.shape).map((r) => r.id);
}

/**
 * Records the source oid of tables that lack it; rows a worker holds are skipped (next time).
 * Updates the given objects too.
 */
export async function recordSourceOids(
  source: pg.ClientBase,
  target: pg.ClientBase,
  tables: StreamTable[],
): Promise<void> {
  const missing = tables.filter((t) => t.sourceOid === null);
  if (missing.length === 0) return;
  const { rows } = await source.query<{ id: number; oid: string | null }>(
    "select x.id, to_regclass(x.rel)::oid::int8::text as oid from unnest($1::int[], $2::text[]) as x(id, rel)",
    [missing.map((t) => t.id), missing.map((t) => relation(t))],
  );
  const found = rows.filter((r) => r.oid !== null);
  if (found.length === 0) return;
  await storeSourceOids(target, found);
  for (const r of found) {
    const t = missing.find((m) => m.id === r.id);
    if (t) t.sourceOid = Number(r.oid);
  }
}
