import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { assertSameContents } from "../harness/compare.js";
import { createKeylessTables, KEYLESS_TABLES, startKeylessWriter } from "../harness/keyless-writer.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { type PgferryProcess, spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";
import { waitCaughtUp } from "../harness/stream-wait.js";

// Issue 11: tables without a key move live, nothing lost, through kill -9 during their copy
// and during streaming, and a cutover.

function output(p: PgferryProcess): string {
  return [...p.stdout, ...p.stderr].slice(-40).join("\n");
}

async function cli(args: string[], env: Record<string, string>) {
  const p = spawnPgferry(args, env);
  const { code } = await p.exited;
  return { code, stdout: p.stdout.join("\n"), stderr: p.stderr.join("\n") };
}

/** The control row of a table: its identity, phase, and whether its one chunk is done. */
async function controlRow(target: LocalDatabase, table: string) {
  const rows = await asOwner<{ identity: string; phase: string; done: boolean | null }>(
    target,
    `select t.identity, t.phase, (select bool_and(c.done) from pgferry.chunks c where c.table_id = t.id) as done
       from pgferry.tables t where t.schema_name || '.' || t.table_name = $1`,
    [table],
  ).catch(() => []);
  return rows[0];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(testPairs())("tables without a key, $source → $target", (pair) => {
  it(`migrate live through kill -9 during copy and streaming, and a cutover (${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    await createKeylessTables(source, 150_000);
    const env = { PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url };
    const writer = startKeylessWriter(source, { clients: 3, seed: pair.source * 100 + pair.target });

    // 1. Throttled, so the audit log's one-snapshot copy is still running when start is killed.
    let start = spawnPgferry(["start", "--jobs", "2", "--max-rate", "2", "--json"], env);
    await waitFor(
      "the copy of kl.audit_log to run on the source",
      async () =>
        (
          await asOwner<{ n: number }>(
            source,
            `select count(*)::int as n from pg_stat_activity
              where application_name = 'pgferry:copy' and query like '%kl%audit_log%' and state = 'active'`,
          )
        )[0]!.n > 0,
      { timeoutMs: 90_000, intervalMs: 50, while: start },
    );
    await sleep(500);
    await start.kill9();
    // Killed mid-copy: the chunk's rows and done-mark rolled back together.
    const afterKill = await controlRow(target, "kl.audit_log");
    expect(afterKill).toMatchObject({ identity: "row", phase: "copying", done: false });
    expect(await controlRow(target, "public.pgbench_history")).toMatchObject({ identity: "row" });
    expect(await controlRow(target, "kl.nullable_uniq")).toMatchObject({ identity: "row" });
    expect(await controlRow(target, "public.pgbench_accounts")).toMatchObject({ identity: "key" });

    // 2. Again, unthrottled, until it streams; then killed while windows apply.
    start = spawnPgferry(["start", "--jobs", "2", "--json"], env);
    await waitFor(
      "every table streaming",
      async () =>
        (
          await asOwner<{ n: number }>(
            target,
            "select count(*) filter (where phase <> 'streaming')::int as n from pgferry.tables",
          ).catch(() => [{ n: 1 }])
        )[0]!.n === 0,
      { timeoutMs: 120_000, intervalMs: 100, while: start },
    );
    await sleep(1500);
    await start.kill9();
    start = spawnPgferry(["start", "--jobs", "2", "--json"], env);

    // pgbench's own TPC-B transactions too (each appends to pgbench_history).
    const bench = await promisify(execFile)("/usr/bin/pgbench", ["-n", "-T", "4", "-c", "2", source.url]);
    expect(bench.stdout).toMatch(/number of transactions actually processed: [1-9]/);
    try {
      await waitCaughtUp(source, target, 120_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${output(start)}`);
    }

    // 3. verify while the writer runs: keyless tables compared as multisets at one point.
    const verified = await cli(["verify", "--json", "--tables", KEYLESS_TABLES.join(",")], env);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const report = JSON.parse(verified.stdout.trim().split("\n").pop()!) as {
      identical: boolean;
      tables: { name: string; sourceRows: number; targetRows: number }[];
    };
    expect(report.identical).toBe(true);
    expect(report.tables.map((t) => t.name).sort()).toEqual([...KEYLESS_TABLES].sort());

    // Identical rows the writer never touches (its user ids are 0–19), written while streaming,
    // so the final compare counts duplicates however the random truncates fell.
    await writer.stopTruncating();
    await asOwner(
      source,
      "insert into kl.memberships select 999, 1, 'dup', '{\"d\": 1}'::json, point(0.1, 0.2) from generate_series(1, 3)",
    );

    // 4. The cutover, the writer still writing until the fence stops it.
    const cut = await cli(["cutover", "--manual-switch", "--json"], env);
    expect(cut.code, cut.stdout + cut.stderr).toBe(0);
    const stats = await writer.stop();
    start.child.kill("SIGINT");
    await start.exited;
    expect(stats.errors).toEqual([]);
    for (const kind of [
      "insert-duplicates",
      "delete-one-of-identical",
      "update-one-of-identical",
      "update-unchanged",
      "update-json",
      "insert-null-duplicate",
      "move-partition",
    ])
      expect(stats.statements[kind] ?? 0, kind).toBeGreaterThan(0);
    // Every table, row for row as multisets (duplicates counted), json and point included.
    await assertSameContents(source, target);
    const dups = await asOwner<{ n: number }>(
      target,
      "select count(*)::int as n from kl.memberships where user_id = 999",
    );
    expect(dups[0]!.n).toBe(3);
  });
});
