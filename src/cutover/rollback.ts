import type pg from "pg";
import { type DropOptions, disableUserTriggers, enableUserTriggers } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import { ensureControlSchema, hasMigration, recordEvent } from "../state/index.js";
import { catchUp, removeReverseCapture, syncSequences } from "../stream/index.js";
import { quickVerify } from "../verify/index.js";
import { describeVerifyFailure, failureToError, lockMigration } from "./common.js";
import { drainWriters, type Fence, lowerFence, raiseFence } from "./fence.js";
import { syncLargeObjects } from "./large-objects.js";
import { undoCutoverObjects } from "./post-data.js";
import { assertOwnSource, type MigrationState, readState } from "./preflight.js";
import { runSteps, type Step, StepJournal, type StepLog, StepsFailed } from "./steps.js";
import { runSwitchCommand } from "./switch-command.js";

export interface RollbackOptions {
  /** Run through the shell with the SOURCE's URL in PGFERRY_TARGET_URL (the database to use now). */
  switchCommand?: string;
  sequenceGap?: number;
  drainTimeoutMs?: number;
  switchTimeoutMs?: number;
  lockTimeoutMs?: number;
}

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

interface Run {
  ctx: MigrationContext;
  o: RollbackOptions;
  control: pg.Client;
  source: pg.Client;
  drop: DropOptions;
  fence?: Fence;
  switchedAt?: Date;
  changesBack: number;
}

function rollbackSteps(r: Run): Step[] {
  return [
    {
      name: "fence-target",
      run: async () => {
        r.fence = await raiseFence(r.control, "target");
      },
      undo: () => lowerFence(r.control),
    },
    {
      name: "drain-target",
      run: async () => {
        await drainWriters(r.control, r.fence!, "target", {
          timeoutMs: r.o.drainTimeoutMs ?? 30_000,
          signal: r.ctx.signal,
        });
      },
    },
    {
      name: "catch-up-back",
      run: async () => {
        r.changesBack = (await catchUp(r.ctx, { direction: "reverse" })).changes;
        await syncSequences(r.ctx, { direction: "reverse", gap: r.o.sequenceGap ?? 0 });
      },
    },
    {
      name: "verify",
      run: async () => {
        const report = await quickVerify(r.ctx);
        if (!report.identical) {
          throw new PgferryError("VERIFY_FAILED", describeVerifyFailure(report), { side: "source" });
        }
      },
    },
    {
      name: "large-objects",
      run: async () => {
        await syncLargeObjects(r.control, r.source);
      },
    },
    {
      name: "unfence-source",
      run: async () => {
        await enableUserTriggers(r.source, r.drop);
        await lowerFence(r.source);
      },
      undo: async () => {
        await raiseFence(r.source, "source");
        const { rows } = await r.control.query<{ schema: string; name: string }>(
          "select schema_name as schema, table_name as name from pgferry.tables",
        );
        await disableUserTriggers(r.source, rows, r.drop);
      },
    },
    {
      name: "switch",
      pointOfNoReturn: true,
      run: async () => {
        if (r.o.switchCommand) {
          await runSwitchCommand(r.o.switchCommand, {
            to: r.ctx.source,
            direction: "rollback",
            timeoutMs: r.o.switchTimeoutMs ?? 120_000,
            emit: r.ctx.emit,
          });
        }
        r.switchedAt = new Date();
      },
    },
    {
      name: "record-rollback",
      run: async () => {
        const ms = r.switchedAt!.getTime() - r.fence!.raisedAt.getTime();
        await r.control.query(
          "update pgferry.migration set phase = 'rolled-back', rolled_back_at = $1, updated_at = now()",
          [r.switchedAt],
        );
        await recordEvent(
          r.control,
          "info",
          "rollback",
          `Rolled back; writes were unavailable for ${ms} ms.`,
          {
            unavailableMs: ms,
            fenceRaisedAt: r.fence!.raisedAt.toISOString(),
            switchedAt: r.switchedAt!.toISOString(),
          },
        );
      },
    },
  ];
}

/** Undoes a cutover that stopped before the switch (a crash, a second Ctrl-C). */
async function undoInterruptedCutover(r: Run, state: MigrationState): Promise<RollbackResult> {
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
  await r.control.query(
    "update pgferry.migration set phase = 'streaming', fence_raised_at = null, updated_at = now() where phase = 'cutover'",
  );
  await recordEvent(r.control, "warn", "rollback", "Interrupted cutover undone; the source is writable.");
  return { kind: "cutover-undone" };
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
 * command with the source's URL. Run while a cutover is interrupted (phase 'cutover'), it
 * undoes that cutover instead.
 */
export async function rollback(ctx: MigrationContext, opts: RollbackOptions = {}): Promise<RollbackResult> {
  ctx.emit({ type: "stage:start", stage: "rollback" });
  const control = await connect(ctx.target, { stage: "rollback", lockTimeoutMs: opts.lockTimeoutMs ?? 5000 });
  let source: pg.Client | undefined;
  try {
    if (!(await hasMigration(control))) {
      throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
    }
    await ensureControlSchema(control);
    await lockMigration(control);
    const state = await readState(control);
    source = await connect(ctx.source, {
      stage: "rollback",
      statementTimeoutMs: 60_000,
      lockTimeoutMs: 5000,
    });
    await assertOwnSource(source, ctx.source, state);
    const drop: DropOptions = { lockTimeoutMs: opts.lockTimeoutMs ?? 5000, attempts: 6, emit: ctx.emit };
    const r: Run = { ctx, o: opts, control, source, drop, changesBack: 0 };
    if (state.phase === "cutover") return await undoInterruptedCutover(r, state);
    assertRollbackable(state);
    const journal = new StepJournal(control, "rollback");
    await journal.open();
    let steps: StepLog[];
    try {
      steps = await runSteps(rollbackSteps(r), { emit: ctx.emit, signal: ctx.signal, journal });
    } catch (err) {
      throw err instanceof StepsFailed ? failureToError(err, "rollback") : err;
    }
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
