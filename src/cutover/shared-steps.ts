import type pg from "pg";
import type { MigrationContext } from "../context.js";
import { PgferryError } from "../errors/index.js";
import { setMigrationTimes } from "../state/index.js";
import { quickVerify } from "../verify/index.js";
import { describeVerifyFailure } from "./common.js";
import { type Fence, fenceState, lowerFence, raiseFence } from "./fence.js";
import type { Step } from "./steps.js";
import { runSwitchCommand, type SwitchOptions } from "./switch-command.js";

/**
 * The steps a cutover and a rollback both take, each on its own side (the cutover fences the
 * source and switches to the target, the rollback the other way round): the fence, the quick
 * verify, the switch. Step names, events and order stay those of each operation's list.
 */

type Side = "source" | "target";

/**
 * The fence step: raises the fence on `client` and records when (`column`). The window of
 * refused writes began when the fence first went up: an earlier time (`earlier`) is kept when
 * the fence was up already, or always when `resume`. `before` runs first; with `undoable` the
 * step's undo lowers the fence and clears the time.
 */
export function fenceStep(f: {
  name: string;
  control: pg.ClientBase;
  client: pg.ClientBase;
  side: Side;
  column: "fence_raised_at" | "rollback_fence_raised_at";
  earlier: Date | null;
  resume: boolean;
  undoable: boolean;
  before?: () => Promise<void>;
  raised: (fence: Fence) => void;
}): Step {
  return {
    name: f.name,
    run: async () => {
      await f.before?.();
      const wasUp = (await fenceState(f.client)) === "up";
      const fence = await raiseFence(f.client, f.side);
      if ((wasUp || f.resume) && f.earlier) fence.raisedAt = f.earlier;
      f.raised(fence);
      await setMigrationTimes(f.control, { [f.column]: { value: fence.raisedAt } });
    },
    ...(f.undoable
      ? {
          undo: async () => {
            await lowerFence(f.client);
            await setMigrationTimes(f.control, { [f.column]: { value: null } });
          },
        }
      : {}),
  };
}

/** The quick verify before the switch; differences fail it with VERIFY_FAILED on `side` (the side switched to). */
export function quickVerifyStep(ctx: MigrationContext, side: Side): Step {
  return {
    name: "verify",
    run: async () => {
      const report = await quickVerify(ctx);
      if (!report.identical) {
        throw new PgferryError("VERIFY_FAILED", describeVerifyFailure(report), { side });
      }
    },
  };
}

/**
 * The switch step, the point of no return: marks the switch as started, durably, then runs
 * the user's switch command (if any). A command that failed did not move the application: the
 * mark is taken back and the run undone, unless this run finishes an earlier one or the mark
 * cannot be taken back; then the next run must finish it, and nothing is undone.
 * `markTakenBack`: whether a failure of the mark itself is taken back like a failed command
 * (the rollback's, whose mark is a transaction of its own) or fails the step as it is (the
 * cutover's).
 */
export function switchStep(p: {
  finishing: boolean;
  mark: () => Promise<void>;
  markTakenBack: boolean;
  unmark: () => Promise<void>;
  command: string | undefined;
  commandOptions: SwitchOptions;
  switched: (at: Date) => void;
}): Step {
  let markStays = false;
  return {
    name: "switch",
    pointOfNoReturn: true,
    // The mark could not be taken back: the next run must finish, so nothing is undone.
    failedPastReturn: () => markStays,
    run: async () => {
      // From here the application may move: an interrupted run is finished, never undone.
      if (!p.markTakenBack) await p.mark();
      try {
        if (p.markTakenBack) await p.mark();
        if (p.command) await runSwitchCommand(p.command, p.commandOptions);
      } catch (err) {
        markStays =
          p.finishing ||
          !(await p
            .unmark()
            .then(() => true)
            .catch(() => false));
        throw err;
      }
      p.switched(new Date());
    },
  };
}
