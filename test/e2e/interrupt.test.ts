import { spawnSync } from "node:child_process";
import path from "node:path";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { catchUp } from "../../src/stream/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { type PgferryProcess, spawnPgferry, waitFor } from "../harness/pgferry-process.js";
import { asOwner, asSuperuser, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

const BIN = path.resolve(import.meta.dirname, "../../bin/pgferry.js");

// Issue 10, item 6: Ctrl-C in verify, cutover or cleanup ended as INTERNAL ("this is a bug").
// Each command is held at a known point by a lock the test owns (no sleeps), interrupted,
// then let go: it must end with INTERRUPTED, exit 130, and a sentence saying what state it left.

const SCHEMA = `
create schema app;
create table app.a (id int primary key, v text);
create table app.b (id int primary key, v text);
insert into app.a select g, 'a' || g from generate_series(1, 500) g;
insert into app.b select g, 'b' || g from generate_series(1, 500) g;`;

/** A migration streaming under a real `pgferry start`, with a known lag (the cutover needs one). */
async function streaming(p: { source: number; target: number }) {
  const source = await sourceDb(p.source);
  const target = await targetDb(p.target);
  await asOwner(source, SCHEMA);
  const start = cli(["start", "--jobs", "1"], source, target);
  await waitFor(
    "every table streaming, with a lag",
    async () => {
      const [r] = await asOwner<{ ok: boolean }>(
        target,
        `select to_regclass('pgferry.migration') is not null
                and (select count(*) from pgferry.tables where phase = 'streaming') = 2
                and (select heartbeat_at is not null from pgferry.migration) as ok`,
      ).catch(() => [{ ok: false }]);
      return r?.ok === true;
    },
    { while: start, timeoutMs: 120_000 },
  );
  return { source, target, start, ctx: streamContext(source, target) };
}

function cli(args: string[], source: LocalDatabase, target: LocalDatabase): PgferryProcess {
  return spawnPgferry([...args, "--source", source.url, "--target", target.url]);
}

/** Until a pgferry session of `stage` on `db` waits for a lock (the test's). */
async function waitingOnLock(db: LocalDatabase, stage: string, p: PgferryProcess): Promise<void> {
  await waitFor(
    `pgferry:${stage} waiting on the test's lock`,
    async () =>
      (
        await asSuperuser(
          db,
          "select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock'",
          [`pgferry:${stage}`],
        )
      ).length > 0,
    { while: p },
  );
}

async function interruptedWith(p: PgferryProcess, release: () => Promise<unknown>, message: RegExp) {
  p.child.kill("SIGINT");
  await release();
  const { code } = await p.exited;
  const text = [...p.stdout, ...p.stderr].join("\n");
  expect(code, text).toBe(130);
  const error = p.stderr.find((l) => l.startsWith("error "));
  expect(error, text).toMatch(/^error INTERRUPTED: /);
  expect(error).toMatch(message);
  expect(text).not.toMatch(/INTERNAL|this is a bug/);
}

async function holdLock(db: LocalDatabase, sql: string): Promise<pg.Client> {
  const c = await ownerSession(db, "test-lock");
  await c.query("begin");
  await c.query(sql);
  return c;
}

describe.each(testPairs().slice(0, 1))("Ctrl-C ends a command with INTERRUPTED (%s)", (p) => {
  it(`${pairLabel(p)}: verify, cutover and cleanup`, async () => {
    const { source, target, start, ctx } = await streaming(p);

    // verify, held reading app.a (one table at a time), then interrupted: nothing changed.
    let lock = await holdLock(source, "lock table app.a in access exclusive mode");
    const verify = cli(["verify", "--jobs", "1"], source, target);
    await waitingOnLock(source, "verify", verify);
    await interruptedWith(
      verify,
      () => lock.query("commit"),
      /pgferry verify was interrupted\. Nothing was changed/,
    );
    await lock.end();

    // cutover, held in its drain by a transaction that wrote before the fence: interrupted, it
    // undoes the fence and says so.
    lock = await holdLock(source, "insert into app.b values (1001, 'open')");
    const cutover = cli(["cutover", "--switch-command", "true"], source, target);
    // Printed once the fence is up: the drain then waits on the open transaction.
    await waitFor("the fence up", () => cutover.stdout.some((l) => /✓ fence/.test(l)), { while: cutover });
    await interruptedWith(
      cutover,
      () => lock.query("commit"),
      /cutover interrupted at step [\w-]+\. The source is writable and the migration streams again/,
    );
    await lock.end();
    expect(await asOwner(source, "insert into app.b values (1002, 'after') returning id")).toEqual([
      { id: 1002 },
    ]);
    await catchUp(ctx);
    await assertSameContents(source, target);

    // cleanup --force, held at a table's trigger lock: interrupted between tables.
    lock = await holdLock(source, "lock table app.a in access exclusive mode");
    const cleanup = cli(["cleanup", "--force"], source, target);
    await waitingOnLock(source, "cleanup", cleanup);
    await interruptedWith(
      cleanup,
      () => lock.query("commit"),
      /pgferry cleanup was interrupted\. Cleanup stopped/,
    );
    await lock.end();
    // Run again, it finishes.
    const again = cli(["cleanup", "--force"], source, target);
    expect((await again.exited).code, [...again.stdout, ...again.stderr].join("\n")).toBe(0);
    // The start process ends by itself once the migration is cleaned up.
    expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
  });
});

describe("status piped into a reader that stops (issue 10, item 7)", () => {
  it("`pgferry status --watch --json | head -1` ends quietly, exit 0", async () => {
    const p = testPairs()[0]!;
    const { target, start } = await streaming(p);
    try {
      const run = spawnSync(
        "bash",
        ["-c", `set -o pipefail; node ${JSON.stringify(BIN)} status --watch --json --interval 1 | head -1`],
        { env: { ...process.env, PGFERRY_TARGET_URL: target.url, NO_COLOR: "1" }, encoding: "utf8" },
      );
      expect(run.stderr).toBe("");
      expect(run.status).toBe(0);
      expect(JSON.parse(run.stdout).phase).toBe("streaming");
    } finally {
      start.child.kill("SIGINT");
      await start.exited;
    }
  });
});
