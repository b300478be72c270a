import { describe, expect, it } from "vitest";
import { prng } from "../../src/demo/prng.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { type PgferryProcess, spawnPgferry } from "../harness/pgferry-process.js";
import { createWriterTables, seedWriterTables, startRandomWriter } from "../harness/random-writer.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";
import { waitCaughtUp } from "../harness/stream-wait.js";

const WORKLOAD_MS = 24_000;
const KILLS = 3;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function phase(target: LocalDatabase): Promise<string> {
  const rows = await asOwner<{ phase: string }>(
    target,
    "select case when to_regclass('pgferry.migration') is null then 'none' else (select phase from pgferry.migration) end as phase",
  ).catch(() => [{ phase: "unknown" }]);
  return rows[0]?.phase ?? "none";
}

async function waitForPhase(target: LocalDatabase, want: string, p: PgferryProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  while ((await phase(target)) !== want) {
    if (p.child.exitCode !== null) throw new Error(`pgferry exited early:\n${output(p)}`);
    if (Date.now() > deadline) throw new Error(`the migration never reached ${want}:\n${output(p)}`);
    await sleep(100);
  }
}

function output(p: PgferryProcess): string {
  return [...p.stdout, ...p.stderr].slice(-40).join("\n");
}

/**
 * The test that matters: a randomized concurrent workload runs on a Heroku-like source from
 * before the copy until the target has caught up, while `pgferry start` is killed with SIGKILL
 * and restarted at random moments (during copy, index and streaming). Afterwards every table
 * holds exactly the source's rows.
 */
describe.each(testPairs())("randomized workload with kill -9 %#", (pair) => {
  it(`ends with identical contents (${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    await createWriterTables(source);
    await seedWriterTables(source, 150, pair.source);
    const seed = Number(process.env["PGFERRY_TEST_SEED"] ?? pair.source * 100 + pair.target);
    const rand = prng(seed);
    const writer = startRandomWriter(source, { clients: 4, seed, pauseMs: 15 });
    const args = ["start", "--source", source.url, "--target", target.url, "--json", "--jobs", "2"];
    const started = Date.now();
    let p = spawnPgferry(args);
    const killedIn: string[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // Random moments: anywhere (prepare, copy, index, streaming), except that the second kill
      // waits until the stream runs, so at least one lands mid-stream.
      if (kill === 1) await waitForPhase(target, "streaming", p);
      await sleep((kill === 1 ? 300 : 1500) + Math.floor(rand() * 3500));
      if (p.child.exitCode !== null) throw new Error(`pgferry exited early:\n${output(p)}`);
      killedIn.push(await phase(target));
      await p.kill9();
      p = spawnPgferry(args);
    }
    await sleep(Math.max(0, WORKLOAD_MS - (Date.now() - started)));
    const stats = await writer.stop();
    expect(stats.errors).toEqual([]);
    expect(stats.committed).toBeGreaterThan(200);
    expect(stats.statements["truncate"] ?? 0).toBeGreaterThan(0);
    expect(stats.statements["key-update"] ?? 0).toBeGreaterThan(0);
    expect(stats.rolledBack).toBeGreaterThan(0);
    try {
      await waitCaughtUp(source, target, 120_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${output(p)}`);
    }
    p.child.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
    await assertSameContents(source, target);
    // The stream ran, and the migration says where it stands.
    const [m] = await asOwner<{ phase: string; pending: string | null }>(
      target,
      "select phase, pending_changes::text as pending from pgferry.migration",
    );
    expect(m!.phase).toBe("streaming");
    expect(killedIn).toContain("streaming");
  });
});
