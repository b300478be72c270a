import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { ensureControlSchema, hasMigration } from "../state/index.js";
import { failureToError, lockMigration } from "./common.js";
import { type MigrationState, readState } from "./preflight.js";
import { runSteps, type Step, StepJournal, type StepLog, StepsFailed } from "./steps.js";

/**
 * What a cutover and a rollback both do around their own steps: the same opening on the
 * target and the source, and the same journaled run of the steps.
 */

type Operation = "cutover" | "rollback";

/**
 * On the control session: a migration must exist, the control schema is brought up to date,
 * and the cutover lock is taken (held as long as `control` lives); then the migration's state.
 */
export async function lockOperation(control: pg.Client): Promise<MigrationState> {
  if (!(await hasMigration(control))) {
    throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
  }
  await ensureControlSchema(control);
  await lockMigration(control);
  return readState(control);
}

/** The operation's session on the source (its fence, drain and switch). */
export function connectOperationSource(ctx: MigrationContext, operation: Operation): Promise<pg.Client> {
  return connect(ctx.source, {
    stage: operation,
    statementTimeoutMs: 60_000,
    lockTimeoutMs: 5000,
  });
}

/**
 * Runs the operation's steps, journaled in pgferry.cutover_steps under its name. A run that
 * finishes one whose switch command had started says so first; a failed run throws the
 * operation's error (failureToError).
 */
export async function runOperationSteps(
  ctx: MigrationContext,
  control: pg.Client,
  operation: Operation,
  finishing: boolean,
  steps: () => Step[],
): Promise<StepLog[]> {
  if (finishing) {
    ctx.emit({
      type: "log",
      level: "warn",
      message: `finishing a ${operation} whose switch command had started`,
    });
  }
  const journal = new StepJournal(control, operation);
  await journal.open();
  try {
    return await runSteps(steps(), {
      emit: ctx.emit,
      signal: ctx.signal,
      journal,
    });
  } catch (err) {
    throw err instanceof StepsFailed ? failureToError(err, operation, finishing) : err;
  }
}
