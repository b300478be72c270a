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
          // This database only: another test file's pgferry (lock-queue's cleanup) waits on the same server.
          "select 1 from pg_stat_activity where application_name = $1 and wait_event_type = 'Lock' and datname = current_database()",
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

// Issue 13, item 5: the same for every other command. `start` and `status --watch` document
// Ctrl-C as their normal way to stop (exit 0, with what to do next); the rest end INTERRUPTED.
describe.each(testPairs().slice(0, 1))("Ctrl-C, every other command (%s)", (p) => {
  it(`${pairLabel(p)}: check, start, status --watch, tables add, rollback`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await asOwner(source, SCHEMA);

    // check, held reading app.a's size (it takes the table's lock): nothing changed.
    let lock = await holdLock(source, "lock table app.a in access exclusive mode");
    const check = cli(["check"], source, target);
    await waitingOnLock(source, "check", check);
    await interruptedWith(
      check,
      () => lock.query("commit"),
      /pgferry check was interrupted\. Nothing was changed/,
    );
    await lock.end();

    // start, held installing app.a's capture trigger (a transaction that wrote on app.a stays
    // open): a clean stop, and a rerun resumes.
    lock = await holdLock(source, "insert into app.a values (1001, 'open')");
    let start = cli(["start", "--jobs", "1"], source, target);
    await waitFor(
      "start waiting for app.a's lock",
      () => start.stdout.some((l) => /waiting for a lock on app\.a/.test(l)),
      {
        while: start,
        timeoutMs: 120_000,
      },
    );
    start.child.kill("SIGINT");
    await lock.query("commit");
    await lock.end();
    let ended = await start.exited;
    let text = [...start.stdout, ...start.stderr].join("\n");
    expect(ended.code, text).toBe(0);
    expect(text).toContain("Stopped. Run `pgferry start` again to resume where it left off.");
    expect(text).not.toMatch(/INTERNAL|this is a bug|^error /m);
    start = cli(["start", "--jobs", "1"], source, target);
    await waitFor("every table streaming", () => allStreaming(target, 2), {
      while: start,
      timeoutMs: 120_000,
    });

    // status --watch: Ctrl-C is how it stops (exit 0), with no error.
    const watch = cli(["status", "--watch", "--interval", "1"], source, target);
    await waitFor("a status line", () => watch.stdout.some((l) => l.includes("phase streaming")), {
      while: watch,
    });
    watch.child.kill("SIGINT");
    ended = await watch.exited;
    text = [...watch.stdout, ...watch.stderr].join("\n");
    expect(ended.code, text).toBe(0);
    expect(text).not.toMatch(/INTERNAL|this is a bug|^error /m);

    // tables add, held installing the new table's capture trigger: interrupted, then finished.
    await asOwner(
      source,
      "create table app.c (id int primary key, v text); insert into app.c values (1, 'c1')",
    );
    lock = await holdLock(source, "insert into app.c values (2, 'open')");
    const add = cli(["tables", "add", "app.c"], source, target);
    await waitFor(
      "tables add waiting for app.c's lock",
      () => add.stdout.some((l) => /waiting for a lock on app\.c/.test(l)),
      {
        while: add,
      },
    );
    await interruptedWith(
      add,
      () => lock.query("commit"),
      /pgferry tables was interrupted\. The change stopped between steps/,
    );
    await lock.end();
    const again = cli(["tables", "add", "app.c"], source, target);
    expect((await again.exited).code, [...again.stdout, ...again.stderr].join("\n")).toBe(0);
    await waitFor("app.c streaming", () => allStreaming(target, 3), { while: start, timeoutMs: 120_000 });

    // rollback, held draining the target by a transaction that wrote before its fence.
    const cut = cli(["cutover", "--rollback-window", "--switch-command", "true"], source, target);
    expect((await cut.exited).code, [...cut.stdout, ...cut.stderr].join("\n")).toBe(0);
    lock = await holdLock(target, "insert into app.b values (2001, 'open on the target')");
    const rollback = cli(["rollback", "--switch-command", "true"], source, target);
    await waitFor("the target's fence up", () => rollback.stdout.some((l) => /✓ fence-target/.test(l)), {
      while: rollback,
    });
    await interruptedWith(rollback, () => lock.query("commit"), /rollback interrupted at step [\w-]+\. /);
    await lock.end();
    const finish = cli(["rollback", "--switch-command", "true"], source, target);
    expect((await finish.exited).code, [...finish.stdout, ...finish.stderr].join("\n")).toBe(0);
    // The write made on the target before its fence came back to the source.
    expect(await asOwner(source, "select v from app.b where id = 2001")).toEqual([
      { v: "open on the target" },
    ]);
    // Rolled back: the source holds exactly what the target held when its fence went up.
    await assertSameContents(source, target);
    expect((await start.exited).code, [...start.stdout, ...start.stderr].join("\n")).toBe(0);
    const cleanup = cli(["cleanup"], source, target);
    expect((await cleanup.exited).code, [...cleanup.stdout, ...cleanup.stderr].join("\n")).toBe(0);
  });
});

/** Every one of `n` tables streaming, and the stream has beaten. */
async function allStreaming(target: LocalDatabase, n: number): Promise<boolean> {
  const [r] = await asOwner<{ ok: boolean }>(
    target,
    `select (select count(*) from pgferry.tables where phase = 'streaming') = $1
            and (select heartbeat_at is not null from pgferry.migration) as ok`,
    [n],
  ).catch(() => [{ ok: false }]);
  return r?.ok === true;
}

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
