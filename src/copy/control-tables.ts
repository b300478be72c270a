import type { TableRow } from "../state/index.js";

// The control tables are read and written in state/ only (tables.ts, chunks.ts); the copy
// stage imports what it uses of them through here.
export { claimPendingTable, markCopiedTables, readTables, stageCounts } from "../state/index.js";

/** A replicated table, as the copy stage uses it (what it plans and copies). */
export type ControlTable = Pick<
  TableRow,
  | "id"
  | "schema"
  | "name"
  | "kind"
  | "keyColumns"
  | "identity"
  | "columns"
  | "phase"
  | "rowsEstimate"
  | "bytesEstimate"
>;
