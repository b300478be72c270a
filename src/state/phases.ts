/**
 * The phase vocabularies of the control tables: the unions, in pipeline order, and the named
 * subsets the stages test against. 012_phase_checks.sql holds the columns to these lists.
 * Imports nothing, so the renderers and the monitor take the lists from here as well.
 */

/** Migration phases, in pipeline order. */
export const MIGRATION_PHASES = [
  "preparing",
  "copying",
  "indexing",
  "streaming",
  "cutover",
  "switched",
  "rolled-back",
  "cleaned",
] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

/** Table phases, in pipeline order. */
export const TABLE_PHASES = [
  "pending",
  "copying",
  "copied",
  "indexing",
  "indexed",
  "streaming",
  "paused",
] as const;
export type TablePhase = (typeof TABLE_PHASES)[number];

/** Phases a table reaches only after its copy is complete. */
export const COPIED_PHASES: readonly TablePhase[] = ["copied", "indexing", "indexed", "streaming", "paused"];
/** Phases after the index stage. */
export const INDEXED_PHASES: readonly TablePhase[] = ["indexed", "streaming", "paused"];
/** Phases the forward stream applies (an 'indexed' table joins at its next window). */
export const APPLIED_PHASES: readonly TablePhase[] = ["indexed", "streaming"];
/** Migration phases after the switch; status shows them as every streamed table's phase too. */
export const CUT_OVER_PHASES: readonly MigrationPhase[] = ["switched", "rolled-back"];

/** Whether a phase read as a plain string (a row, a report) is one of `phases`. */
export function phaseIn(phases: readonly string[], phase: string | null | undefined): boolean {
  return phase !== null && phase !== undefined && phases.includes(phase);
}
