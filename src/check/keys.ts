import type { SourceTable } from "../catalog/index.js";
import { formatBytes, plural, sqlIdent } from "./format.js";
import { type Findings, tableName } from "./types.js";

/**
 * Which strategy each table streams with. A primary key, else a unique index over NOT NULL
 * columns (without a predicate or expressions), is a key: the stream re-reads current rows by
 * it. Any other table is keyless and identified by its whole row (decisions.md, "Tables without a key"); a unique index
 * over a nullable column is no key (nothing keeps NULLs out of it).
 */
export function checkKeys(tables: readonly SourceTable[], findings: Findings): void {
  for (const t of tables) {
    const name = tableName(t);
    if (!t.key) {
      findings.note({
        code: "NO_REPLICATION_KEY",
        side: "source",
        table: name,
        message: `${name} has no primary key and no unique index over NOT NULL columns${nullableNote(t)}: pgferry identifies its rows by their full image. ${keylessCost(t)}`,
        fix: "Nothing to do: the table migrates with the others. A primary key would make its copy chunked and its log smaller; there is no need to add one.",
      });
    } else if (t.key.kind === "unique") {
      findings.note({
        code: "UNIQUE_KEY_USED",
        side: "source",
        table: name,
        message: `${name} has no primary key; pgferry uses its unique index ${t.key.indexName} (${t.key.columns.join(", ")}) as the replication key.`,
        fix: "Nothing to do. Keep that index and its NOT NULL columns unchanged during the migration.",
      });
    }
  }
}

function nullableNote(t: SourceTable): string {
  if (t.nullableUnique.length === 0) return "";
  const list = t.nullableUnique
    .map((u) => `${sqlIdent(u.indexName)} (${u.columns.map(sqlIdent).join(", ")})`)
    .join(", ");
  return ` (unique ${t.nullableUnique.length === 1 ? "index" : "indexes"} ${list} over nullable columns, which is not a key: NULLs repeat)`;
}

/** What the full-row strategy costs for this table, in its own numbers. */
function keylessCost(t: SourceTable): string {
  const rows = Math.max(0, t.rowsEstimate);
  const width = rows > 0 ? Math.round(t.bytes / rows) : 0;
  const size = `${formatBytes(t.bytes)}, ~${plural(rows, "row")}`;
  return [
    `Copied in one chunk inside one source snapshot (${size}): the source's xmin is held, and vacuum waits, for as long as that copy takes.`,
    `Each change logs the whole row (~${formatBytes(width)} a row) instead of its key; an UPDATE logs the old and the new row.`,
    "Each stream window that deletes or updates rows scans the target table once.",
  ].join(" ");
}
