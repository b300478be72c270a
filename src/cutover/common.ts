import type pg from "pg";
import { fromDriverError } from "../db/index.js";
import { isPgferryError, PgferryError, redact, userCodeError } from "../errors/index.js";
import { CUTOVER_LOCK_KEY, readTables } from "../state/index.js";
import type { VerifyReport } from "../verify/index.js";
import type { StepsFailed } from "./steps.js";

/** Takes the cutover lock (see state/cutover-lock.ts) for as long as `control` lives. */
export async function lockMigration(control: pg.ClientBase): Promise<void> {
  const { rows } = await control.query<{ ok: boolean }>("select pg_try_advisory_lock(hashtext($1)) as ok", [
    CUTOVER_LOCK_KEY,
  ]);
  if (!rows[0]?.ok) {
    throw new PgferryError(
      "CUTOVER_RUNNING",
      "Another pgferry cutover or rollback is running on this migration.",
      {
        side: "target",
      },
    );
  }
}

/** The replicated tables, as the control schema lists them. */
export async function replicatedTables(control: pg.ClientBase): Promise<{ schema: string; name: string }[]> {
  return (await readTables(control)).map((t) => ({ schema: t.schema, name: t.name }));
}

export function describeVerifyFailure(report: VerifyReport): string {
  const bad = report.tables.filter((t) => !t.identical);
  const parts = bad.slice(0, 5).map((t) => {
    const first = t.differences
      .slice(0, 3)
      .map((d) => ("key" in d ? `${d.kind} ${JSON.stringify(d.key)}` : d.kind))
      .join(", ");
    return `${t.name} (source ${t.sourceRows} rows, target ${t.targetRows}${first ? `; ${first}` : ""})`;
  });
  return `The final check found differences in ${bad.length} table(s): ${parts.join("; ")}.`;
}

/** A step's error as a PgferryError: the user's code named as theirs, the rest by db/'s one rule. */
function asPgferryError(err: unknown, step: string): PgferryError {
  if (isPgferryError(err)) return err;
  const theirs = userCodeError(err, `step ${step}`);
  if (theirs) return theirs;
  const schema = step === "constraints-and-triggers" || step === "materialized-views";
  return fromDriverError(err, {
    side: schema ? "target" : undefined,
    otherwise: schema ? "SCHEMA_APPLY_FAILED" : "INTERNAL",
  });
}

/**
 * The error a failed cutover or rollback reports: the step's own error, saying where it
 * stopped and how it was left. When an undo failed, the message says what is left to do.
 * `finishing`: the run was finishing one whose switch command had started (nothing undone).
 */
export function failureToError(
  f: StepsFailed,
  operation: "cutover" | "rollback",
  finishing = false,
): PgferryError {
  const e = asPgferryError(f.error, f.failedStep);
  const live = operation === "cutover" ? "source" : "target";
  let state: string;
  if (f.afterSwitch || finishing) {
    const ran = f.afterSwitch && f.failedStep !== "switch" ? "had run" : "may have run";
    state = `The switch command ${ran}: the application may use the ${operation === "cutover" ? "target" : "source"}. Run \`pgferry ${operation}\` again to finish it.`;
  } else if (f.undoFailures.length === 0) {
    state =
      operation === "cutover"
        ? `The source is writable and the migration streams again (run \`pgferry start\` again if it stopped).`
        : `The target is writable again and still the live database.`;
  } else {
    const steps = f.undoFailures.map(
      (u) => `${u.step} (${redact((u.error as Error)?.message ?? String(u.error))})`,
    );
    state = `Could not undo: ${steps.join("; ")}. The ${live} may still refuse writes: run \`pgferry rollback\` to lower the fence.`;
  }
  if (f.interrupted) {
    return new PgferryError("INTERRUPTED", `${operation} interrupted at step ${f.failedStep}. ${state}`, {
      side: "local",
      cause: f.error,
    });
  }
  return new PgferryError(e.code, `${operation} stopped at step ${f.failedStep}: ${e.message} ${state}`, {
    ...(e.side ? { side: e.side } : {}),
    hint: e.hint,
    cause: f.error,
  });
}
