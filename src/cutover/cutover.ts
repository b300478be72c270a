import type pg from "pg";
import type { DropOptions } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import {
  CUTOVER_DEFAULTS,
  type CutoverOptions,
  type CutoverResult,
  type CutoverRun,
  cutoverSteps,
  finishSteps,
} from "./cutover-steps.js";
import { type CutoverDryRunResult, dryRunCutover } from "./dry-run.js";
import { connectOperationSource, lockOperation, runOperationSteps } from "./operation.js";
import { validateForeignKeys } from "./post-data.js";
import {
  assertNoNewTables,
  assertOwnSource,
  assertReadyForCutover,
  type MigrationState,
} from "./preflight.js";
import type { StepLog } from "./steps.js";
import { prepareSwitch } from "./switch-plan.js";

export type { CutoverOptions, CutoverResult } from "./cutover-steps.js";
export type { CutoverDryRunResult } from "./dry-run.js";

async function openCutover(
  ctx: MigrationContext,
  o: CutoverRun["o"],
): Promise<{ control: pg.Client; source?: pg.Client; state?: MigrationState; error?: unknown }> {
  const control = await connect(ctx.target, { stage: "cutover" });
  try {
    const state = await lockOperation(control);
    const source = await connectOperationSource(ctx, "cutover");
    try {
      await assertOwnSource(source, ctx.source, state);
      if (!(state.phase === "cutover" && state.switchStartedAt)) {
        const { resuming } = await assertReadyForCutover(control, state, o.maxLagSeconds);
        // A resumed cutover's fence may be up already: it was checked before that run fenced.
        if (!resuming) await assertNoNewTables(control, source);
      }
      return { control, source, state };
    } catch (err) {
      return { control, source, error: err };
    }
  } catch (err) {
    return { control, error: err };
  }
}

function resultOf(r: CutoverRun, steps: StepLog[], foreignKeys: CutoverResult["foreignKeys"]): CutoverResult {
  return {
    fenceRaisedAt: r.fence!.raisedAt,
    switchedAt: r.switchedAt!,
    unavailableMs: r.switchedAt!.getTime() - r.fence!.raisedAt.getTime(),
    steps,
    finalChanges: r.result.finalChanges ?? 0,
    sequencesMoved: r.result.sequencesMoved ?? 0,
    objectsBuilt: r.result.objectsBuilt ?? 0,
    matviewsRefreshed: r.result.matviewsRefreshed ?? 0,
    largeObjectsCopied: r.result.largeObjectsCopied ?? 0,
    rollbackWindow: Boolean(r.o.rollbackWindow || r.state.rollbackWindow),
    switchCommandRan: Boolean(r.o.switchCommand),
    manualSwitch: !r.o.switchCommand,
    foreignKeys,
  };
}

/**
 * `pgferry cutover` as a library call: named steps with compensations. Any failure before
 * the switch undoes what was done (the fence is lowered, objects that would hinder streaming
 * are dropped, the phase goes back to 'streaming') and throws; a run after a crash resumes.
 */
export async function cutover(
  ctx: MigrationContext,
  opts: CutoverOptions & { dryRun: true },
): Promise<CutoverDryRunResult>;
export async function cutover(ctx: MigrationContext, opts?: CutoverOptions): Promise<CutoverResult>;
export async function cutover(
  ctx: MigrationContext,
  opts: CutoverOptions = {},
): Promise<CutoverResult | CutoverDryRunResult> {
  const o = { ...CUTOVER_DEFAULTS, ...opts };
  // Before any connection: a cutover that could not move the application must not fence it.
  const appUrl = prepareSwitch(o, { operation: "cutover", to: ctx.target, emit: ctx.emit });
  ctx.emit({ type: "stage:start", stage: "cutover" });
  const { control, source, state, error } = await openCutover(ctx, o);
  try {
    if (error !== undefined || !source || !state) throw error;
    if (o.dryRun) {
      if (state.phase !== "streaming") {
        throw new PgferryError(
          "NOT_STREAMING",
          `A dry run rehearses a cutover from a streaming migration; this one is in phase ${state.phase} (an interrupted cutover).`,
          {
            side: "target",
            hint: "Run `pgferry cutover` to finish the interrupted cutover, or `pgferry rollback` to undo it.",
          },
        );
      }
      const drop: DropOptions = { lockTimeoutMs: o.lockTimeoutMs, attempts: 1, emit: ctx.emit };
      return await dryRunCutover({
        ctx,
        o,
        control,
        source,
        state,
        drop,
        finishing: false,
        result: {},
        appUrl,
      });
    }
    const drop: DropOptions = {
      lockTimeoutMs: o.lockTimeoutMs,
      attempts: 6,
      emit: ctx.emit,
      signal: ctx.signal,
    };
    const finishing = state.phase === "cutover" && state.switchStartedAt !== null;
    const r: CutoverRun = { ctx, o, control, source, state, drop, finishing, result: {}, appUrl };
    const steps = await runOperationSteps(ctx, control, "cutover", finishing, () =>
      finishing ? finishSteps(r) : cutoverSteps(r),
    );
    const foreignKeys = await validateForeignKeys(control, { ...drop, signal: undefined });
    for (const f of foreignKeys.failed) {
      ctx.emit({ type: "log", level: "warn", message: `foreign key ${f.name} stays NOT VALID: ${f.error}` });
    }
    const result = resultOf(r, steps, foreignKeys);
    ctx.emit({
      type: "stage:done",
      stage: "cutover",
      message: `writes unavailable for ${result.unavailableMs} ms`,
    });
    return result;
  } finally {
    await Promise.all([control.end().catch(() => {}), source?.end().catch(() => {})]);
  }
}
