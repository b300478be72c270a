import type pg from "pg";
import { listTables, type TableFilter, tableMatcher } from "../catalog/index.js";
import { serverMajor } from "../db/index.js";

/** The --tables / --exclude patterns prepare chose the tables by, as stored in migration.options. */
export function storedFilter(options: Record<string, unknown> | null | undefined): {
  include?: string[];
  exclude?: string[];
} {
  const list = (v: unknown) => (Array.isArray(v) && v.length > 0 ? v.map(String) : undefined);
  const include = list(options?.["include"]);
  const exclude = list(options?.["exclude"]);
  return { ...(include ? { include } : {}), ...(exclude ? { exclude } : {}) };
}

export interface UnmigratedTable {
  schema: string;
  name: string;
  kind: "table" | "partitioned";
}

/**
 * Source tables the filter matches but that are not among `carried`: created after prepare
 * (or renamed to a new name), so nothing copies or streams them.
 */
export async function unmigratedAmong(
  source: pg.Client,
  filter: TableFilter,
  carried: readonly { schema: string; name: string }[],
): Promise<UnmigratedTable[]> {
  const match = tableMatcher(filter);
  const known = new Set(carried.map((t) => `${t.schema}\u0000${t.name}`));
  const all = await listTables(source, await serverMajor(source));
  return all
    .filter((t) => match(t.schema, t.name) && !known.has(`${t.schema}\u0000${t.name}`))
    .map((t) => ({ schema: t.schema, name: t.name, kind: t.kind }));
}

/**
 * The migration's new tables: what its stored filters match on the source that it does not
 * carry. Empty before prepare registered the tables (in one transaction), when every table
 * would look new.
 */
export async function newSourceTables(source: pg.Client, target: pg.ClientBase): Promise<UnmigratedTable[]> {
  const { rows: m } = await target.query<{ options: Record<string, unknown> | null }>(
    "select options from pgferry.migration",
  );
  if (!m[0]) return [];
  const { rows } = await target.query<{ schema: string; name: string }>(
    "select schema_name as schema, table_name as name from pgferry.tables",
  );
  if (rows.length === 0) return [];
  return unmigratedAmong(source, storedFilter(m[0].options), rows);
}
