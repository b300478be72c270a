/** `pgferry status --json`, per ../shared/CLI.md. Fields may be added, never removed. */
export interface StatusReport {
  phase: string;
  source: string;
  lagSeconds: number | null;
  pendingChanges: number | null;
  copy: {
    rowsDone: number;
    rowsTotal: number;
    bytesDone: number;
    bytesTotal: number;
    bytesPerSecond: number;
    etaSeconds: number | null;
    chunksDone: number;
    chunksTotal: number;
  };
  stream: { changesApplied: number; changesPerSecond: number };
  tables: TableStatus[];
  errors: { at: string; message: string }[];
  cutover?: { fenceRaisedAt: string | null; switchedAt: string | null; unavailableMs: number | null };
}

export interface TableStatus {
  name: string;
  phase: string;
  rowsDone: number;
  rowsTotal: number;
  bytesDone: number;
  bytesTotal: number;
  pendingChanges: number | null;
  changesApplied: number;
  pausedReason?: string;
  /** Copy rate of this table over the last minute (chunks finished), when it is being copied. */
  bytesPerSecond?: number;
}

/**
 * The report of a target that holds no migration (never started, or cleaned up): phase
 * "none". `pgferry status` shows it and exits 0, as CLI.md's contract says.
 */
export function noMigrationStatus(): StatusReport {
  return {
    phase: "none",
    source: "",
    lagSeconds: null,
    pendingChanges: null,
    copy: {
      rowsDone: 0,
      rowsTotal: 0,
      bytesDone: 0,
      bytesTotal: 0,
      bytesPerSecond: 0,
      etaSeconds: null,
      chunksDone: 0,
      chunksTotal: 0,
    },
    stream: { changesApplied: 0, changesPerSecond: 0 },
    tables: [],
    errors: [],
  };
}
