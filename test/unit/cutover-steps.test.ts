import { describe, expect, it } from "vitest";
import { inParallel, runSteps, type Step, StepsFailed } from "../../src/cutover/steps.js";
import type { PgferryEvent } from "../../src/progress/events.js";

/** A step that records what happened to it in `trail`, failing its run when told to. */
function step(
  name: string,
  trail: string[],
  opts: Partial<Step> & { fail?: boolean; failUndo?: boolean } = {},
): Step {
  const { fail, failUndo, ...rest } = opts;
  return {
    name,
    run: async () => {
      trail.push(`run ${name}`);
      if (fail) throw new Error(`${name} failed`);
    },
    undo: async () => {
      trail.push(`undo ${name}`);
      if (failUndo) throw new Error(`${name} undo failed`);
    },
    ...rest,
  };
}

function harness() {
  const events: PgferryEvent[] = [];
  const controller = new AbortController();
  return {
    events,
    controller,
    opts: { emit: (e: PgferryEvent) => events.push(e), signal: controller.signal },
  };
}

async function failure(p: Promise<unknown>): Promise<StepsFailed> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(StepsFailed);
  return err as StepsFailed;
}

describe("runSteps", () => {
  it("runs every step in order and logs each one's time", async () => {
    const trail: string[] = [];
    const h = harness();
    const log = await runSteps([step("a", trail), step("b", trail), step("c", trail)], h.opts);
    expect(trail).toEqual(["run a", "run b", "run c"]);
    expect(log.map((l) => l.name)).toEqual(["a", "b", "c"]);
    expect(h.events.filter((e) => e.type === "cutover:step").map((e) => `${e.step}:${e.state}`)).toEqual([
      "a:start",
      "a:done",
      "b:start",
      "b:done",
      "c:start",
      "c:done",
    ]);
  });

  it("undoes the steps already done, newest first, when one fails", async () => {
    const trail: string[] = [];
    const h = harness();
    const err = await failure(
      runSteps(
        [step("a", trail), step("b", trail), step("c", trail, { fail: true }), step("d", trail)],
        h.opts,
      ),
    );
    expect(trail).toEqual(["run a", "run b", "run c", "undo b", "undo a"]);
    expect(err.failedStep).toBe("c");
    expect(err.afterSwitch).toBe(false);
    expect(err.interrupted).toBe(false);
    expect(err.undoFailures).toEqual([]);
    expect((err.error as Error).message).toBe("c failed");
  });

  it("undoes the failing step too when its undo takes back a partial run", async () => {
    const trail: string[] = [];
    const h = harness();
    await failure(
      runSteps([step("a", trail), step("b", trail, { fail: true, undoesPartialRun: true })], h.opts),
    );
    expect(trail).toEqual(["run a", "run b", "undo b", "undo a"]);
  });

  it("undoes nothing once the point of no return has passed", async () => {
    const trail: string[] = [];
    const h = harness();
    const err = await failure(
      runSteps(
        [
          step("fence", trail),
          step("switch", trail, { pointOfNoReturn: true }),
          step("after", trail, { fail: true }),
        ],
        h.opts,
      ),
    );
    expect(trail).toEqual(["run fence", "run switch", "run after"]);
    expect(err.afterSwitch).toBe(true);
  });

  it("undoes nothing when the failing step may have passed the point of no return itself", async () => {
    const trail: string[] = [];
    const h = harness();
    const err = await failure(
      runSteps(
        [step("fence", trail), step("switch", trail, { fail: true, failedPastReturn: () => true })],
        h.opts,
      ),
    );
    expect(trail).toEqual(["run fence", "run switch"]);
    expect(err.afterSwitch).toBe(true);
  });

  it("goes on undoing past an undo that fails, and reports it", async () => {
    const trail: string[] = [];
    const h = harness();
    const err = await failure(
      runSteps(
        [step("a", trail), step("b", trail, { failUndo: true }), step("c", trail, { fail: true })],
        h.opts,
      ),
    );
    expect(trail).toEqual(["run a", "run b", "run c", "undo b", "undo a"]);
    expect(err.undoFailures.map((f) => f.step)).toEqual(["b"]);
    expect(
      h.events.some((e) => e.type === "log" && e.level === "error" && e.message.includes("could not undo b")),
    ).toBe(true);
  });

  it("stops between steps on an interrupt and undoes what it did", async () => {
    const trail: string[] = [];
    const h = harness();
    const stopAfterA = step("a", trail, {
      run: async () => {
        trail.push("run a");
        h.controller.abort();
      },
    });
    const err = await failure(runSteps([stopAfterA, step("b", trail)], h.opts));
    expect(trail).toEqual(["run a", "undo a"]);
    expect(err.interrupted).toBe(true);
    expect(err.failedStep).toBe("b");
  });

  it("ignores an interrupt after the point of no return: finishing is the only safe way", async () => {
    const trail: string[] = [];
    const h = harness();
    const sw = step("switch", trail, {
      pointOfNoReturn: true,
      run: async () => {
        trail.push("run switch");
        h.controller.abort();
      },
    });
    const log = await runSteps([step("fence", trail), sw, step("after", trail)], h.opts);
    expect(trail).toEqual(["run fence", "run switch", "run after"]);
    expect(log).toHaveLength(3);
  });
});

describe("inParallel", () => {
  it("runs each lane in order, the lanes side by side, as one step", async () => {
    const trail: string[] = [];
    const h = harness();
    let releaseA!: () => void;
    const aStarted = new Promise<void>((resolve) => {
      releaseA = resolve;
    });
    // Lane 2's first step waits for lane 1's first step to have started: only overlap lets it finish.
    const lane1 = [
      step("a1", trail, {
        run: async () => {
          trail.push("run a1");
          releaseA();
        },
      }),
      step("a2", trail),
    ];
    const lane2 = [
      step("b1", trail, {
        run: async () => {
          await aStarted;
          trail.push("run b1");
        },
      }),
    ];
    await runSteps([inParallel("both", [lane1, lane2], h.opts.emit)], h.opts);
    expect(trail.indexOf("run a1")).toBeLessThan(trail.indexOf("run a2"));
    expect(trail).toContain("run b1");
    const subDone = h.events.flatMap((e) =>
      e.type === "cutover:step" && e.state === "done" ? [e.step] : [],
    );
    expect(subDone).toEqual(expect.arrayContaining(["a1", "a2", "b1", "both"]));
  });

  it("takes back every completed sub-step when a lane fails, and the earlier steps too", async () => {
    const trail: string[] = [];
    const h = harness();
    const par = inParallel(
      "par",
      [[step("a1", trail), step("a2", trail, { fail: true })], [step("b1", trail)]],
      h.opts.emit,
    );
    const err = await failure(runSteps([step("before", trail), par], h.opts));
    expect(err.failedStep).toBe("par");
    // a2 failed: it is not undone; a1 and b1 completed and are; then the step before.
    expect(trail.filter((t) => t.startsWith("undo"))).toEqual(
      expect.arrayContaining(["undo a1", "undo b1", "undo before"]),
    );
    expect(trail).not.toContain("undo a2");
    expect(trail[trail.length - 1]).toBe("undo before");
  });
});
