import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { StatusReport } from "../../src/progress/status-model.js";
import { AppClient, switchCommandFor } from "../harness/app-client.js";
import { assertAllWritesIn, moreWrites, PASSWORD, pair, setup, traces } from "../harness/cutover-e2e.js";
import { pairLabel } from "../harness/pairs.js";
import { type PgferryProcess, spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner } from "../harness/servers.js";

// Issue 13, item 4: the operator's guide's runbook, walked command by command. The commands
// come from the guide itself (its `sh runbook` blocks), so a change there without this test
// breaks it.

const GUIDE = path.resolve(import.meta.dirname, "../../docs/operators-guide.md");

interface Command {
  line: string;
  args: string[];
  background: boolean;
}

/** The lines of every ```sh runbook block, in order, as pgferry argument lists. */
function runbookCommands(markdown: string): Command[] {
  const blocks = [...markdown.matchAll(/^```sh runbook\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  return blocks
    .flatMap((b) => b.split("\n"))
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l.length > 0)
    .map((line) => {
      const background = line.endsWith("&");
      const words = line.replace(/&$/, "").trim().split(/\s+/);
      expect(words.slice(0, 2), `a runbook line that is not a pgferry command: ${line}`).toEqual([
        "npx",
        "pgferry",
      ]);
      return { line, args: words.slice(2), background };
    });
}

describe(`the operator's guide's runbook, PostgreSQL ${pairLabel(pair)}`, () => {
  it("runs in order with an application writing: each command succeeds, nothing is lost", async () => {
    const commands = runbookCommands(readFileSync(GUIDE, "utf8"));
    // What the guide promises the runbook holds, in this order.
    expect(commands.map((c) => c.args.slice(0, c.args[0] === "cutover" ? 2 : 1).join(" "))).toEqual([
      "check",
      "start",
      "status",
      "verify",
      "cutover --dry-run",
      "cutover --switch-command",
      "cleanup",
    ]);
    const s = await setup();
    const dir = path.dirname(s.switchFile);
    // The guide's ./switch.sh: moves the test's application to $PGFERRY_APP_URL.
    const script = path.join(dir, "switch.sh");
    writeFileSync(script, `#!/bin/sh\n${switchCommandFor(s.switchFile, 30, "PGFERRY_APP_URL")}\n`);
    chmodSync(script, 0o755);
    const app = await AppClient.start({
      sourceUrl: s.source.url,
      targetUrl: s.target.url,
      switchFile: s.switchFile,
    });
    const background: PgferryProcess[] = [];
    try {
      for (const c of commands) {
        const p = spawnPgferry(c.args, s.env, { cwd: dir });
        if (c.background) {
          background.push(p);
          await waitFor(
            "every table streaming with a small lag (`pgferry status`)",
            async () => {
              const st = spawnPgferry(["status", "--json"], s.env, { cwd: dir });
              if ((await st.exited).code !== 0) return false;
              const r = JSON.parse(st.stdout.join("")) as StatusReport;
              return (
                r.phase === "streaming" &&
                r.tables.length === 2 &&
                r.tables.every((t) => t.phase === "streaming") &&
                r.lagSeconds !== null &&
                r.lagSeconds < 3
              );
            },
            { while: p, timeoutMs: 120_000, intervalMs: 500 },
          );
          await moreWrites(app, "source", 20);
          continue;
        }
        const { code } = await p.exited;
        const out = [...p.stdout, ...p.stderr].join("\n");
        expect(code, `${c.line}:\n${out}`).toBe(0);
        expect(out).not.toContain(PASSWORD);
        if (c.args[0] === "cutover" && c.args[1] !== "--dry-run") {
          expect(out).toContain("application moved to");
          await moreWrites(app, "target", 30);
        }
      }
      await app.stop();
      // `start` ends by itself once the cutover switched (no rollback window).
      for (const p of background)
        expect((await p.exited).code, [...p.stdout, ...p.stderr].join("\n")).toBe(0);
      expect(app.count("target")).toBeGreaterThan(0);
      // Every acknowledged write, from either side, is on the target; every source row too.
      await assertAllWritesIn(s.target, app.acks);
      // Customers the app updated on the target after the switch differ from the source's, by design.
      const movedOn = new Set(
        app.acks.filter((a) => a.db === "target" && a.op === "update").map((a) => String(a.id)),
      );
      for (const [table, changed] of [
        ["app.orders", new Set<string>()],
        ["app.customers", movedOn],
      ] as const) {
        const tgt = new Map(
          (
            await asOwner<{ id: string; r: string }>(
              s.target,
              `select id::text, t::text as r from ${table} t`,
            )
          ).map((x) => [x.id, x.r]),
        );
        const src = await asOwner<{ id: string; r: string }>(
          s.source,
          `select id::text, t::text as r from ${table} t`,
        );
        expect(src.filter((x) => tgt.get(x.id) !== x.r && !changed.has(x.id))).toEqual([]);
      }
      expect(await traces(s.source)).toEqual([]);
      expect(await traces(s.target)).toEqual([]);
      // The record, in ./pgferry.log where the runbook ran: every command's events, cleanup's
      // final report last, never a password.
      const logFile = path.join(dir, "pgferry.log");
      expect(existsSync(logFile)).toBe(true);
      const text = readFileSync(logFile, "utf8");
      expect(text).not.toContain(PASSWORD);
      const events = text
        .trim()
        .split("\n")
        .map(
          (l) =>
            JSON.parse(l) as { type: string; stage?: string; message?: string; data?: { report?: unknown } },
        );
      for (const cmd of ["start", "cutover", "cleanup"])
        expect(events.some((e) => e.message?.startsWith(`pgferry ${cmd} started`))).toBe(true);
      const final = events.find((e) => e.type === "stage:done" && e.stage === "cleanup")?.data?.report as
        | { phase: string; writeWindowMs: number; lostWrites: number; rows: number }
        | undefined;
      expect(final).toMatchObject({ phase: "switched", lostWrites: 0 });
      expect(final!.writeWindowMs).toBeGreaterThanOrEqual(0);
      expect(final!.rows).toBeGreaterThan(0);
    } finally {
      await app.stop();
      for (const p of background) if (p.child.exitCode === null) await p.kill9();
    }
  });
});
