import type { SourceTable } from "../catalog/index.js";
import { sqlName } from "./format.js";
import { type Findings, tableName } from "./types.js";

/**
 * Replay fetches current rows by key, so every table needs one: its primary key, else a unique
 * index over NOT NULL columns (without a predicate or expressions).
 */
export function checkKeys(tables: readonly SourceTable[], findings: Findings): void {
  for (const t of tables) {
    const name = tableName(t);
    if (!t.key) {
      findings.blocker({
        code: "NO_REPLICATION_KEY",
        side: "source",
        table: name,
        message: `${name} has no primary key and no unique index over NOT NULL columns, so its changes cannot be replayed.`,
        fix: `Add a primary key on the source (ALTER TABLE ${sqlName(t.schema, t.name)} ADD PRIMARY KEY (…), or add an id column: ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY), or leave the table out with --exclude ${name}.`,
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
