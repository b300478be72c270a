import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/progress/status-model.js";
import { AppClient, switchCommandFor } from "../harness/app-client.js";
import {
  arrives,
  assertAllWritesIn,
  assertOnlyFencedWrites,
  cli,
  fenceIsUp,
  migration,
  moreWrites,
  PASSWORD,
  pair,
  setup,
  streaming,
  streamingAgain,
  traces,
} from "../harness/cutover-e2e.js";
import { pairLabel } from "../harness/pairs.js";
import { spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, ownerSession } from "../harness/servers.js";

/** The steps a cutover or rollback printed as done ("  ✓ fence (12 ms)"), in order. */
function printedSteps(output: string): string[] {
  return [...output.matchAll(/^\s+✓ ([\w-]+) \(\d+ ms\)$/gm)].map((m) => m[1]!);
}

function jsonSteps(stdout: string): string[] {
  return (JSON.parse(stdout) as { steps: { name: string }[] }).steps.map((x) => x.name);
}

describe(`cutover end to end, PostgreSQL ${pairLabel(pair)}`, () => {
  it("an app keeps working through start, a failed and a real cutover, and cleanup; no write lost", async () => {
    const s = await setup();
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    try {
      const start = await streaming(s);

      const early = await cli(s, ["cutover", "--manual-switch", "--max-lag", "0"]);
      expect(early.code).toBe(1);
      expect(early.stderr).toContain("LAG_TOO_HIGH");

      // A switch command that fails: the fence goes down again, the app writes on, and the
      // migration can cut over later.
      const failedFrom = Date.now();
      const failed = await cli(s, [
        "cutover",
        "--switch-command",
        'echo "cannot reach $PGFERRY_TARGET_DISPLAY" >&2; exit 3',
      ]);
      const failedTo = Date.now();
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain("SWITCH_FAILED");
      expect(failed.stderr).toContain("exited with status 3");
      expect(failed.stdout).toContain("undo fence");
      expect(await fenceIsUp(s.source)).toBe(false);
      expect((await migration(s.target)).phase).toBe("streaming");
      // The same start waited through the cutover and streams again: a write made on the
      // source after the abort reaches the target.
      await streamingAgain(s, start, failedTo);
      await arrives(s.source, s.target, "after the aborted cutover", start);
      await moreWrites(app, "source", 20);
      expect(start.stdout.join("\n")).toContain("A cutover is running: waiting for it");
      expect(start.stdout.join("\n")).toContain("The cutover was aborted: streaming again.");

      const done = await cli(s, ["cutover", "--switch-command", switchCommandFor(s.switchFile)]);
      expect(done.stderr).toBe("");
      expect(done.code).toBe(0);
      const measured = /unavailable for (\d+) ms/.exec(done.stdout);
      expect(measured, done.stdout).toBeTruthy();
      expect(done.stdout).toContain("application moved to");
      // No --app-url: the switch command got pgferry's own credential, and the operator is told.
      expect(done.stdout).toContain("no --app-url");
      await moreWrites(app, "target", 40);
      await app.stop();
      // No rollback window: start ends by itself once the switch is recorded.
      expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
      expect(start.stdout.join("\n")).toContain("without a rollback window: nothing left to stream");

      const m = await migration(s.target);
      expect(m.phase).toBe("switched");
      expect(Number(m.unavailable_ms)).toBe(Number(measured![1]));
      console.log(`write-unavailability window: ${m.unavailable_ms} ms`);

      // No acknowledged write lost, from either side; the target holds them all.
      expect(app.count("source")).toBeGreaterThan(0);
      expect(app.count("target")).toBeGreaterThan(0);
      await assertAllWritesIn(s.target, app.acks);
      // Writes failed only behind a fence, reads never.
      assertOnlyFencedWrites(app.failures, [
        [failedFrom, failedTo],
        [m.fence_raised_at.getTime(), m.switched_at.getTime()],
      ]);
      expect(app.failures.some((f) => f.at >= m.fence_raised_at.getTime())).toBe(true);
      expect(app.reads).toBeGreaterThan(0);
      // Fresh keys on the target: every id it handed out is past every id of the source.
      const maxSource = Math.max(
        ...app.acks.filter((a) => a.db === "source" && a.op === "insert").map((a) => a.id),
      );
      const minTarget = Math.min(
        ...app.acks.filter((a) => a.db === "target" && a.op === "insert").map((a) => a.id),
      );
      expect(minTarget).toBeGreaterThan(maxSource);
      // Every source row is on the target as it is on the source.
      const src = await asOwner<{ r: string }>(s.source, "select t::text as r from app.orders t");
      const tgt = new Set(
        (await asOwner<{ r: string }>(s.target, "select t::text as r from app.orders t")).map((x) => x.r),
      );
      expect(src.filter((x) => !tgt.has(x.r))).toEqual([]);
      // What the cutover built: the foreign key (validated), the user trigger, the matview, the large object.
      expect(
        await asOwner(
          s.target,
          `select (select convalidated from pg_constraint where conname = 'orders_customer_id_fkey') as fk,
                  (select count(*)::int from pg_trigger where tgname = 'customers_touch') as trigger,
                  (select ispopulated from pg_matviews where matviewname = 'order_totals') as matview,
                  convert_from(lo_get(424242), 'UTF8') as lo`,
        ),
      ).toEqual([{ fk: true, trigger: 1, matview: true, lo: "a large object" }]);
      // The source refuses writes; cutting over again is refused.
      const late = await asOwner(s.source, "insert into app.customers (name) values ('late')").catch(
        (e) => e,
      );
      expect(late.code).toBe("25006");
      const again = await cli(s, ["cutover", "--manual-switch"]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain("ALREADY_SWITCHED");

      const cleaned = await cli(s, ["cleanup"]);
      expect(cleaned.code).toBe(0);
      expect(await traces(s.source)).toEqual([]);
      expect(await traces(s.target)).toEqual([]);
    } finally {
      await app.stop();
    }
  });

  it("rollback window: every write made on the target after the cutover is on the source after rollback", async () => {
    const s = await setup();
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    try {
      let start = await streaming(s);
      await moreWrites(app, "source", 20);
      const opsLog = path.join(path.dirname(s.switchFile), "ops.log");
      const done = await cli(s, [
        "cutover",
        "--rollback-window",
        "--switch-command",
        switchCommandFor(s.switchFile),
        "--json",
        "--log-file",
        opsLog,
      ]);
      expect(done.code, done.stderr).toBe(0);
      // Issue 13: --json lists every step the command printed, the sub-steps of ready-target too.
      expect(printedSteps(done.stderr)).toEqual(jsonSteps(done.stdout));
      expect(jsonSteps(done.stdout)).toEqual(
        expect.arrayContaining(["sequences", "reverse-capture", "ready-target"]),
      );
      // The same start now streams the target's writes back to the source, with no rollback run.
      await arrives(s.target, s.source, "written on the target", start);
      await moreWrites(app, "target", 30);
      const lastOrder = app.acks.filter((a) => a.db === "target" && a.op === "insert").at(-1)!;
      await waitFor(
        "the app's target writes on the source",
        async () =>
          (await asOwner(s.source, "select 1 from app.orders where token = $1", [lastOrder.value])).length ===
          1,
        { timeoutMs: 60_000, intervalMs: 100, while: start },
      );
      expect(start.stdout.join("\n")).toContain("streaming the target's writes back to the source");
      // Issue 13: the reverse stream is named as such; nothing reads as if a rollback happened.
      expect(start.stdout.join("\n")).toContain("reverse-stream: started");
      expect(start.stdout.join("\n")).not.toMatch(/^rollback: (started|done)/m);
      // Status in the window shows the reverse stream, not a forward lag that only grows.
      const window = JSON.parse((await cli(s, ["status", "--json"])).stdout) as StatusReport;
      expect(window.phase).toBe("switched");
      expect(window.reverse).toMatchObject({ endsWith: expect.stringContaining("pgferry rollback") });
      expect(window.reverse!.changesApplied).toBeGreaterThan(0);
      expect(window.lagSeconds).toBe(window.reverse!.lagSeconds);
      expect(window.tables.map((t) => t.phase)).toEqual(["switched", "switched"]);
      const plain = (await cli(s, ["status"])).stdout;
      expect(plain).toContain("rollback window open until");
      expect(plain).toContain("reverse stream lag");
      expect(plain).not.toMatch(/· lag /);
      // Verify in the window compares the other way (the target leads) and waits for the
      // reverse stream: the app writing on the target is no difference.
      const during = await cli(s, ["verify", "--json"]);
      expect(during.code, during.stdout + during.stderr).toBe(0);
      expect(JSON.parse(during.stdout)).toMatchObject({ identical: true, direction: "target-to-source" });
      // Stopped (Ctrl-C) and started again within the rollback window, it streams back again.
      start.child.kill("SIGINT");
      expect((await start.exited).code).toBe(0);
      start = spawnPgferry(["start"], s.env);
      await arrives(s.target, s.source, "written after a restart", start);
      await moreWrites(app, "target", 30);
      // The source's own trigger is off while rows stream back to it.
      const disabled = await asOwner(
        s.source,
        "select tgenabled from pg_trigger where tgname = 'customers_touch'",
      );
      expect(disabled).toEqual([{ tgenabled: "D" }]);

      const back = await cli(s, [
        "rollback",
        "--switch-command",
        switchCommandFor(s.switchFile),
        "--json",
        "--log-file",
        opsLog,
      ]);
      expect(back.code, back.stderr).toBe(0);
      const rolled = JSON.parse(back.stdout) as { kind: string; changesBack: number };
      expect(rolled.kind).toBe("rolled-back");
      expect(printedSteps(back.stderr)).toEqual(jsonSteps(back.stdout));
      // Every write the app made on the target came back, and is counted (one change each, at least).
      expect(rolled.changesBack).toBeGreaterThanOrEqual(app.count("target"));
      // Both commands' events in the log file given, stamped, without a password.
      const logged = readFileSync(opsLog, "utf8");
      expect(logged).not.toContain(PASSWORD);
      const kinds = logged
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { type: string; at: string; step?: string; message?: string });
      expect(kinds.every((e) => !Number.isNaN(Date.parse(e.at)))).toBe(true);
      expect(kinds.filter((e) => e.message?.match(/^pgferry (cutover|rollback) started/)).length).toBe(2);
      expect(kinds.some((e) => e.type === "cutover:step" && e.step === "catch-up-back")).toBe(true);
      // The reverse stream ends with the rollback window; start cannot go on after it.
      expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
      expect(start.stdout.join("\n")).toContain("The migration was rolled back");
      const refused = await cli(s, ["start"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("MIGRATION_ENDED");
      const afterBack = app.count("source");
      await moreWrites(app, "source", 20);
      await app.stop();

      const m = await migration(s.target);
      expect(m.phase).toBe("rolled-back");
      const [event] = await asOwner<{ details: { fenceRaisedAt: string; switchedAt: string } }>(
        s.target,
        "select details from pgferry.events where kind = 'rollback' order by id desc limit 1",
      );
      expect(app.count("target")).toBeGreaterThan(0);
      expect(app.count("source")).toBeGreaterThan(afterBack);
      await assertAllWritesIn(s.source, app.acks);
      assertOnlyFencedWrites(app.failures, [
        [m.fence_raised_at.getTime(), m.switched_at.getTime()],
        [Date.parse(event!.details.fenceRaisedAt), Date.parse(event!.details.switchedAt)],
      ]);
      expect(
        await asOwner(s.source, "select tgenabled from pg_trigger where tgname = 'customers_touch'"),
      ).toEqual([{ tgenabled: "O" }]);
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await fenceIsUp(s.target)).toBe(true);

      const cleaned = await cli(s, ["cleanup"]);
      expect(cleaned.code).toBe(0);
      expect(await traces(s.source)).toEqual([]);
      expect(await traces(s.target)).toEqual([]);
    } finally {
      await app.stop();
    }
  });

  it("an interrupted cutover is undone by rollback before its switch, and finished by cutover after", async () => {
    const s = await setup();
    const journal = async () =>
      (
        await asOwner<{ step: string; state: string }>(
          s.target,
          "select step, state from pgferry.cutover_steps order by id desc limit 1",
        ).catch(() => [])
      )[0];
    const start = await streaming(s);
    // An application transaction that wrote before the fence keeps the drain waiting.
    const app = await ownerSession(s.source);
    await app.query("begin");
    await app.query("update app.customers set balance = balance + 1 where id = 1");
    const first = spawnPgferry(["cutover", "--manual-switch", "--drain-timeout", "60"], s.env);
    await waitFor("the drain", async () => (await journal())?.step === "drain", {
      while: first,
      timeoutMs: 60_000,
    });
    await first.kill9();
    await app.query("commit");
    expect(await fenceIsUp(s.source)).toBe(true);
    expect((await migration(s.target)).phase).toBe("cutover");

    // start waits through the cutover, and says when no cutover holds it any more.
    await waitFor("start to see the interrupted cutover", () =>
      start.stdout.some((l) => l.includes("The cutover was interrupted")),
    );
    const undoneAt = Date.now();
    const undone = await cli(s, ["rollback"]);
    expect(undone.code, undone.stderr).toBe(0);
    expect(undone.stdout).toContain("interrupted cutover was undone");
    expect(await fenceIsUp(s.source)).toBe(false);
    expect((await migration(s.target)).phase).toBe("streaming");
    await app.query("update app.customers set balance = balance + 1 where id = 1");

    await streamingAgain(s, start, undoneAt);
    const second = spawnPgferry(["cutover", "--switch-command", "sleep 3"], s.env);
    await waitFor("the switch", async () => (await journal())?.step === "switch", {
      while: second,
      timeoutMs: 60_000,
    });
    await second.kill9();
    expect((await migration(s.target)).phase).toBe("cutover");
    // The application may have moved already: rollback refuses to undo, cutover finishes.
    const refused = await cli(s, ["rollback"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("ALREADY_SWITCHED");
    const finished = await cli(s, ["cutover", "--switch-command", "true"]);
    expect(finished.code, finished.stderr).toBe(0);
    expect((await migration(s.target)).phase).toBe("switched");
    expect(await fenceIsUp(s.source)).toBe(true);
    await app.end();
    expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
    // Every write the source acknowledged is on the target.
    expect(await asOwner(s.target, "select balance::int from app.customers where id = 1")).toEqual([
      { balance: 2 },
    ]);
    expect((await cli(s, ["cleanup"])).code).toBe(0);
  });
});
