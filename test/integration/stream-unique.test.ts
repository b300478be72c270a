import { describe, expect, it } from "vitest";
import { FENCE_UP_SQL } from "../../src/capture/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { applyTableWindow } from "../../src/stream/apply-window.js";
import { catchUp, installReverseCapture, syncSequences } from "../../src/stream/index.js";
import { applySessions } from "../../src/stream/worker-pool.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { setupStream } from "../harness/stream-setup.js";
import { streamContext } from "../harness/stream-wait.js";

/**
 * A non-key UNIQUE column (users.email) whose values move between rows. Replay reads a
 * window's keys with their rows as of one snapshot while the target still holds the other rows
 * as they were: a value taken from a row outside the window would collide there.
 */
const USERS = `
create schema app;
create table app.users (id int primary key, email text not null unique, n int not null default 0);
insert into app.users select g, 'u' || g || '@x', 0 from generate_series(1, 40) g;`;

/** Each list of statements as one application transaction. */
async function run(db: LocalDatabase, ...txns: string[][]): Promise<void> {
  for (const stmts of txns) await asOwner(db, `begin; ${stmts.join("; ")}; commit`);
}

async function emails(db: LocalDatabase, ids: number[]): Promise<Record<number, string>> {
  const rows = await asOwner<{ id: number; email: string }>(
    db,
    "select id, email from app.users where id = any($1) order by id",
    [ids],
  );
  return Object.fromEntries(rows.map((r) => [r.id, r.email]));
}

const forwardPair = testPairs()[0]!;

describe(`forward stream, unique column (${pairLabel(forwardPair)})`, () => {
  it("values moving between rows across window boundaries apply exactly; a target-only conflict pauses", async () => {
    const source = await sourceDb(forwardPair.source);
    const target = await targetDb(forwardPair.target);
    await asOwner(source, USERS);
    const ctx = streamContext(source, target);
    const started = await runMigration(ctx, { jobs: 1, indexJobs: 1, skipCheck: true, stream: false });
    expect(started.outcome).toBe("indexed");
    // One chunk, so no transient duplicates: the index stage built the unique index (it would
    // otherwise be deferred to the cutover, and no window could meet it).
    expect(
      await asOwner(
        target,
        `select p.stage, p.done, (select count(*)::int from pg_indexes where indexname = p.name) as built
           from pgferry.post_data p where p.name = 'users_email_key'`,
      ),
    ).toEqual([{ stage: "index", done: true, built: 1 }]);
    const [{ id }] = (await asOwner<{ id: number }>(
      target,
      "select id from pgferry.tables where table_name = 'users'",
    )) as [{ id: number }];
    const [{ token }] = (await asOwner<{ token: string }>(target, "select token from pgferry.migration")) as [
      { token: string },
    ];
    const sessions = applySessions(ctx, forwardPair.source, token);
    try {
      // A cut window holding key 1 only (its first change), while row 1 is read as it is now:
      // it took the email row 3 gave up after the cut, and row 3 on the target still has it.
      await run(
        source,
        ["update app.users set n = n + 1 where id = 1"],
        ["update app.users set email = 'moved@x' where id = 3"],
        ["update app.users set email = 'u3@x' where id = 1"],
        // Two rows exchanging their emails (through a third value) in one transaction.
        [
          "update app.users set email = 'tmp@x' where id = 6",
          "update app.users set email = 'u6@x' where id = 7",
          "update app.users set email = 'u7@x' where id = 6",
        ],
      );
      const cut = await applyTableWindow(sessions, id, { lock: "wait", maxChanges: 1 });
      expect(cut).toMatchObject({ status: "applied", uncut: true, more: false });
      await assertSameContents(source, target);

      // Uncut windows: the lower txid takes an email a later transaction freed, and commits
      // last, so a window boundary falls between the two.
      const t1 = await ownerSession(source);
      try {
        await t1.query("begin");
        await t1.query("select txid_current()");
        await run(source, ["update app.users set email = 'moved2@x' where id = 5"]);
        await t1.query("update app.users set email = 'u5@x' where id = 4");
        await catchUp(ctx);
        expect(await emails(target, [4, 5])).toEqual({ 4: "u4@x", 5: "moved2@x" });
        await t1.query("commit");
      } finally {
        await t1.end();
      }
      await catchUp(ctx);
      expect(await emails(target, [4, 5])).toEqual({ 4: "u5@x", 5: "moved2@x" });
      await assertSameContents(source, target);

      // A unique index only the target has cannot converge: cut, re-applied whole, then paused.
      await asOwner(target, "create unique index users_n_big on app.users (n) where n > 100");
      await run(source, ["update app.users set n = 101 where id in (10, 11)"]);
      const stuck = await applyTableWindow(sessions, id, { lock: "wait", maxChanges: 1 });
      expect(stuck).toMatchObject({ status: "paused", uncut: true });
      expect(stuck.reason).toContain("SQLSTATE 23505");
      const [t] = await asOwner<{ phase: string; paused_reason: string }>(
        target,
        "select phase, paused_reason from pgferry.tables where id = $1",
        [id],
      );
      expect(t).toEqual({ phase: "paused", paused_reason: stuck.reason });
    } finally {
      await Promise.all([sessions.read.discard(), sessions.write.discard()]);
    }
  });
});

/** Source and target with app.users, app.orders (FK NO ACTION) and app.tags/app.tag_links (FK CASCADE), switched. */
async function switched(pair: { source: number; target: number }) {
  const source = await sourceDb(pair.source);
  const target = await targetDb(pair.target);
  const schema = `${USERS}
    create table app.orders (id int primary key, user_id int not null, token text not null unique);
    insert into app.orders select g, 1 + g % 40, 't' || g from generate_series(1, 80) g;
    create table app.tags (id int primary key, code text not null unique);
    insert into app.tags select g, 'c' || g from generate_series(1, 10) g;
    create table app.tag_links (id int primary key, tag_id int not null);
    insert into app.tag_links select g, 1 + g % 10 from generate_series(1, 30) g;`;
  const keys = `alter table app.orders add foreign key (user_id) references app.users (id);
    alter table app.tag_links add foreign key (tag_id) references app.tags (id) on delete cascade;`;
  await asOwner(source, schema + keys);
  await asOwner(target, schema.replace(/insert into [^;]*;/g, ""));
  const setup = await setupStream(source, target, ["app"]);
  await setup.copyAll();
  const ctx = streamContext(source, target);
  // The cutover, as the cutover stage does it: fence, catch up, sequences, keys, switch, capture.
  await asOwner(source, FENCE_UP_SQL);
  await catchUp(ctx);
  await syncSequences(ctx);
  await asOwner(target, keys);
  await asOwner(target, "update pgferry.migration set phase = 'switched'");
  await installReverseCapture(ctx);
  return { source, target, ctx };
}

describe.each(testPairs())("reverse stream, unique column %#", (pair) => {
  it(`applies rows whose unique values moved, swapped or were freed by a delete (${pairLabel(pair)})`, async () => {
    const { source, target, ctx } = await switched(pair);
    // On the target, in one rollback round: emails handed on in both id orders, a swap, an
    // email freed by deleting its row (whose orders moved first), and a swap of tag codes.
    await run(
      target,
      ["update app.users set email = 'moved-a@x' where id = 2"],
      ["update app.users set email = 'u2@x' where id = 1"],
      ["update app.users set email = 'moved-b@x' where id = 3"],
      ["update app.users set email = 'u3@x' where id = 4"],
      [
        "update app.users set email = 'tmp@x' where id = 5",
        "update app.users set email = 'u5@x' where id = 6",
        "update app.users set email = 'u6@x' where id = 5",
      ],
      ["update app.orders set user_id = 8 where user_id = 7", "delete from app.users where id = 7"],
      ["update app.users set email = 'u7@x' where id = 8"],
      ["update app.users set email = 'new9@x' where id = 9", "insert into app.users values (100, 'u9@x', 0)"],
      // A user deleted after its two orders moved away and swapped their tokens: the source can
      // delete it only once the swap (a cycle in the child table) is applied.
      [
        "update app.orders set user_id = 11, token = 'tmp' where id = 9",
        "update app.orders set user_id = 11, token = 't9' where id = 49",
        "update app.orders set token = 't49' where id = 9",
        "delete from app.users where id = 10",
      ],
    );
    const first = await catchUp(ctx, { direction: "reverse" });
    expect(first.changes).toBeGreaterThan(0);
    await assertSameContents(source, target);
    expect(await emails(source, [1, 2, 3, 4, 5, 6, 8, 100])).toEqual({
      1: "u2@x",
      2: "moved-a@x",
      3: "moved-b@x",
      4: "u3@x",
      5: "u6@x",
      6: "u5@x",
      8: "u7@x",
      100: "u9@x",
    });
    expect(
      await asOwner(source, "select id, user_id, token from app.orders where id in (9, 49) order by id"),
    ).toEqual([
      { id: 9, user_id: 11, token: "t49" },
      { id: 49, user_id: 11, token: "t9" },
    ]);
  });

  it(`says clearly what to do when a swap meets an ON DELETE CASCADE key (${pairLabel(pair)})`, async () => {
    const { source, target, ctx } = await switched(pair);
    await run(target, [
      "update app.tags set code = 'tmp' where id = 1",
      "update app.tags set code = 'c1' where id = 2",
      "update app.tags set code = 'c2' where id = 1",
    ]);
    const failed = await catchUp(ctx, { direction: "reverse" }).catch((e) => e);
    expect(failed).toMatchObject({ code: "STREAM_FAILED" });
    expect(failed.message).toContain("app.tags");
    // Nothing half-applied: the round rolled back, the links are all there.
    expect(await asOwner(source, "select count(*)::int as n from app.tag_links")).toEqual([{ n: 30 }]);
    expect(await asOwner(source, "select code from app.tags where id in (1, 2) order by id")).toEqual([
      { code: "c1" },
      { code: "c2" },
    ]);
  });
});
