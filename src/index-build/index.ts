// Contract stub: replaced by the index stage (issue 3).
import type { ConnInfo } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";

export interface IndexBuildOptions {
  maintenanceWorkMem?: string;
  signal?: AbortSignal;
  emit?: EventSink;
}

/**
 * Builds the stage-'index' post-data items of one copied table on the target (each item and
 * its done-mark in one transaction), ANALYZEs it, compares the definitions with the source,
 * then sets the table's phase to 'indexed'. The caller holds the claim on the table.
 */
export async function buildTableIndexes(
  _target: ConnInfo,
  _source: ConnInfo,
  _tableId: number,
  _opts: IndexBuildOptions = {},
): Promise<void> {
  throw new PgferryError("INTERNAL", "index build is not built yet");
}
