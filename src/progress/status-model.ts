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
  /**
   * The source's change log as the stream last measured it. It grows while nothing applies
   * it (no `pgferry start` streaming); `lagSeconds` is then the age of its oldest change.
   */
  changeLog?: { bytes: number; measuredAt: string; rows?: number };
  /**
   * Whether any `pgferry start` beat on the target within the staleness bound (3 missed beats
   * of 2 s, src/state/start-heartbeat.ts). False: nothing copies or streams; the lag grows.
   */
  startRunning: boolean;
  /** Seconds since a start last beat or exited cleanly; null when none ever ran (since 008). */
  startLastSeenSeconds: number | null;
  /** When a start was last seen (ISO), null likewise. */
  startLastSeenAt: string | null;
  /** The running starts: host, pid, what each does (prepare, copy, forward/reverse stream, waiting). */
  starts: { host: string; pid: number; role: string; lastSeenSeconds: number }[];
  tables: TableStatus[];
  errors: { at: string; message: string }[];
  cutover?: { fenceRaisedAt: string | null; switchedAt: string | null; unavailableMs: number | null };
  /**
   * The write fence of each side, from the cutover on: the target's as it is now, the
   * source's as pgferry last set it (status never connects to the source). `absent`: no
   * capture there to fence (a target cut over without a rollback window).
   */
  fences?: { source: "up" | "down"; target: "up" | "down" | "absent" };
  /** A cutover or rollback that is running, or that died and must be run again. */
  operation?: OperationStatus;
  /**
   * The rollback window (switched with --rollback-window): the reverse stream that applies the
   * target's writes back to the source. `lagSeconds` and `pendingChanges` above are then its
   * figures; after a switch without a window they are null (nothing streams any more).
   */
  reverse?: {
    /** How long the oldest change not yet brought back may have waited; 0 with none waiting. */
    lagSeconds: number | null;
    /** The target's captured changes not yet applied to the source (null: not measurable). */
    pendingChanges: number | null;
    /** Changes brought back to the source since the switch. */
    changesApplied: number;
    lastAppliedAt: string | null;
    /** The window has no deadline: it lasts until one of these commands. */
    endsWith: string;
  };
}

export interface OperationStatus {
  name: "cutover" | "rollback";
  state: "running" | "interrupted";
  /** The last step its journal (pgferry.cutover_steps) shows. */
  step: string | null;
  /** Its switch command may have run: a rerun finishes it, never undoes it. */
  switchStarted: boolean;
  /** What to run when it was interrupted. */
  next: string | null;
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
  /** Age of the last source heartbeat this table's windows applied, when it streams. */
  lagSeconds?: number;
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
    startRunning: false,
    startLastSeenSeconds: null,
    startLastSeenAt: null,
    starts: [],
    tables: [],
    errors: [],
  };
}
