import type pg from "pg";
import { type DropOptions, enableUserTriggers } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect, DDL_LOCK_TIMEOUT_MS } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { moveMigration, recordEvent } from "../state/index.js";
import { removeReverseCapture } from "../stream/index.js";
import { lowerFence } from "./fence.js";
import { connectOperationSource, lockOperation, runOperationSteps } from "./operation.js";
import { undoCutoverObjects } from "./post-data.js";
import { assertOwnSource, type MigrationState } from "./preflight.js";
import {
  finishRollbackSteps,
  type RollbackOptions,
  type RollbackRun,
  rollbackSteps,
} from "./rollback-steps.js";
import type { StepLog } from "./steps.js";
import { prepareSwitch } from "./switch-plan.js";

export type { RollbackOptions } from "./rollback-steps.js";

export type RollbackResult =
  | {
      /** The application is back on the source, with every write made on the target. */
      kind: "rolled-back";
      fenceRaisedAt: Date;
      switchedAt: Date;
      unavailableMs: number;
      changesBack: number;
      steps: StepLog[];
    }
  /** An interrupted cutover (never switched) was undone: the source is writable, streaming resumes. */
  | { kind: "cutover-undone" };

/** Undoes a cutover that stopped before the switch (a crash, a second Ctrl-C). */
async function undoInterruptedCutover(r: RollbackRun, state: MigrationState): Promise<RollbackResult> {
  if (state.switchStartedAt) {
    throw new PgferryError(
      "ALREADY_SWITCHED",
      "The interrupted cutover had started its switch command: the application may already use the target.",
      {
        side: "target",
        hint: "Finish it with `pgferry cutover` (it re-runs the switch command and records the switch).",
      },
    );
  }
  await enableUserTriggers(r.source, r.drop);
  await lowerFence(r.source);
  await undoCutoverObjects(r.control, r.drop);
  if (state.rollbackWindow) await removeReverseCapture(r.control, r.source, r.drop);
  await moveMigration(
    r.control,
    { from: ["cutover"], to: "streaming", skip: ["streaming"] },
    { fence_raised_at: { value: null } },
  );
  await recordEvent(r.control, "warn", "rollback", "Interrupted cutover undone; the source is writable.");
  return { kind: "cutover-undone" };
}

/**
 * Every change brought back in the window, the reverse stream's and the rollback's catch-up's:
 * counted on the source in the transactions that applied them (a rerun counts them all too).
 */
async function changesBroughtBack(source: pg.ClientBase): Promise<number> {
  const has = await source.query<{ ok: boolean }>(
    "select to_regclass('pgferry.reverse_tables') is not null as ok",
  );
  if (!has.rows[0]?.ok) return 0;
  const { rows } = await source.query<{ n: string }>(
    "select coalesce(sum(changes_applied), 0)::text as n from pgferry.reverse_tables",
  );
  return Number(rows[0]!.n);
}

function assertRollbackable(state: MigrationState): void {
  if (state.phase === "rolled-back") {
    throw new PgferryError(
      "NOT_SWITCHED",
      "This migration was already rolled back: the source is the live database.",
      {
        side: "target",
      },
    );
  }
  if (state.phase !== "switched") {
    throw new PgferryError("NOT_SWITCHED", `The migration was not cut over (phase ${state.phase}).`, {
      side: "target",
    });
  }
  if (!state.rollbackWindow) {
    throw new PgferryError("NO_ROLLBACK_WINDOW", "The cutover ran without --rollback-window.", {
      side: "target",
    });
  }
}

/**
 * `pgferry rollback`: after a cutover with a rollback window, fences the target, drains it,
 * applies its last changes back to the source, unfences the source and runs the switch
 * command with the source's URL. A rollback that died after its switch started is finished,
 * never undone (the application may be on the source). Run while a cutover is interrupted
 * (phase 'cutover'), it undoes that cutover instead.
 */
export async function rollback(ctx: MigrationContext, opts: RollbackOptions = {}): Promise<RollbackResult> {
  // Before any connection: a switch command that cannot run must not fence the target.
  const appUrl = prepareSwitch(opts, {
    operation: "rollback",
    to: ctx.source,
    emit: ctx.emit,
    required: false,
  });
  ctx.emit({ type: "stage:start", stage: "rollback" });
  const control = await connect(ctx.target, { stage: "rollback", lockTimeoutMs: opts.lockTimeoutMs ?? 5000 });
  let source: pg.Client | undefined;
  try {
    const state = await lockOperation(control);
    source = await connectOperationSource(ctx, "rollback");
    await assertOwnSource(source, ctx.source, state);
    const drop: DropOptions = {
      lockTimeoutMs: opts.lockTimeoutMs ?? DDL_LOCK_TIMEOUT_MS,
      attempts: 6,
      emit: ctx.emit,
    };
    const finishing = state.phase === "switched" && state.rollbackSwitchStartedAt !== null;
    const r: RollbackRun = { ctx, o: opts, control, source, state, drop, finishing, changesBack: 0, appUrl };
    if (state.phase === "cutover") return await undoInterruptedCutover(r, state);
    assertRollbackable(state);
    const steps = await runOperationSteps(ctx, control, "rollback", finishing, () =>
      finishing ? finishRollbackSteps(r) : rollbackSteps(r),
    );
    r.changesBack = await changesBroughtBack(source);
    const unavailableMs = r.switchedAt!.getTime() - r.fence!.raisedAt.getTime();
    ctx.emit({
      type: "stage:done",
      stage: "rollback",
      message: `writes unavailable for ${unavailableMs} ms`,
    });
    return {
      kind: "rolled-back",
      fenceRaisedAt: r.fence!.raisedAt,
      switchedAt: r.switchedAt!,
      unavailableMs,
      changesBack: r.changesBack,
      steps,
    };
  } finally {
    await Promise.all([control.end().catch(() => {}), source?.end().catch(() => {})]);
  }
}
