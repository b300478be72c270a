import { describe, expect, it } from "vitest";
import { FENCE_DOWN_SQL, FENCE_UP_SQL } from "../../src/capture/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { applyTableWindow } from "../../src/stream/apply-window.js";
import { recheckPaused } from "../../src/stream/ddl.js";
import { catchUp, installReverseCapture, syncSequences } from "../../src/stream/index.js";
import { readStreamTables } from "../../src/stream/table-state.js";
import { applySessions } from "../../src/stream/worker-pool.js";
import { assertSameContents, tableRows } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { open, setupStream } from "../harness/stream-setup.js";
import { streamContext } from "../harness/stream-wait.js";

// Issue 11: the net-count apply of a table without a key, window by window. Each case is a
// window the target must end identical after, duplicates counted.

const TABLE = `
create schema nk;
create table nk.t (a int, f float8, at timestamptz, j json, p point, b bytea,
                   twice int generated always as (a * 2) stored, n int generated always as identity);
insert into nk.t (a, f, at, j, p, b) select 1, 0.1 + 0.2, '2024-03-01 12:00+00', '{"x":  1}', point(0.1, 0.2), '\\x00'
  from generate_series(1, 3);
create table nk.p (region int not null, v text) partition by list (region);
create table nk.p1 partition of nk.p for values in (1);
create table nk.p2 (v text, region int not null);
alter table nk.p attach partition nk.p2 for values in (2);
insert into nk.p select 1 + g % 2, 'v' from generate_series(1, 6) g;`;

/** Each list of statements as one application transaction (on a plain session, its own settings). */
async function run(db: LocalDatabase, ...txns: string[][]): Promise<void> {
  for (const stmts of txns) await asOwner(db, `begin; ${stmts.join("; ")}; commit`);
}

async function logRows(source: LocalDatabase, tbl: number): Promise<{ op: string; img: string }[]> {
  return asOwner(
    source,
    "select op, key #>> '{}' as img from pgferry.changes where tbl = $1 order by txid, ctid",
    [tbl],
  );
}

describe.each(testPairs())("forward stream, table without a key %#", (pair) => {
  it(`applies net counts exactly, in the target's rendering (${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    await asOwner(source, TABLE);
    const ctx = streamContext(source, target);
    const started = await runMigration(ctx, { jobs: 1, indexJobs: 1, skipCheck: true, stream: false });
    expect(started.outcome).toBe("indexed");
    const [row] = await asOwner<{ id: number; identity: string; key_columns: string[] }>(
      target,
      "select id, identity, key_columns from pgferry.tables where table_name = 't'",
    );
    expect(row).toMatchObject({ identity: "row", key_columns: [] });
    const id = row!.id;
    const [{ token }] = (await asOwner<{ token: string }>(target, "select token from pgferry.migration")) as [
      { token: string },
    ];
    const sessions = applySessions(ctx, pair.source, token);
    const apply = async () => {
      const out = await applyTableWindow(sessions, id, { lock: "wait", maxChanges: 2 });
      expect(out.status).toBe("applied");
      await assertSameContents(source, target, { tables: ["nk.t"] });
      return out;
    };
    try {
      // One of three identical rows deleted, one updated; an update that changes nothing logs nothing.
      const before = (await logRows(source, id)).length;
      await run(source, ["update nk.t set a = a where a = 1"]);
      expect((await logRows(source, id)).length).toBe(before);
      await run(
        source,
        ["delete from nk.t where ctid = (select ctid from nk.t limit 1)"],
        ["update nk.t set f = 2.5 where ctid = (select ctid from nk.t where f <> 2.5 limit 1)"],
        [
          "insert into nk.t (a, f, at, j, p, b) select 1, 0.1 + 0.2, '2024-03-01 12:00+00', '{\"x\":  1}', point(0.1, 0.2), '\\x00' from generate_series(1, 2)",
        ],
      );
      const ops = (await logRows(source, id)).slice(before).map((r) => r.op);
      expect(ops).toEqual(["D", "D", "I", "I", "I"]);
      // More log rows than maxChanges: a keyless window is never cut (a cut is no real state).
      expect(await apply()).toMatchObject({ more: false, changes: 5 });
      expect((await tableRows(await open(target, "target"), "nk.t")).length).toBe(4);

      // Inserted under one session's settings, deleted under another's, in one window: the log's
      // two texts differ (time zone, bytea form), the target renders them alike and nets them out.
      const tokyo = await ownerSession(source);
      try {
        await tokyo.query(
          "set timezone = 'Asia/Tokyo'; set bytea_output = 'escape'; set extra_float_digits = -3",
        );
        await tokyo.query(
          "insert into nk.t (a, f, at, j, p, b) values (7, 1.0 / 3, '2024-03-01 12:00+00', '[1, 2]', point(1e-7, 3), '\\xff')",
        );
      } finally {
        await tokyo.end();
      }
      await run(source, ["delete from nk.t where a = 7"]);
      const images = (await logRows(source, id)).slice(-2).map((r) => r.img);
      expect(images[0]).not.toBe(images[1]);
      await apply();

      // A row moved out and back, and a TRUNCATE followed by inserts, all in one window: the
      // window cannot be netted across the TRUNCATE, so the table is copied again.
      await run(
        source,
        ["update nk.t set a = 5 where f = 2.5", "update nk.t set a = 1 where a = 5"],
        ["truncate nk.t"],
        ["insert into nk.t (a, f, j, p) values (9, -0.0, '{}', point(0, 0)), (9, -0.0, '{}', point(0, 0))"],
      );
      await apply();
      // Identity values kept (OVERRIDING SYSTEM VALUE), generated columns computed on the target.
      expect(await asOwner(target, "select a, twice, n from nk.t order by n")).toEqual(
        await asOwner(source, "select a, twice, n from nk.t order by n"),
      );

      // The fence swaps the row functions' bodies (an UPDATE's has a DECLARE) and gives them back.
      await asOwner(source, FENCE_UP_SQL);
      await expect(run(source, ["update nk.t set a = 10"])).rejects.toMatchObject({ code: "25006" });
      await asOwner(source, FENCE_DOWN_SQL);
      await run(source, ["update nk.t set a = 10 where ctid = (select ctid from nk.t limit 1)"]);
      await apply();

      // DDL on the source: both tables pause; once the target has the same columns they resume,
      // copied whole (their logs hold rows of both shapes); the partitioned table's row
      // functions log the new column from then on.
      const [{ id: pid }] = (await asOwner<{ id: number }>(
        target,
        "select id from pgferry.tables where table_name = 'p'",
      )) as [{ id: number }];
      await run(
        source,
        [
          "delete from nk.t where ctid = (select ctid from nk.t limit 1)",
          "delete from nk.p where region = 2",
        ],
        ["alter table nk.t add column extra text default 'd'", "alter table nk.p add column extra int"],
        [
          "insert into nk.t (a, extra) values (3, 'e'), (3, 'e')",
          "insert into nk.p values (2, 'w', 7), (2, 'w', 7)",
        ],
      );
      for (const tid of [id, pid]) {
        const out = await applyTableWindow(sessions, tid, { lock: "wait", maxChanges: 100 });
        expect(out).toMatchObject({ status: "paused" });
        expect(out.reason).toContain('column "extra" added');
      }
      await asOwner(
        target,
        "alter table nk.t add column extra text default 'd'; alter table nk.p add column extra int",
      );
      const src = await open(source, "source");
      const tgt = await open(target, "target");
      try {
        for (const t of (await readStreamTables(tgt)).filter((x) => x.phase === "paused")) {
          expect(await recheckPaused(src, tgt, { source: pair.source, target: pair.target }, t, false)).toBe(
            true,
          );
        }
        expect((await tgt.query("select count(*)::int as n from pgferry.tables where recopy")).rows).toEqual([
          { n: 2 },
        ]);
      } finally {
        await src.end();
        await tgt.end();
      }
      await run(source, [
        "insert into nk.p values (2, 'after', 8)",
        "update nk.p set v = 'moved' where region = 1",
      ]);
      await apply();
      expect((await applyTableWindow(sessions, pid, { lock: "wait", maxChanges: 100 })).status).toBe(
        "applied",
      );
      await assertSameContents(source, target, { tables: ["nk.t", "nk.p1", "nk.p2"] });
      // And with the new column logged, windows apply as net counts again.
      await run(source, ["insert into nk.p values (1, 'later', 9)", "delete from nk.p where v = 'after'"]);
      expect((await applyTableWindow(sessions, pid, { lock: "wait", maxChanges: 100 })).status).toBe(
        "applied",
      );
      await assertSameContents(source, target, { tables: ["nk.t", "nk.p1", "nk.p2"] });
    } finally {
      await Promise.all([sessions.read.discard(), sessions.write.discard()]);
    }
  });
});

describe.each(testPairs())("reverse stream, tables without a key %#", (pair) => {
  it(`streams a join table and a log back to the source (${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    const schema = `create schema app;
      create table app.users (id int primary key, name text not null);
      create table app.groups (id int primary key);
      create table app.members (user_id int not null, group_id int not null, meta json);
      create table app.log (at timestamptz, what text, amount float8);`;
    const data = `insert into app.users select g, 'u' || g from generate_series(1, 10) g;
      insert into app.groups select g from generate_series(1, 3) g;
      insert into app.members select 1 + g % 10, 1 + g % 3, '{"a":  1}' from generate_series(1, 40) g;
      insert into app.log select '2024-01-01', 'x', 0.1 from generate_series(1, 5);`;
    const keys = `alter table app.members add foreign key (user_id) references app.users (id);
      alter table app.members add foreign key (group_id) references app.groups (id);`;
    await asOwner(source, schema + data + keys);
    await asOwner(target, schema);
    const setup = await setupStream(source, target, ["app"]);
    await setup.copyAll();
    const ctx = streamContext(source, target);
    await asOwner(source, FENCE_UP_SQL);
    await catchUp(ctx);
    await syncSequences(ctx);
    await asOwner(target, keys);
    await asOwner(target, "update pgferry.migration set phase = 'switched'");
    await installReverseCapture(ctx);
    // On the target after the switch: a user and their memberships gone, a new user with
    // duplicate memberships, one of identical rows deleted and one updated, a log truncated
    // and written again.
    await run(
      target,
      ["delete from app.members where user_id = 2", "delete from app.users where id = 2"],
      [
        "insert into app.users values (11, 'new')",
        "insert into app.members values (11, 1, '[]'), (11, 1, '[]')",
      ],
      ["delete from app.members where ctid = (select ctid from app.members where user_id = 3 limit 1)"],
      [
        "update app.members set meta = '{\"b\":2}' where ctid = (select ctid from app.members where user_id = 4 limit 1)",
      ],
      ["update app.members set group_id = 3 where user_id = 5"],
    );
    const first = await catchUp(ctx, { direction: "reverse" });
    expect(first.changes).toBeGreaterThan(0);
    await assertSameContents(source, target, {
      tables: ["app.users", "app.groups", "app.members", "app.log"],
    });
    await run(target, [
      "truncate app.log",
      "insert into app.log values ('2025-01-01', 'y', 1e-9), ('2025-01-01', 'y', 1e-9)",
    ]);
    await run(target, ["insert into app.log values ('2025-01-02', 'z', 2)"]);
    await catchUp(ctx, { direction: "reverse" });
    await assertSameContents(source, target, {
      tables: ["app.users", "app.groups", "app.members", "app.log"],
    });
  });
});
