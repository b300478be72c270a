import type pg from "pg";
import { type DropOptions, disableUserTriggers, enableUserTriggers } from "../capture/index.js";
import type { MigrationContext } from "../context.js";
import { withClient } from "../db/index.js";
import { moveMigration, recordEvent, setSwitchMark } from "../state/index.js";
import { catchUp, installReverseCapture, removeReverseCapture, syncSequences } from "../stream/index.js";
import { replicatedTables } from "./common.js";
import { drainWriters, type Fence, raiseFence } from "./fence.js";
import { syncLargeObjects } from "./large-objects.js";
import { buildCutoverObjects, refreshMatviews, undoCutoverObjects } from "./post-data.js";
import type { MigrationState } from "./preflight.js";
import { fenceStep, quickVerifyStep, switchStep } from "./shared-steps.js";
import { inParallel, type Step, type StepLog } from "./steps.js";

export interface CutoverOptions {
  /** Refuse to start when the target is further behind than this (seconds). Default 10. */
  maxLagSeconds?: number;
  /**
   * Run through the shell once the target is ready, with PGFERRY_APP_URL (and PGFERRY_TARGET_URL)
   * in its environment. This or `manualSwitch` is required.
   */
  switchCommand?: string;
  /** No switch command: the operator repoints the application by hand while writes are refused. */
  manualSwitch?: boolean;
  /** The URL the application is to use, handed to the switch command as PGFERRY_APP_URL (default: the target's). */
  appUrl?: string;
  /** Run every step that neither fences nor switches, estimate the write window, change nothing. */
  dryRun?: boolean;
  /** Capture on the target after the switch and stream back, so `pgferry rollback` loses nothing. */
  rollbackWindow?: boolean;
  /** Added to every sequence copied to the target. Default 0. */
  sequenceGap?: number;
  /** Longest wait for transactions that wrote before the fence (ms). Default 30 s. */
  drainTimeoutMs?: number;
  /** Longest run of the switch command (ms). Default 120 s. */
  switchTimeoutMs?: number;
  /** lock_timeout of each DDL step on the target (ms). Default 5 s. */
  lockTimeoutMs?: number;
  /** Run the independent target steps side by side (default true); false runs them in turn. */
  overlap?: boolean;
}

export interface CutoverResult {
  fenceRaisedAt: Date;
  switchedAt: Date;
  /** Writes were refused from the fence to the end of the switch: this long. */
  unavailableMs: number;
  steps: StepLog[];
  /** Changes applied after the fence went up (the last windows). */
  finalChanges: number;
  sequencesMoved: number;
  objectsBuilt: number;
  matviewsRefreshed: number;
  largeObjectsCopied: number;
  rollbackWindow: boolean;
  switchCommandRan: boolean;
  /** --manual-switch: the source refuses writes until the operator has repointed the application. */
  manualSwitch: boolean;
  foreignKeys: { validated: string[]; failed: { name: string; error: string }[] };
}

/** At most this many catch-up passes before the fence (each one leaves less for behind it). */
const PRE_CATCH_UP_PASSES = 3;

export const CUTOVER_DEFAULTS = {
  maxLagSeconds: 10,
  sequenceGap: 0,
  drainTimeoutMs: 30_000,
  switchTimeoutMs: 120_000,
  lockTimeoutMs: 5000,
};

/** One cutover run: its sessions, state and what the steps found. */
export interface CutoverRun {
  ctx: MigrationContext;
  o: typeof CUTOVER_DEFAULTS & CutoverOptions;
  control: pg.Client;
  source: pg.Client;
  state: MigrationState;
  drop: DropOptions;
  fence?: Fence;
  switchedAt?: Date;
  /** Finishing a cutover whose switch command may have run (no undo, no checks). */
  finishing: boolean;
  /** --app-url, parsed (its display masks the password). */
  appUrl?: { url: string; display: string } | undefined;
  result: Partial<CutoverResult>;
}

function fenceSteps(r: CutoverRun): Step[] {
  return [
    // Resuming with the fence already up: the window began when it first went up.
    fenceStep({
      name: "fence",
      control: r.control,
      client: r.source,
      side: "source",
      column: "fence_raised_at",
      earlier: r.state.fenceRaisedAt,
      resume: false,
      undoable: true,
      raised: (fence) => {
        r.fence = fence;
      },
    }),
    {
      name: "drain",
      run: async () => {
        await drainWriters(r.source, r.fence!, "source", {
          timeoutMs: r.o.drainTimeoutMs,
          signal: r.ctx.signal,
        });
      },
    },
  ];
}

/** Own sessions for a lane that runs beside others (a pg session runs one query at a time). */
function withSides<T>(r: CutoverRun, fn: (source: pg.Client, target: pg.Client) => Promise<T>): Promise<T> {
  return withClient(r.ctx.source, { stage: "cutover", statementTimeoutMs: 600_000 }, (source) =>
    withClient(r.ctx.target, { stage: "cutover" }, (target) => fn(source, target)),
  );
}

/** What the target needs before it takes writes; independent lanes, run side by side. */
function targetLanes(r: CutoverRun): Step[][] {
  const lanes: Step[][] = [
    [
      {
        name: "sequences",
        run: async () => {
          r.result.sequencesMoved = await syncSequences(r.ctx, { gap: r.o.sequenceGap });
        },
      },
    ],
    [
      {
        name: "constraints-and-triggers",
        run: async () => {
          r.result.objectsBuilt = await buildCutoverObjects(r.control, r.drop);
        },
        undo: () => undoCutoverObjects(r.control, r.drop),
      },
      {
        name: "materialized-views",
        run: async () => {
          r.result.matviewsRefreshed = await refreshMatviews(r.control, r.drop);
        },
      },
    ],
    [quickVerifyStep(r.ctx, "target")],
    [
      {
        name: "large-objects",
        run: async () => {
          const { copied } = await withSides(r, syncLargeObjects);
          r.result.largeObjectsCopied = (r.result.largeObjectsCopied ?? 0) + copied;
        },
      },
    ],
  ];
  if (r.o.rollbackWindow) {
    lanes.push([
      {
        name: "reverse-capture",
        run: async () => {
          await installReverseCapture(r.ctx);
          // The source's own triggers must not fire again on rows streamed back from the target.
          await withSides(r, async (source, target) =>
            disableUserTriggers(source, await replicatedTables(target), r.drop),
          );
        },
        undo: async () => {
          await enableUserTriggers(r.source, r.drop);
          await removeReverseCapture(r.control, r.source, r.drop);
        },
      },
    ]);
  }
  return lanes;
}

function targetSteps(r: CutoverRun): Step[] {
  return [
    {
      name: "catch-up",
      run: async () => {
        r.result.finalChanges = (await catchUp(r.ctx)).changes;
      },
    },
    ...(r.o.overlap === false
      ? targetLanes(r).flat()
      : [inParallel("ready-target", targetLanes(r), r.ctx.emit)]),
  ];
}

function switchSteps(r: CutoverRun): Step[] {
  return [
    switchStep({
      finishing: r.finishing,
      mark: () => setSwitchMark(r.control, "switch_started_at", true),
      markTakenBack: false,
      unmark: () => setSwitchMark(r.control, "switch_started_at", false),
      command: r.o.switchCommand,
      commandOptions: {
        to: r.ctx.target,
        appUrl: r.appUrl,
        direction: "forward",
        timeoutMs: r.o.switchTimeoutMs,
        emit: r.ctx.emit,
      },
      switched: (at) => {
        r.switchedAt = at;
      },
    }),
    {
      name: "record-switch",
      run: async () => {
        const ms = r.switchedAt!.getTime() - r.fence!.raisedAt.getTime();
        await moveMigration(
          r.control,
          { from: ["cutover"], to: "switched" },
          {
            switched_at: { value: r.switchedAt },
            unavailable_ms: { value: ms },
            switch_started_at: { value: null },
          },
        );
        await recordEvent(r.control, "info", "cutover", `Switched; writes were unavailable for ${ms} ms.`, {
          unavailableMs: ms,
        });
      },
    },
  ];
}

/**
 * A cutover that died after its switch command started: the application may use the target
 * already, so nothing is undone or checked against the source again; the fence stays (or goes)
 * up, the switch command runs again, the switch is recorded.
 */
export function finishSteps(r: CutoverRun): Step[] {
  return [
    {
      name: "fence",
      run: async () => {
        const fence = await raiseFence(r.source, "source");
        if (r.state.fenceRaisedAt) fence.raisedAt = r.state.fenceRaisedAt;
        r.fence = fence;
      },
    },
    ...switchSteps(r),
  ];
}

export function cutoverSteps(r: CutoverRun): Step[] {
  return [
    {
      name: "enter-cutover",
      run: async () => {
        // A stream still running in `pgferry start` sees this phase and stops after its window.
        await moveMigration(r.control, { from: ["streaming", "cutover"], to: "cutover" });
        await recordEvent(r.control, "info", "cutover", "Cutover started.");
      },
      undo: async () => {
        await moveMigration(r.control, { from: ["cutover"], to: "streaming", skip: ["streaming"] });
        await recordEvent(r.control, "warn", "cutover", "Cutover undone; the source is writable.");
      },
    },
    {
      // Most of the remaining lag and the large objects, before writes stop.
      name: "pre-catch-up",
      run: async () => {
        r.result.largeObjectsCopied = (await syncLargeObjects(r.source, r.control)).copied;
        // Writes go on meanwhile; passes shrink what is left for the catch-up behind the fence.
        for (let pass = 1; pass <= PRE_CATCH_UP_PASSES; pass++) {
          const started = Date.now();
          const { windows } = await catchUp(r.ctx);
          if (windows <= 2 || Date.now() - started < 150) break;
        }
      },
    },
    ...fenceSteps(r),
    ...targetSteps(r),
    ...switchSteps(r),
  ];
}
