import type { SourceTable } from "../catalog/index.js";
import { type TableSummary, tableName } from "./types.js";

/** Per-table size and key, largest first. */
export function summarizeTables(tables: readonly SourceTable[]): TableSummary[] {
  return tables
    .map((t) => ({
      name: tableName(t),
      kind: t.kind,
      key: t.key?.columns ?? null,
      keyKind: t.key?.kind ?? null,
      keyIndex: t.key?.indexName ?? null,
      rowsEstimate: t.rowsEstimate,
      bytes: t.bytes,
    }))
    .sort((a, b) => b.bytes - a.bytes || b.rowsEstimate - a.rowsEstimate || a.name.localeCompare(b.name));
}

export function totals(tables: readonly TableSummary[]): {
  tables: number;
  rowsEstimate: number;
  bytes: number;
} {
  return {
    tables: tables.length,
    rowsEstimate: tables.reduce((s, t) => s + t.rowsEstimate, 0),
    bytes: tables.reduce((s, t) => s + t.bytes, 0),
  };
}
