import type pg from "pg";
import { redact } from "../errors/index.js";
import type { EventSink } from "../progress/events.js";

/**
 * One named step of a cutover or rollback. `undo` compensates it when a later step fails
 * (before the point of no return); steps are idempotent, so a run after a crash simply runs
 * them again.
 */
export interface Step {
  name: string;
  run(): Promise<void>;
  undo?(): Promise<void>;
  /** Once this step succeeded, a later failure no longer undoes anything (the switch happened). */
  pointOfNoReturn?: boolean;
  /** Its undo also takes back a partial run (it undoes whatever part of it completed). */
  undoesPartialRun?: boolean;
  /**
   * Asked when this step failed: true when it may have passed the point of no return anyway
   * (its switch command may have run), so nothing is undone and the next run finishes.
   */
  failedPastReturn?(): boolean;
}

export interface StepLog {
  name: string;
  ms: number;
}

/** Records the steps in pgferry.cutover_steps so status (and the next attempt) can see them. */
export class StepJournal {
  private attempt = 0;

  constructor(
    private readonly control: pg.ClientBase,
    private readonly operation: "cutover" | "rollback",
  ) {}

  async open(): Promise<void> {
    const { rows } = await this.control.query<{ n: number }>(
      "select coalesce(max(attempt), 0) + 1 as n from pgferry.cutover_steps where operation = $1",
      [this.operation],
    );
    this.attempt = rows[0]!.n;
  }

  async mark(
    step: string,
    state: "start" | "done" | "undo" | "undone" | "failed",
    ms?: number,
    error?: string,
  ) {
    // The journal is for people; losing a line must not fail the cutover.
    await this.control
      .query(
        state === "start"
          ? "insert into pgferry.cutover_steps (operation, attempt, step, state) values ($1, $2, $3, 'running')"
          : `update pgferry.cutover_steps set state = $4, finished_at = now(), ms = coalesce($5, ms), error = coalesce($6, error)
              where id = (select max(id) from pgferry.cutover_steps where operation = $1 and attempt = $2 and step = $3)`,
        state === "start"
          ? [this.operation, this.attempt, step]
          : [this.operation, this.attempt, step, state, ms ?? null, error ? redact(error) : null],
      )
      .catch(() => {});
  }
}

/** An error, plus what could not be undone after it. */
export class StepsFailed extends Error {
  constructor(
    readonly error: unknown,
    readonly failedStep: string,
    readonly undoFailures: { step: string; error: unknown }[],
    /** The failure came after the point of no return: nothing was undone. */
    readonly afterSwitch = false,
    /** Stopped by the signal (Ctrl-C), not by a failure of the step. */
    readonly interrupted = false,
  ) {
    super((error as Error)?.message ?? String(error));
  }
}

/**
 * Runs the steps in order. When one fails, the steps already done are undone in reverse
 * order (unless the point of no return was passed) and StepsFailed is thrown. The signal is
 * checked between steps until the point of no return; undo never stops for it.
 */
export async function runSteps(
  steps: readonly Step[],
  opts: { emit: EventSink; signal: AbortSignal; journal?: StepJournal },
): Promise<StepLog[]> {
  const done: Step[] = [];
  const log: StepLog[] = [];
  let committed = false;
  for (const step of steps) {
    const started = Date.now();
    try {
      // Past the switch, finishing is the only safe way: an interrupt no longer stops anything.
      if (!committed) opts.signal.throwIfAborted();
      opts.emit({ type: "cutover:step", step: step.name, state: "start" });
      await opts.journal?.mark(step.name, "start");
      await step.run();
    } catch (err) {
      await opts.journal?.mark(step.name, "failed", Date.now() - started, (err as Error)?.message);
      const undo = step.undoesPartialRun ? [...done, step] : done;
      const past = committed || step.failedPastReturn?.() === true;
      const undoFailures = past ? [] : await undoAll(undo, opts);
      throw new StepsFailed(err, step.name, undoFailures, past, opts.signal.aborted);
    }
    const ms = Date.now() - started;
    opts.emit({ type: "cutover:step", step: step.name, state: "done", ms });
    await opts.journal?.mark(step.name, "done", ms);
    log.push({ name: step.name, ms });
    done.push(step);
    if (step.pointOfNoReturn) committed = true;
  }
  return log;
}

async function undoAll(
  done: Step[],
  opts: { emit: EventSink; journal?: StepJournal },
): Promise<{ step: string; error: unknown }[]> {
  const failures: { step: string; error: unknown }[] = [];
  for (const step of [...done].reverse()) {
    if (!step.undo) continue;
    opts.emit({ type: "cutover:step", step: step.name, state: "undo" });
    try {
      await step.undo();
      // The journal's ms stays the run's time: the dry run's window estimate reads it.
      await opts.journal?.mark(step.name, "undone");
    } catch (error) {
      failures.push({ step: step.name, error });
      opts.emit({
        type: "log",
        level: "error",
        message: `could not undo ${step.name}: ${(error as Error)?.message ?? String(error)}`,
      });
    }
  }
  return failures;
}

/**
 * Lanes of steps run side by side (each lane in order), as one step: independent work inside
 * the fence window overlaps instead of adding up. Each sub-step is reported as it finishes.
 * Undo takes back every sub-step that completed, also after a partial run.
 */
export function inParallel(name: string, lanes: Step[][], emit: EventSink): Step {
  const completed: Step[] = [];
  const runLane = async (lane: Step[]) => {
    for (const step of lane) {
      const started = Date.now();
      emit({ type: "cutover:step", step: step.name, state: "start" });
      await step.run();
      completed.push(step);
      emit({ type: "cutover:step", step: step.name, state: "done", ms: Date.now() - started });
    }
  };
  return {
    name,
    undoesPartialRun: true,
    run: async () => {
      const results = await Promise.allSettled(lanes.map(runLane));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed) throw failed.reason;
    },
    undo: async () => {
      for (const step of [...completed].reverse()) {
        if (!step.undo) continue;
        emit({ type: "cutover:step", step: step.name, state: "undo" });
        await step.undo();
      }
      completed.length = 0;
    },
  };
}
