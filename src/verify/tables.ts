import type pg from "pg";
import { copyColumns, listTables } from "../catalog/index.js";
import { serverMajor } from "../db/index.js";
import {
  controlTableExists,
  readMigration,
  readTables,
  storedFilter,
  type UnmigratedTable,
  unmigratedAmong,
} from "../state/index.js";
import type { VerifyColumn, VerifyTable } from "./table-sql.js";

/** The migration's phase and table list as verify needs them; null when the target has no migration. */
export interface MigrationView {
  phase: string;
  tables: VerifyTable[];
  /** The --tables / --exclude patterns prepare chose the tables by (migration.options). */
  filter: { include?: string[]; exclude?: string[] };
}

/** Reads the replicated tables from the target's control schema, or null when there is none. */
export async function tablesFromControl(target: pg.ClientBase): Promise<MigrationView | null> {
  if (!(await controlTableExists(target, "tables")) || !(await controlTableExists(target, "migration")))
    return null;
  const mig = await readMigration(target);
  if (!mig) return null;
  const rows = await readTables(target, "name");
  const tables = rows.map((r) => {
    const cols = r.columns.map((c) => ({ name: c.name, type: c.type, generated: Boolean(c.generated) }));
    return toVerifyTable({
      id: r.id,
      schema: r.schema,
      name: r.name,
      kind: r.kind,
      keyColumns: r.keyColumns,
      columns: cols,
      phase: r.phase,
      rowsEstimate: r.rowsEstimate,
    });
  });
  return { phase: mig.phase, tables, filter: storedFilter(mig.options) };
}

/**
 * Source tables the migration's filters match but that it does not carry: created after
 * prepare (or renamed to a new name), so nothing copies or streams them.
 */
export async function unmigratedTables(source: pg.Client, view: MigrationView): Promise<UnmigratedTable[]> {
  return unmigratedAmong(source, view.filter, view.tables);
}

/**
 * Without a control schema (never migrated, or cleaned up), verify compares every user table
 * of the source (a table without a key as a multiset of rows).
 */
export async function tablesFromCatalog(source: pg.Client): Promise<VerifyTable[]> {
  const major = await serverMajor(source);
  const all = await listTables(source, major);
  return all.map((t) =>
    toVerifyTable({
      id: null,
      schema: t.schema,
      name: t.name,
      kind: t.kind,
      keyColumns: t.key?.columns ?? [],
      columns: t.columns,
      phase: null,
      rowsEstimate: t.rowsEstimate,
    }),
  );
}

function toVerifyTable(t: {
  id: number | null;
  schema: string;
  name: string;
  kind: "table" | "partitioned";
  keyColumns: string[];
  columns: { name: string; type: string; generated: boolean }[];
  phase: string | null;
  rowsEstimate: number;
}): VerifyTable {
  const byName = new Map(t.columns.map((c) => [c.name, c]));
  const key: VerifyColumn[] = t.keyColumns.map((k) => ({ name: k, type: byName.get(k)?.type ?? "text" }));
  const columns = copyColumns(
    t.columns.map((c) => ({
      name: c.name,
      type: c.type,
      generated: c.generated,
      notNull: false,
      identity: "",
    })),
  ).map((c) => ({ name: c.name, type: c.type }));
  return {
    id: t.id,
    schema: t.schema,
    name: t.name,
    kind: t.kind,
    key,
    columns,
    phase: t.phase,
    rowsEstimate: t.rowsEstimate,
  };
}
