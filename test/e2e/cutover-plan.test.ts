import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AppClient, switchCommandFor } from "../harness/app-client.js";
import {
  assertAllWritesIn,
  cli,
  fenceIsUp,
  moreWrites,
  pair,
  setup,
  streaming,
} from "../harness/cutover-e2e.js";
import { pairLabel } from "../harness/pairs.js";
import { asOwner } from "../harness/servers.js";

/** Issue 13: nothing that can fail is left for after the fence; a rehearsal changes nothing. */
describe(`cutover switch plan and dry run, PostgreSQL ${pairLabel(pair)}`, () => {
  it("refuses without a switch plan or with a switch command that cannot run, before fencing; a dry run changes nothing; --app-url reaches the switch command", async () => {
    const s = await setup();
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    const state = async () =>
      (
        await asOwner<{ phase: string; fence: Date | null; switching: Date | null }>(
          s.target,
          "select phase, fence_raised_at as fence, switch_started_at as switching from pgferry.migration",
        )
      )[0]!;
    const journal = async () =>
      (
        await asOwner<{ n: number }>(
          s.target,
          "select count(*)::int as n from pgferry.cutover_steps where operation = 'cutover'",
        )
      )[0]!.n;
    const refusedWrites = () => app.failures.filter((f) => f.kind === "write");
    try {
      const start = await streaming(s);
      await moreWrites(app, "source", 20);
      const before = await state();
      expect(before.phase).toBe("streaming");

      // No switch plan: refused as bad usage, before anything is fenced.
      const none = await cli(s, ["cutover"]);
      expect(none.code, none.stdout + none.stderr).toBe(2);
      expect(none.stderr).toContain("NO_SWITCH_PLAN");
      await moreWrites(app, "source", 20);
      expect(refusedWrites()).toEqual([]);
      expect(await state()).toEqual(before);
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await journal()).toBe(0);

      // A switch command whose program does not exist: refused before the fence.
      const missing = path.join(path.dirname(s.switchFile), "no-such-dir", "switch-app.sh");
      const typo = await cli(s, ["cutover", "--switch-command", `${missing} --now`]);
      expect(typo.code, typo.stdout + typo.stderr).toBe(2);
      expect(typo.stderr).toContain("SWITCH_COMMAND_INVALID");
      expect(typo.stderr).toContain("switch-app.sh is not an executable file");
      const unknown = await cli(s, ["cutover", "--switch-command", "pgferry-no-such-program --app x"]);
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("neither a shell builtin nor on PATH");
      await moreWrites(app, "source", 20);
      expect(refusedWrites()).toEqual([]);
      expect(await state()).toEqual(before);
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await journal()).toBe(0);

      // The rehearsal: every step that neither fences nor switches, and an estimate.
      const marker = path.join(path.dirname(s.switchFile), "switch-ran");
      const dry = await cli(s, [
        "cutover",
        "--dry-run",
        "--switch-command",
        `printf ran > ${JSON.stringify(marker)}`,
      ]);
      expect(dry.code, dry.stdout + dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/Estimated write window: ~\d+ ms/);
      expect(dry.stdout).toContain("The cutover would: enter-cutover");
      expect(dry.stdout).toContain("no --app-url");
      for (const step of ["catch-up", "sequences", "constraints-and-triggers", "verify"]) {
        expect(dry.stdout).toContain(`✓ ${step} (`);
      }
      expect(existsSync(marker)).toBe(false);
      await moreWrites(app, "source", 20);
      expect(refusedWrites()).toEqual([]);
      expect(await state()).toEqual(before);
      expect(await fenceIsUp(s.source)).toBe(false);
      expect(await journal()).toBe(0);
      // The same as JSON: the plan and its estimate as data.
      const dryJson = await cli(s, ["cutover", "--dry-run", "--manual-switch", "--json"]);
      expect(dryJson.code, dryJson.stderr).toBe(0);
      const plan = JSON.parse(dryJson.stdout);
      expect(plan.dryRun).toBe(true);
      expect(plan.switchPlan.kind).toBe("manual");
      expect(plan.estimate.windowMs).toBeGreaterThanOrEqual(0);
      expect(plan.objectsToBuild).toBeGreaterThan(0);
      // Every step printed (on stderr with --json) is in the JSON, in order (issue 13).
      const printed = [...dryJson.stderr.matchAll(/^\s+✓ ([\w-]+) \(\d+ ms\)$/gm)].map((m) => m[1]);
      expect(printed.length).toBeGreaterThan(0);
      expect(plan.steps.map((x: { name: string }) => x.name)).toEqual(printed);
      expect(await state()).toEqual(before);

      // The real cutover: the switch command gets the application's URL, not pgferry's.
      const appUrl = new URL(s.target.url);
      appUrl.searchParams.set("application_name", "the-app");
      const done = await cli(s, [
        "cutover",
        "--app-url",
        appUrl.toString(),
        "--switch-command",
        switchCommandFor(s.switchFile, 30, "PGFERRY_APP_URL"),
      ]);
      expect(done.code, done.stdout + done.stderr).toBe(0);
      expect(done.stdout).not.toContain("no --app-url");
      expect(readFileSync(s.switchFile, "utf8")).toBe(appUrl.toString());
      await moreWrites(app, "target", 20);
      await app.stop();
      expect((await start.exited).code).toBe(0);
      expect((await state()).phase).toBe("switched");
      await assertAllWritesIn(s.target, app.acks);
      expect((await cli(s, ["cleanup"])).code).toBe(0);
    } finally {
      await app.stop();
    }
  });
});
