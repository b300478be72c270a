import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { catchUp, planSequences } from "../stream/index.js";
import { quickVerify } from "../verify/index.js";
import type { CutoverRun } from "./cutover-steps.js";
import { cutoverObjectsPlan } from "./post-data.js";
import { inParallel, runSteps, type StepLog } from "./steps.js";

/** One part of the estimated write window, and where its figure comes from. */
export interface WindowPart {
  step: string;
  ms: number;
  /** measured: timed in this dry run; earlier-run: a step of an earlier real attempt; round-trips: latency × statements. */
  from: "measured" | "earlier-run" | "round-trips";
}

export interface CutoverDryRunResult {
  dryRun: true;
  steps: StepLog[];
  /** Changes the dry run's catch-up applied (what the stream would have applied anyway). */
  changesCaughtUp: number;
  sequencesToMove: number;
  objectsToBuild: number;
  objectKinds: Record<string, number>;
  matviewsToRefresh: number;
  /** The quick check, with writes still going on: a difference may be a change not yet applied. */
  verify: { identical: boolean; differing: string[]; ms: number };
  switchPlan: { kind: "command" | "manual"; appUrl: string };
  rollbackWindow: boolean;
  /** The steps the real cutover runs, in order. */
  wouldRun: string[];
  estimate: { windowMs: number; parts: WindowPart[]; notIncluded: string[] };
}

async function roundTripMs(client: pg.ClientBase): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = Date.now();
    await client.query("select 1");
    times.push(Date.now() - t);
  }
  return times.sort((a, b) => a - b)[1]!;
}

/** The latest successful timing of each step of an earlier real cutover attempt. */
async function earlierSteps(control: pg.ClientBase): Promise<Map<string, number>> {
  const { rows } = await control.query<{ step: string; ms: number }>(
    `select distinct on (step) step, ms from pgferry.cutover_steps
      where operation = 'cutover' and state = 'done' and ms is not null order by step, id desc`,
  );
  return new Map(rows.map((r) => [r.step, Number(r.ms)]));
}

function wouldRun(r: CutoverRun): string[] {
  return [
    "enter-cutover",
    "pre-catch-up",
    "fence",
    "drain",
    "catch-up",
    "sequences",
    "constraints-and-triggers",
    "materialized-views",
    "verify",
    "large-objects",
    ...(r.o.rollbackWindow ? ["reverse-capture"] : []),
    r.o.switchCommand ? "switch (runs the switch command)" : "switch (manual: you repoint the application)",
    "record-switch",
  ];
}

/**
 * `pgferry cutover --dry-run`: after the same preflight as the real run, the steps that neither
 * fence nor switch (catch-up, the sequence and constraint plans, a quick verify), timed; the
 * window estimate adds them to what fencing and building cost here. Nothing is journaled and
 * no phase changes: a running `start` streams on undisturbed.
 */
export async function dryRunCutover(r: CutoverRun): Promise<CutoverDryRunResult> {
  const ctx: MigrationContext = r.ctx;
  const out = {
    changes: 0,
    sequences: 0,
    plan: { objects: 0, matviews: 0, kinds: {} as Record<string, number> },
    verify: { identical: true, differing: [] as string[], ms: 0 },
  };
  const steps = await runSteps(
    [
      {
        name: "pre-catch-up",
        run: async () => {
          out.changes += (await catchUp(ctx)).changes;
        },
      },
      {
        // The catch-up behind the fence applies what came in since the last pass: this one.
        name: "catch-up",
        run: async () => {
          out.changes += (await catchUp(ctx)).changes;
        },
      },
      inParallel(
        "ready-target",
        [
          [
            {
              name: "sequences",
              run: async () => {
                out.sequences = await planSequences(ctx, r.o.sequenceGap);
              },
            },
          ],
          [
            {
              name: "constraints-and-triggers",
              run: async () => {
                out.plan = await cutoverObjectsPlan(r.control);
              },
            },
          ],
          [
            {
              name: "verify",
              run: async () => {
                const started = Date.now();
                const report = await quickVerify(ctx);
                out.verify = {
                  identical: report.identical,
                  differing: report.tables.filter((t) => !t.identical).map((t) => t.name),
                  ms: Date.now() - started,
                };
              },
            },
          ],
        ],
        ctx.emit,
      ),
    ],
    { emit: ctx.emit, signal: ctx.signal },
  );
  const ms = (name: string) => steps.find((s) => s.name === name)?.ms ?? 0;
  const earlier = await earlierSteps(r.control);
  const [sourceTrip, targetTrip] = [await roundTripMs(r.source), await roundTripMs(r.control)];
  const parts: WindowPart[] = [];
  const part = (step: string, measured: number, estimate: number, from: WindowPart["from"]) =>
    parts.push(
      earlier.has(step)
        ? { step, ms: earlier.get(step)!, from: "earlier-run" }
        : { step, ms: measured || estimate, from },
    );
  // Raising the fence: one transaction replacing the fence and capture functions.
  part("fence", 0, 4 * sourceTrip, "round-trips");
  part("drain", 0, sourceTrip, "round-trips");
  parts.push({ step: "catch-up", ms: ms("catch-up"), from: "measured" });
  // Building each object is a short transaction (lock, statement, mark done): ~4 round trips.
  const building = 4 * targetTrip * (out.plan.objects + out.plan.matviews);
  parts.push({
    step: "ready-target",
    ms: Math.max(ms("ready-target"), out.verify.ms, building),
    from: building > ms("ready-target") ? "round-trips" : "measured",
  });
  const notIncluded: string[] = [];
  if (r.o.switchCommand && earlier.has("switch")) {
    parts.push({ step: "switch", ms: earlier.get("switch")!, from: "earlier-run" });
  } else if (r.o.switchCommand) {
    notIncluded.push("the switch command's own run time (not run by a dry run)");
  } else {
    notIncluded.push("the time you take to repoint the application by hand (--manual-switch)");
  }
  notIncluded.push("transactions writing when the fence goes up (the drain waits for them)");
  if (out.plan.matviews > 0) notIncluded.push("refreshing materialized views (their queries' run time)");
  return {
    dryRun: true,
    steps,
    changesCaughtUp: out.changes,
    sequencesToMove: out.sequences,
    objectsToBuild: out.plan.objects,
    objectKinds: out.plan.kinds,
    matviewsToRefresh: out.plan.matviews,
    verify: out.verify,
    switchPlan: {
      kind: r.o.switchCommand ? "command" : "manual",
      appUrl: r.appUrl?.display ?? ctx.target.display,
    },
    rollbackWindow: Boolean(r.o.rollbackWindow),
    wouldRun: wouldRun(r),
    estimate: { windowMs: parts.reduce((a, p) => a + p.ms, 0), parts, notIncluded },
  };
}
