import type pg from "pg";
import { lastEventDetails, readMigrationIfAny, tableTotals } from "../state/index.js";

/**
 * What the migration was, read from the target's control schema just before cleanup drops it
 * (issue 13): the record that outlives the schema, printed, in `--json` and in the log file.
 */
export interface FinalReport {
  /** The source as the migration recorded it (password masked). */
  source: string;
  /** The phase the migration ended in (before cleanup). */
  phase: string;
  /** Each milestone and when it happened (ISO, UTC); null: it did not happen. */
  phases: { name: string; at: string | null }[];
  /** How long each stretch took, in seconds (null when it did not happen). */
  durations: { prepare: number | null; copyAndIndex: number | null; streamToSwitch: number | null };
  tables: number;
  /** Rows copied (the copy's exact count; changes streamed later are in changesApplied). */
  rows: number;
  bytes: number;
  /** Captured source changes applied to the target. */
  changesApplied: number;
  /** Captured target changes brought back to the source in the rollback window. */
  changesBroughtBack: number;
  /** The measured write-unavailability window of the cutover, and of the rollback (ms). */
  writeWindowMs: number | null;
  rollbackWriteWindowMs: number | null;
  /**
   * Writes lost, where pgferry knows: 0 once a cutover switched, since its verify behind the
   * fence found every table identical (it refuses to switch otherwise); null before a switch.
   */
  lostWrites: number | null;
  lostWritesBasis: string;
  /** The steps of the cutover's (and rollback's) attempt that completed, with their times. */
  steps: { operation: string; attempt: number; name: string; ms: number | null }[];
}

type Row = Record<string, unknown>;

const iso = (v: unknown): string | null => (v ? new Date(v as string).toISOString() : null);
const seconds = (a: unknown, b: unknown): number | null =>
  a && b ? Math.round((new Date(b as string).getTime() - new Date(a as string).getTime()) / 100) / 10 : null;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Null when the target holds no migration. */
export async function readFinalReport(target: pg.ClientBase): Promise<FinalReport | null> {
  // Columns later migrations added may be missing (undefined) from an old control schema.
  const row = await readMigrationIfAny(target);
  if (!row) return null;
  const m: Row = row;
  const t = await tableTotals(target);
  const rollbackEvent = { details: await lastEventDetails(target, "rollback", "unavailableMs") };
  const steps = await completedSteps(target);
  const switched = Boolean(m["switched_at"]);
  const phase = String(m["phase"]);
  return {
    source: String(m["source_display"] ?? ""),
    phase,
    phases: [
      { name: "prepare started", at: iso(m["created_at"]) },
      { name: "copy started", at: iso(m["copy_started_at"]) },
      { name: "copy and indexes done", at: iso(m["copy_finished_at"]) },
      { name: "fence raised", at: iso(m["fence_raised_at"]) },
      { name: "switched to the target", at: iso(m["switched_at"]) },
      { name: "rollback fence raised", at: iso(m["rollback_fence_raised_at"]) },
      { name: "rolled back to the source", at: iso(m["rolled_back_at"]) },
      { name: "cleanup", at: new Date().toISOString() },
    ],
    durations: {
      prepare: seconds(m["created_at"], m["copy_started_at"]),
      copyAndIndex: seconds(m["copy_started_at"], m["copy_finished_at"]),
      streamToSwitch: seconds(m["copy_finished_at"], m["switched_at"]),
    },
    tables: Number(t.n),
    rows: Number(t.rows),
    bytes: Number(t.bytes),
    changesApplied: Number(t.changes),
    changesBroughtBack: num(m["reverse_changes_applied"]) ?? 0,
    writeWindowMs: num(m["unavailable_ms"]),
    rollbackWriteWindowMs: num(rollbackEvent?.details?.["unavailableMs"]),
    lostWrites: switched ? 0 : null,
    lostWritesBasis: switched
      ? "the cutover's verify behind the fence found every table identical before the switch (it refuses to switch otherwise)"
      : "not known: the migration was never switched",
    steps,
  };
}

/** The steps of each operation's last attempt that got furthest, as the journal kept them. */
async function completedSteps(target: pg.ClientBase): Promise<FinalReport["steps"]> {
  const has = await target.query<{ ok: boolean }>(
    "select to_regclass('pgferry.cutover_steps') is not null as ok",
  );
  if (!has.rows[0]?.ok) return [];
  const { rows } = await target.query<{
    operation: string;
    attempt: number;
    step: string;
    ms: string | null;
  }>(
    `select operation, attempt, step, ms::text from pgferry.cutover_steps s
      where state = 'done'
        and attempt = (select max(attempt) from pgferry.cutover_steps x where x.operation = s.operation)
      order by id`,
  );
  return rows.map((r) => ({ operation: r.operation, attempt: r.attempt, name: r.step, ms: num(r.ms) }));
}
