import { existsSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FENCE_DOWN_SQL, FENCE_UP_SQL } from "../../src/capture/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import type { StatusReport } from "../../src/progress/status-model.js";
import { AppClient, switchCommandFor } from "../harness/app-client.js";
import {
  assertAllWritesIn,
  assertOnlyFencedWrites,
  cli,
  fenceIsUp,
  migration,
  moreWrites,
  pair,
  type Setup,
  setup,
  streaming,
} from "../harness/cutover-e2e.js";
import { pairLabel } from "../harness/pairs.js";
import { spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, ownerSession } from "../harness/servers.js";

/**
 * A switch command that moves the app (as switchCommandFor does), then says so in `started`
 * and blocks until the test creates `gate`: the test kills pgferry while it runs. It is in its
 * own process group, so it outlives pgferry until the gate opens.
 */
function blockingSwitch(switchFile: string, started: string, gate: string): string {
  return [
    switchCommandFor(switchFile),
    `touch ${JSON.stringify(started)}`,
    `while [ ! -e ${JSON.stringify(gate)} ]; do sleep 0.01; done`,
  ].join("\n");
}

async function lastRollbackStep(db: LocalDatabase): Promise<string | undefined> {
  const rows = await asOwner<{ step: string }>(
    db,
    "select step from pgferry.cutover_steps where operation = 'rollback' order by id desc limit 1",
  ).catch(() => []);
  return rows[0]?.step;
}

async function statusJson(s: Setup): Promise<StatusReport> {
  const out = await cli(s, ["status", "--json"]);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as StatusReport;
}

/** Rows of a table as text, by key. */
async function rowsOf(db: LocalDatabase, table: string): Promise<Map<string, string>> {
  const rows = await asOwner<{ id: string; r: string }>(db, `select id::text, t::text as r from ${table} t`);
  return new Map(rows.map((x) => [x.id, x.r]));
}

/**
 * Both sides in full: every row the target holds is on the source as it is on the target,
 * except rows the app (or the test: `changedOnSource`) changed on the source after switching
 * back; and the source has no row the target lacks but those inserted there since.
 */
async function assertSourceHasTarget(s: Setup, app: AppClient, changedOnSource: string[]): Promise<void> {
  // The target refused writes from the rollback's fence on: its last write came before the
  // first one on the source again.
  const lastOnTarget = Math.max(...app.acks.filter((a) => a.db === "target").map((a) => a.at));
  const backOnSource = app.acks.filter((a) => a.db === "source" && a.at > lastOnTarget);
  const newOrders = new Set(backOnSource.filter((a) => a.op === "insert").map((a) => String(a.id)));
  const touched = new Set([
    ...backOnSource.filter((a) => a.op === "update").map((a) => String(a.id)),
    ...changedOnSource,
  ]);
  for (const [table, changed] of [
    ["app.orders", new Set<string>()],
    ["app.customers", touched],
  ] as const) {
    const src = await rowsOf(s.source, table);
    const tgt = await rowsOf(s.target, table);
    const differ = [...tgt].filter(([id, r]) => src.get(id) !== r && !changed.has(id));
    expect(differ, `${table} rows of the target that the source lacks or has otherwise`).toEqual([]);
    const extra = [...src.keys()].filter(
      (id) => !tgt.has(id) && !(table === "app.orders" && newOrders.has(id)),
    );
    expect(extra, `${table} rows only on the source`).toEqual([]);
  }
}

describe(`rollback interrupted, PostgreSQL ${pairLabel(pair)}`, () => {
  it("killed during its switch command: a rerun finishes it, nothing written on either side is lost", async () => {
    const s = await setup();
    const started = `${s.switchFile}.started`;
    const gate = `${s.switchFile}.gate`;
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    try {
      const start = await streaming(s);
      await moreWrites(app, "source", 20);
      const cut = await cli(s, [
        "cutover",
        "--rollback-window",
        "--switch-command",
        switchCommandFor(s.switchFile),
      ]);
      expect(cut.code, cut.stderr).toBe(0);
      await moreWrites(app, "target", 30);

      const first = spawnPgferry(
        ["rollback", "--switch-command", blockingSwitch(s.switchFile, started, gate)],
        s.env,
      );
      await waitFor("the rollback's switch command to move the app", () => existsSync(started), {
        while: first,
        timeoutMs: 120_000,
        intervalMs: 20,
      });
      await first.kill9();
      writeFileSync(gate, "");
      expect((await migration(s.target)).phase).toBe("switched");
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await fenceIsUp(s.target)).toBe(true);

      // The app writes on the source now; so does a straggler on the target (its fence
      // lowered for it): that write must never be applied over the source's.
      const fromSource = app.count("source");
      await moreWrites(app, "source", 30);
      await asOwner(s.source, "update app.customers set name = 'written on the source' where id = 8");
      const straggler = await ownerSession(s.target);
      await straggler.query(`begin; ${FENCE_DOWN_SQL}`);
      await straggler.query("update app.customers set name = 'straggler on the target' where id = 8");
      await straggler.query(`${FENCE_UP_SQL}; commit`);
      await straggler.end();
      await waitFor("start to see the interrupted rollback", () =>
        start.stdout.some((l) => l.includes("The rollback was interrupted after its switch started")),
      );

      const status = await statusJson(s);
      expect(status.phase).toBe("switched");
      expect(status.fences).toEqual({ source: "down", target: "up" });
      expect(status.operation).toMatchObject({ name: "rollback", state: "interrupted", switchStarted: true });

      const again = await cli(s, ["rollback", "--switch-command", switchCommandFor(s.switchFile)]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      expect(again.stdout).toContain("Rolled back");
      expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
      expect(start.stdout.join("\n")).toContain("The migration was rolled back");
      await moreWrites(app, "source", 20);
      await app.stop();
      expect(app.count("source")).toBeGreaterThan(fromSource);

      const m = await asOwner<{ phase: string; rollback_fence_raised_at: Date; rolled_back_at: Date }>(
        s.target,
        "select phase, rollback_fence_raised_at, rolled_back_at, fence_raised_at, switched_at from pgferry.migration",
      );
      expect(m[0]!.phase).toBe("rolled-back");
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await fenceIsUp(s.target)).toBe(true);
      expect(
        await asOwner(s.source, "select tgenabled from pg_trigger where tgname = 'customers_touch'"),
      ).toEqual([{ tgenabled: "O" }]);
      expect(await asOwner(s.source, "select name from app.customers where id = 8")).toEqual([
        { name: "written on the source" },
      ]);
      await assertAllWritesIn(s.source, app.acks);
      await assertSourceHasTarget(s, app, ["8"]);
      const cutover = await migration(s.target);
      assertOnlyFencedWrites(app.failures, [
        [cutover.fence_raised_at.getTime(), cutover.switched_at.getTime()],
        [m[0]!.rollback_fence_raised_at.getTime(), m[0]!.rolled_back_at.getTime()],
      ]);
      expect((await cli(s, ["cleanup"])).code).toBe(0);
    } finally {
      writeFileSync(gate, "");
      await app.stop();
    }
  });

  it("killed while draining the target: status shows both sides fenced, a rerun completes", async () => {
    const s = await setup();
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    try {
      const start = await streaming(s);
      const cut = await cli(s, [
        "cutover",
        "--rollback-window",
        "--switch-command",
        switchCommandFor(s.switchFile),
      ]);
      expect(cut.code, cut.stderr).toBe(0);
      start.child.kill("SIGINT");
      expect((await start.exited).code).toBe(0);
      await moreWrites(app, "target", 30);
      // A transaction that wrote on the target before its fence keeps the drain waiting.
      const writer = await ownerSession(s.target);
      await writer.query("begin");
      await writer.query("update app.customers set balance = balance + 1 where id = 8");
      const first = spawnPgferry(
        ["rollback", "--drain-timeout", "120", "--switch-command", switchCommandFor(s.switchFile)],
        s.env,
      );
      await waitFor("the drain", async () => (await lastRollbackStep(s.target)) === "drain-target", {
        while: first,
        timeoutMs: 60_000,
      });
      await first.kill9();
      await writer.query("commit");
      await writer.end();

      const status = await statusJson(s);
      expect(status.phase).toBe("switched");
      expect(status.fences).toEqual({ source: "up", target: "up" });
      expect(status.operation).toMatchObject({
        name: "rollback",
        state: "interrupted",
        step: "drain-target",
        switchStarted: false,
      });
      const plain = await cli(s, ["status"]);
      expect(plain.stdout).toContain("fences: source up, target up (both fenced");
      expect(plain.stdout).toContain(
        "rollback interrupted at step drain-target: run `pgferry rollback` again",
      );

      const again = await cli(s, ["rollback", "--switch-command", switchCommandFor(s.switchFile)]);
      expect(again.code, again.stdout + again.stderr).toBe(0);
      await moreWrites(app, "source", 20);
      await app.stop();
      expect((await migration(s.target)).phase).toBe("rolled-back");
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await fenceIsUp(s.target)).toBe(true);
      expect((await statusJson(s)).operation).toBeUndefined();
      await assertAllWritesIn(s.source, app.acks);
      expect(await asOwner(s.source, "select balance::int from app.customers where id = 8")).toEqual([
        { balance: 1 },
      ]);
      await assertSourceHasTarget(s, app, []);
      expect((await cli(s, ["cleanup"])).code).toBe(0);
    } finally {
      await app.stop();
    }
  });
});
