/** One difference found between source and target. `key` is the row's key as an object. */
export type Difference =
  /** A row on the source that the target lacks. */
  | { kind: "missing"; key: Record<string, unknown> }
  /** A row on the target that the source lacks. */
  | { kind: "extra"; key: Record<string, unknown> }
  /** Same key on both sides, different values in the named columns. */
  | { kind: "changed"; key: Record<string, unknown>; columns: string[] }
  /** The table does not exist on the target. */
  | { kind: "missing_table" }
  /** A table of the migration that is gone from the source (dropped, or renamed). */
  | { kind: "missing_source_table" }
  /** A source table the migration does not carry (created after prepare), though its filters match it. */
  | { kind: "unmigrated_table" }
  | { kind: "missing_index" | "missing_constraint" | "missing_trigger"; name: string };

export interface TableVerdict {
  name: string;
  sourceRows: number;
  targetRows: number;
  identical: boolean;
  differences: Difference[];
  /** Differing keys beyond the listing cap (counted, not listed). */
  moreDifferences: number;
  /** Key ranges compared. */
  ranges: number;
  /**
   * Keys that differ because changes logged on the source were not applied to the target
   * while verify waited, and why (no stream running, the table paused, the stream behind).
   * They are among `differences` (and `moreDifferences` past the listing cap).
   */
  notApplied?: { keys: number; reason: string };
  /**
   * Keys that differed by changes in flight which the stream was seen to apply during verify
   * (the table's position passed the snapshot they were read in): not differences.
   */
  inFlight?: number;
  /** Objects created only at cutover (foreign keys, triggers) that are not there yet: expected before it. */
  pendingObjects?: string[];
}

export interface SequenceVerdict {
  name: string;
  /** The next value each side would hand out (null: missing on that side). */
  sourceNext: string | null;
  targetNext: string | null;
  /** Target ahead of (or equal to) the source. */
  ok: boolean;
  /** False while streaming: sequences are only required to be ahead once cut over. */
  counted: boolean;
}

/** `verify --json`, per ../shared/CLI.md (fields may be added, never removed). */
export interface VerifyReport {
  identical: boolean;
  phase: string | null;
  /**
   * Which side leads: the source (until the switch), or the target in the rollback window
   * (the source follows through the reverse stream, and a difference counts only once that
   * stream had the chance to apply it). `missing` / `extra` keep their meaning either way.
   */
  direction?: "source-to-target" | "target-to-source";
  tables: TableVerdict[];
  sequences: SequenceVerdict[];
  seconds: number;
}

export interface VerifyOptions {
  /** Rows per key range (a range is read in one bounded query per side). */
  rangeRows?: number;
  /** Tables compared in parallel (each uses one connection per side). */
  jobs?: number;
  /** Most differing keys listed per table. */
  maxKeys?: number;
  /** How many times a differing range is re-checked before it counts (changes may still be in flight). */
  recheckAttempts?: number;
  /**
   * Longest wait for the table's position to cover a snapshot verify read, per table (a table
   * that is not applied within it is not waited for again).
   */
  settleTimeoutMs?: number;
  /** Only these tables ("schema.name"). */
  tables?: string[];
  /** Skip the sequence and object comparisons (the cutover's fast check). */
  dataOnly?: boolean;
  /** @internal Differing keys re-checked per query (default 10,000); tests lower it. */
  recheckBatch?: number;
}

export const VERIFY_DEFAULTS = {
  rangeRows: 10_000,
  jobs: 2,
  maxKeys: 100,
  recheckAttempts: 3,
  settleTimeoutMs: 10_000,
} as const;
