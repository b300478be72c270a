import { MAX_OUTAGE_MS } from "../db/retry.js";
import type { TableRow } from "../state/index.js";

export type { StoredColumn } from "../state/index.js";

/** One replicated table as the stream sees it: its control row, which has a position once prepared. */
export type StreamTable = Omit<TableRow, "position"> & {
  /** txid snapshot text: everything visible in it is applied. */
  position: string;
};

/** How the rows of a window land on the apply side. */
export type ApplyMode =
  /** Delete every key of the window, insert the current rows: immune to unique-key swaps. */
  | "replace"
  /**
   * Upsert the present rows, delete the absent ones: never deletes a row a foreign key still
   * needs. Not immune to unique values moving between rows: see reverse-apply.ts.
   */
  | "upsert";

export interface StreamOptions {
  /** Most log rows one window may carry; a larger backlog is applied in several windows. */
  windowMaxChanges?: number;
  /** Tables applied in parallel. */
  applyJobs?: number;
  heartbeatIntervalMs?: number;
  sequenceSyncIntervalMs?: number;
  /** How often a new window is cut while keeping up (ms). */
  windowIntervalMs?: number;
  /** How often pending changes, lag and rate are measured and stored (ms). */
  statusIntervalMs?: number;
  /** How often applied rows are deleted from the source's log (ms). */
  cleanupIntervalMs?: number;
  /** Log rows deleted per statement. */
  cleanupBatch?: number;
  /** Give up (STREAM_FAILED) after failing to reach a side for this long (ms). */
  maxRetryMs?: number;
  /** "reverse": the rollback window's stream, from the target back to the source. */
  direction?: "forward" | "reverse";
}

export const STREAM_DEFAULTS = {
  windowMaxChanges: 50_000,
  applyJobs: 4,
  // Four beats a second: the lag figure (now − last beat applied) then reads true to within
  // a quarter second; a beat is one single-row update on the source.
  heartbeatIntervalMs: 250,
  sequenceSyncIntervalMs: 10_000,
  windowIntervalMs: 250,
  statusIntervalMs: 2000,
  cleanupIntervalMs: 5000,
  cleanupBatch: 5000,
  maxRetryMs: MAX_OUTAGE_MS,
} as const;

export type ResolvedStreamOptions = Required<Omit<StreamOptions, "direction">> & {
  direction: "forward" | "reverse";
};

export function resolveOptions(opts: StreamOptions = {}): ResolvedStreamOptions {
  const out = { ...STREAM_DEFAULTS, direction: "forward" as const } as ResolvedStreamOptions;
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

/** Migration phases during which the forward stream runs. */
export const FORWARD_MIGRATION_PHASES = ["preparing", "copying", "indexing", "streaming"] as const;
