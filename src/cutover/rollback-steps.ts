import type pg from "pg";
import { type DropOptions, disableUserTriggers, enableUserTriggers } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { moveMigration, recordEvent, setMigrationTimes, setSwitchMark } from "../state/index.js";
import { catchUp, syncSequences } from "../stream/index.js";
import { replicatedTables } from "./common.js";
import { drainWriters, type Fence, fenceState, lowerFence, raiseFence } from "./fence.js";
import { syncLargeObjects } from "./large-objects.js";
import type { MigrationState } from "./preflight.js";
import { fenceStep, quickVerifyStep, switchStep } from "./shared-steps.js";
import type { Step } from "./steps.js";

export interface RollbackOptions {
  /**
   * Run through the shell with the SOURCE's URL in PGFERRY_TARGET_URL (the database to use now)
   * and PGFERRY_APP_URL (`appUrl`, or the same URL).
   */
  switchCommand?: string;
  /** The source URL the application is to use, handed to the switch command as PGFERRY_APP_URL. */
  appUrl?: string;
  sequenceGap?: number;
  drainTimeoutMs?: number;
  switchTimeoutMs?: number;
  lockTimeoutMs?: number;
}

/** One rollback run: its sessions, the state it found and what the steps did. */
export interface RollbackRun {
  ctx: MigrationContext;
  o: RollbackOptions;
  control: pg.Client;
  source: pg.Client;
  state: MigrationState;
  drop: DropOptions;
  /** Finishing a rollback whose switch command may have run (no undo, nothing checked again). */
  finishing: boolean;
  fence?: Fence;
  switchedAt?: Date;
  /** Changes (captured target writes) applied back to the source over the whole window. */
  changesBack: number;
  /** --app-url, parsed (its display masks the password). */
  appUrl?: { url: string; display: string } | undefined;
}

/**
 * An earlier attempt lowered the source's fence but never started its switch: the application
 * is still on the target, so the source goes back to how the cutover left it (fenced, its user
 * triggers off) before anything else, and an undo of this run leaves one writable side only.
 */
async function refenceSource(r: RollbackRun): Promise<void> {
  if ((await fenceState(r.source)) !== "down") return;
  await raiseFence(r.source, "source");
  await disableUserTriggers(r.source, await replicatedTables(r.control), r.drop);
  await setMigrationTimes(r.control, { source_unfenced_at: { value: null } });
}

function fenceTarget(r: RollbackRun): Step {
  // Resuming with the fence up: the window began when an earlier attempt raised it.
  return fenceStep({
    name: "fence-target",
    control: r.control,
    client: r.control,
    side: "target",
    column: "rollback_fence_raised_at",
    earlier: r.state.rollbackFenceRaisedAt,
    resume: r.finishing,
    undoable: !r.finishing,
    before: async () => {
      if (!r.finishing) await refenceSource(r);
    },
    raised: (fence) => {
      r.fence = fence;
    },
  });
}

function unfenceSource(r: RollbackRun): Step {
  return {
    name: "unfence-source",
    run: async () => {
      await enableUserTriggers(r.source, r.drop);
      await lowerFence(r.source);
      await setMigrationTimes(r.control, { source_unfenced_at: "now" });
    },
    ...(r.finishing
      ? {}
      : {
          undo: async () => {
            await raiseFence(r.source, "source");
            await disableUserTriggers(r.source, await replicatedTables(r.control), r.drop);
            await setMigrationTimes(r.control, { source_unfenced_at: { value: null } });
          },
        }),
  };
}

/**
 * Marks the switch as started, durably, before the command runs. The source's reverse
 * positions stay locked meanwhile: a reverse round in flight commits first, and every later
 * one sees the mark and applies nothing (src/stream/reverse.ts).
 */
async function markSwitchStarted(r: RollbackRun): Promise<void> {
  await r.source.query("begin");
  try {
    await r.source.query("set local lock_timeout = '60s'");
    await r.source.query("select 1 from pgferry.reverse_tables for update");
    await setMigrationTimes(r.control, { rollback_switch_started_at: "now" });
    await r.source.query("commit");
  } catch (err) {
    await r.source.query("rollback").catch(() => {});
    throw err;
  }
}

function switchSteps(r: RollbackRun): Step[] {
  return [
    // A switch command that failed did not move the application: the rollback is undone.
    switchStep({
      finishing: r.finishing,
      mark: async () => {
        if (!r.finishing) await markSwitchStarted(r);
      },
      markTakenBack: true,
      unmark: () => setSwitchMark(r.control, "rollback_switch_started_at", false),
      command: r.o.switchCommand,
      commandOptions: {
        to: r.ctx.source,
        appUrl: r.appUrl,
        direction: "rollback",
        timeoutMs: r.o.switchTimeoutMs ?? 120_000,
        emit: r.ctx.emit,
      },
      switched: (at) => {
        r.switchedAt = at;
      },
    }),
    {
      name: "record-rollback",
      run: async () => {
        const ms = r.switchedAt!.getTime() - r.fence!.raisedAt.getTime();
        await moveMigration(
          r.control,
          { from: ["switched"], to: "rolled-back" },
          {
            rolled_back_at: { value: r.switchedAt },
            rollback_switch_started_at: { value: null },
            source_unfenced_at: { keepOr: r.switchedAt },
          },
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

export function rollbackSteps(r: RollbackRun): Step[] {
  return [
    fenceTarget(r),
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
        await catchUp(r.ctx, { direction: "reverse" });
        await syncSequences(r.ctx, { direction: "reverse", gap: r.o.sequenceGap ?? 0 });
      },
    },
    quickVerifyStep(r.ctx, "source"),
    {
      name: "large-objects",
      run: async () => {
        await syncLargeObjects(r.control, r.source);
      },
    },
    unfenceSource(r),
    ...switchSteps(r),
  ];
}

/**
 * A rollback that died after its switch started: the application may write on the source
 * already, so nothing is applied to the source or compared with it again. The target's fence
 * stays (or goes) up, the source stays (or goes) unfenced, the switch command runs again, the
 * rollback is recorded. The target was fenced and drained, and everything on it applied back,
 * before the mark, and its fence stayed up since: nothing is left to bring back.
 */
export function finishRollbackSteps(r: RollbackRun): Step[] {
  return [fenceTarget(r), unfenceSource(r), ...switchSteps(r)];
}
