import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FENCE_UP_SQL } from "../../src/capture/index.js";
import {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  rdsLikeDatabase,
} from "../../src/local-server/index.js";
import { parseSnapshot, snapshotCovers } from "../../src/positions/index.js";
import { catchUp, installReverseCapture, runStream, syncSequences } from "../../src/stream/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { createWriterTables, seedWriterTables, startRandomWriter } from "../harness/random-writer.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { setupStream } from "../harness/stream-setup.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

async function prepared(pair: { source: number; target: number }) {
  const source = await sourceDb(pair.source);
  const target = await targetDb(pair.target);
  await createWriterTables(source);
  await createWriterTables(target);
  await seedWriterTables(source, 60);
  const setup = await setupStream(source, target, ["rw"]);
  return { source, target, setup };
}

/** Runs SQL statements on the source as the application would, each list in one transaction. */
async function onSource(db: Awaited<ReturnType<typeof sourceDb>>, ...txns: string[][]): Promise<void> {
  for (const stmts of txns) await asOwner(db, `begin; ${stmts.join("; ")}; commit`);
}

describe.each(testPairs())("stream %#", (pair) => {
  it(`replays a table whose columns are named like pgferry's staging flag (issue 17 item 11, ${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    const ddl = `create schema odd;
      create table odd.flags (id int primary key, pgferry_present text, pgferry_present_ boolean);`;
    await asOwner(
      source,
      `${ddl} insert into odd.flags select g, 'p' || g, g % 2 = 0 from generate_series(1, 20) g;`,
    );
    await asOwner(target, ddl);
    const setup = await setupStream(source, target, ["odd"]);
    await setup.copyAll();
    await onSource(
      source,
      [
        "insert into odd.flags values (21, null, null)",
        "update odd.flags set pgferry_present = 'x' where id < 5",
      ],
      ["delete from odd.flags where id between 10 and 12", "update odd.flags set pgferry_present_ = null"],
    );
    await catchUp(streamContext(source, target));
    await assertSameContents(source, target);
    expect(await asOwner(target, "select phase, paused_reason from pgferry.tables")).toEqual([
      { phase: "streaming", paused_reason: null },
    ]);
  });

  it(`replays every kind of change exactly (${pairLabel(pair)})`, async () => {
    const { source, target, setup } = await prepared(pair);
    // Changes while the copy runs, before and after each table's copy.
    await onSource(source, ["update rw.big_key set n = n + 100", "delete from rw.uuid_key where n < 300"]);
    await setup.copyAll();
    await onSource(
      source,
      // A row inserted and deleted inside one transaction never shows up.
      ["insert into rw.big_key (id, n) values (10001, 1)", "delete from rw.big_key where id = 10001"],
      // Primary key updates: the old keys must vanish.
      ["update rw.big_key set id = id + 5000 where id < 100", "update rw.text_key set code = code || 'x'"],
      // A multi-table transaction, a large value, a move across partitions.
      [
        "insert into rw.composite_key (a, b, n) values (99, 'zz', 1)",
        "update rw.big_key set payload = repeat('p', 300000) where id = (select min(id) from rw.big_key)",
        "update rw.parted set region = 9 where region = 1",
        "insert into rw.ident (n, note) values (1, 'new')",
      ],
      // TRUNCATE then new rows in the same transaction; a leaf partition truncated alone.
      [
        "truncate rw.uuid_key",
        "insert into rw.uuid_key (id, n) values ('00000000-0000-4000-8000-000000000001', 5)",
      ],
      ["truncate rw.parted_a", "insert into rw.parted (region, id, n) values (2, 777, 7)"],
      // Unique values swapped in one statement (deferrable constraint).
      [
        `with ids as (select min(id) as a, max(id) as b from rw.uniq)
         update rw.uniq u set email = o.email from rw.uniq o, ids
          where (u.id = ids.a and o.id = ids.b) or (u.id = ids.b and o.id = ids.a)`,
      ],
    );
    await asOwner(source, "begin; delete from rw.text_key; rollback");
    const ctx = streamContext(source, target);
    const first = await catchUp(ctx);
    expect(first.windows).toBeGreaterThan(0);
    expect(first.changes).toBeGreaterThan(0);
    await assertSameContents(source, target);
    // Idempotent: nothing new, nothing applied, still identical.
    const again = await catchUp(ctx);
    expect(again.changes).toBe(0);
    await assertSameContents(source, target);
    const rows = await asOwner<{ phase: string; n: number }>(
      target,
      "select phase, count(*)::int as n from pgferry.tables group by phase",
    );
    expect(rows).toEqual([{ phase: "streaming", n: 7 }]);
  });

  it(`streams a live workload, with tables joining late (${pairLabel(pair)})`, async () => {
    const { source, target, setup } = await prepared(pair);
    await setup.copyTable("rw.big_key");
    await setup.copyTable("rw.uuid_key");
    const writer = startRandomWriter(source, { clients: 2, seed: pair.source });
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const running = runStream(ctx, {
      windowIntervalMs: 100,
      statusIntervalMs: 300,
      cleanupIntervalMs: 300,
      sequenceSyncIntervalMs: 300,
      windowMaxChanges: 200,
    });
    await new Promise((r) => setTimeout(r, 1500));
    // The other tables join the stream once their copy is done.
    for (const t of setup.tables.filter((t) => !["big_key", "uuid_key"].includes(t.name))) {
      await setup.copyTable(`${t.schema}.${t.name}`);
    }
    await new Promise((r) => setTimeout(r, 2500));
    const stats = await writer.stop();
    expect(stats.errors).toEqual([]);
    expect(stats.committed).toBeGreaterThan(20);
    await waitCaughtUp(source, target);
    await assertSameContents(source, target);
    // Status figures on the target: heartbeat, lag, pending, rate.
    const m = await waitFor("pending changes to reach 0", async () => {
      const [row] = await asOwner<{ hb: Date | null; lag: number; pending: string; rate: number | null }>(
        target,
        "select heartbeat_at as hb, lag_seconds as lag, pending_changes::text as pending, stream_rate as rate from pgferry.migration",
      );
      return row && row.pending === "0" && row.hb ? row : undefined;
    });
    expect(m.lag).toBeLessThan(30);
    // The applied part of the log was deleted on the source.
    await waitFor("log cleanup", async () => {
      const [c] = await asOwner<{ n: number }>(source, "select count(*)::int as n from pgferry.changes");
      return c!.n < 50;
    });
    // Sequences follow (identity included), never backwards.
    const seq = async (db: typeof source) =>
      (await asOwner<{ v: string }>(db, "select last_value::text as v from rw.ident_id_seq"))[0]!.v;
    await waitFor("sequence sync", async () => (await seq(target)) === (await seq(source)));
    stop.abort();
    await running;
    const kinds = ctx.events.map((e) => e.type);
    expect(kinds).toContain("stage:done");
    expect(ctx.events.filter((e) => e.type === "table:phase" && e.phase === "streaming").length).toBe(7);
    const ev = await asOwner<{ kind: string }>(target, "select kind from pgferry.events order by id");
    expect(ev.map((e) => e.kind)).toEqual(expect.arrayContaining(["stream-start", "stream-stop"]));
    await asOwner(target, "select setval('rw.ident_id_seq', 100000)");
    expect(await syncSequences(streamContext(source, target))).toBe(0);
    expect(await seq(target)).toBe("100000");
    expect(await syncSequences(streamContext(source, target), { gap: 1_000_000 })).toBeGreaterThan(0);
    expect(BigInt(await seq(target))).toBe(BigInt(await seq(source)) + 1_000_000n);
  });

  it(`cuts an oversized backlog into windows, re-applying whole on a unique conflict (${pairLabel(pair)})`, async () => {
    const { source, target, setup } = await prepared(pair);
    await setup.copyAll();
    const [a, b] = await asOwner<{ id: string; email: string }>(
      source,
      "select id::text, email from rw.uniq order by id limit 2",
    );
    // t1 takes the lower txid but commits after t2, which frees the email t1 then takes:
    // a window cut between them would insert a duplicate email on the target.
    const t1 = await ownerSession(source);
    const t2 = await ownerSession(source);
    await t1.query("begin");
    await t1.query("select txid_current()");
    await t2.query("update rw.uniq set email = 'moved@x' where id = $1", [b!.id]);
    await t1.query("update rw.uniq set email = $1 where id = $2", [b!.email, a!.id]);
    await t1.query("commit");
    await Promise.all([t1.end(), t2.end()]);
    for (let i = 0; i < 30; i++)
      await asOwner(
        source,
        `update rw.big_key set n = n + 1 where id in (select id from rw.big_key order by id limit ${i + 1})`,
      );
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const running = runStream(ctx, { windowMaxChanges: 1, windowIntervalMs: 50 });
    await waitCaughtUp(source, target);
    stop.abort();
    await running;
    await assertSameContents(source, target);
    const done = ctx.events.find((e) => e.type === "stage:done");
    const windows = Number(/in (\d+) window/.exec(done?.message ?? "")?.[1]);
    expect(windows).toBeGreaterThan(30);
    expect(ctx.events).toContainEqual(
      expect.objectContaining({
        type: "log",
        table: "rw.uniq",
        message: expect.stringContaining("applied whole"),
      }),
    );
  });

  it(`pauses a table on DDL, goes on with the others, resumes once the target matches (${pairLabel(pair)})`, async () => {
    const { source, target, setup } = await prepared(pair);
    await setup.copyAll();
    const opts = { windowIntervalMs: 100, statusIntervalMs: 200 };
    let stop = new AbortController();
    let running = runStream(streamContext(source, target, stop.signal), opts);
    await waitCaughtUp(source, target);
    await asOwner(source, "alter table rw.text_key add column extra int default 7");
    await asOwner(source, "insert into rw.text_key (code, n, extra) values ('new', 1, 8)");
    await asOwner(source, "alter table rw.composite_key rename to ck2");
    await asOwner(source, "update rw.big_key set n = n + 1");
    const reasons = await waitFor("two tables paused", async () => {
      const rows = await asOwner<{ table_name: string; paused_reason: string }>(
        target,
        "select table_name, paused_reason from pgferry.tables where phase = 'paused' order by 1",
      );
      return rows.length === 2 ? rows : undefined;
    });
    expect(reasons[0]!.table_name).toBe("composite_key");
    expect(reasons[0]!.paused_reason).toContain("renamed to rw.ck2");
    expect(reasons[1]!.paused_reason).toContain('column "extra" added (integer)');
    // The other tables go on.
    await waitFor("big_key caught up", async () => {
      try {
        await assertSameContents(source, target, { tables: ["rw.big_key", "rw.uuid_key"] });
        return true;
      } catch {
        return false;
      }
    });
    stop.abort();
    await running;
    // The user applies the same DDL on the target; a restart re-checks and resumes.
    await asOwner(target, "alter table rw.text_key add column extra int default 7");
    await asOwner(target, "alter table rw.composite_key rename to ck2");
    stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    running = runStream(ctx, opts);
    await asOwner(source, "update rw.ck2 set n = n + 1; update rw.text_key set extra = extra + 1");
    await waitCaughtUp(source, target);
    await assertSameContents(source, target);
    stop.abort();
    await running;
    const names = await asOwner<{ name: string }>(
      target,
      "select table_name as name from pgferry.tables where table_name in ('ck2', 'composite_key')",
    );
    expect(names).toEqual([{ name: "ck2" }]);
  });

  it(`streams the target's writes back to a fenced source in the rollback window (${pairLabel(pair)})`, async () => {
    const source = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    const fkTables = `create table rw.parent (id int primary key, name text);
      create table rw.child (id int primary key, parent_id int not null, v text)`;
    for (const db of [source, target]) {
      await createWriterTables(db);
      await asOwner(db, fkTables);
    }
    await asOwner(
      source,
      "alter table rw.child add foreign key (parent_id) references rw.parent (id) on delete cascade",
    );
    await seedWriterTables(source, 40);
    await asOwner(source, "insert into rw.parent select g, 'p' || g from generate_series(1, 20) g");
    await asOwner(
      source,
      "insert into rw.child select g, 1 + g % 20, 'c' || g from generate_series(1, 60) g",
    );
    const setup = await setupStream(source, target, ["rw"]);
    await setup.copyAll();
    const ctx = streamContext(source, target);
    // Cutover, as the cutover stage does it: fence, catch up, sequences, constraints, switch.
    await asOwner(source, FENCE_UP_SQL);
    await catchUp(ctx);
    await syncSequences(ctx);
    await asOwner(
      target,
      "alter table rw.child add foreign key (parent_id) references rw.parent (id) on delete cascade",
    );
    await asOwner(target, "update pgferry.migration set phase = 'switched'");
    const start = await installReverseCapture(ctx);
    expect(start).toMatch(/^\d+:\d+:/);
    const sourceLog = async () =>
      (await asOwner<{ n: number }>(source, "select count(*)::int as n from pgferry.changes"))[0]!.n;
    const logBefore = await sourceLog();
    const stop = new AbortController();
    const rctx = streamContext(source, target, stop.signal);
    const running = runStream(rctx, {
      direction: "reverse",
      windowIntervalMs: 100,
      sequenceSyncIntervalMs: 200,
    });
    // The application now writes to the target: new parents with children, a cascade, key moves.
    const writer = startRandomWriter(target, { clients: 2, seed: 99, truncateRate: 0.01 });
    await onSource(
      target,
      ["insert into rw.parent values (100, 'new')", "insert into rw.child values (1000, 100, 'new child')"],
      ["delete from rw.parent where id = 1"],
      ["update rw.child set parent_id = 100 where parent_id = 2", "delete from rw.parent where id = 2"],
      ["update rw.parent set name = 'renamed' where id = 3"],
    );
    await new Promise((r) => setTimeout(r, 2000));
    await writer.stop();
    // The writes of the window are applied through the fence; the source's log stays as it was.
    const [{ q }] = (await asOwner<{ q: string }>(target, "select txid_current_snapshot()::text as q")) as [
      { q: string },
    ];
    await waitFor("the source to catch up", async () => {
      const rows = await asOwner<{ position: string }>(source, "select position from pgferry.reverse_tables");
      return rows.every((r) => snapshotCovers(parseSnapshot(r.position), parseSnapshot(q)));
    });
    stop.abort();
    await running;
    await assertSameContents(source, target);
    expect(await sourceLog()).toBe(logBefore);
    await expect(asOwner(source, "insert into rw.parent values (5000, 'x')")).rejects.toMatchObject({
      code: "25006",
    });
    // Final catch-up (rollback): nothing left, sequences follow back.
    await asOwner(target, "insert into rw.ident (n) values (1)");
    const last = await catchUp(streamContext(source, target), { direction: "reverse" });
    expect(last.changes).toBe(1);
    await assertSameContents(source, target);
    const seq = async (db: LocalDatabase) =>
      (await asOwner<{ v: string }>(db, "select last_value::text as v from rw.ident_id_seq"))[0]!.v;
    expect(await seq(source)).toBe(await seq(target));
  });
});

describe("stream across server restarts", () => {
  let server: LocalServer | undefined;
  const major = testPairs()[0]!.source;
  beforeAll(async () => {
    server = await LocalServer.start({ major });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it(`retries with backoff through restarts and loses nothing (${major})`, async () => {
    const source = await herokuLikeDatabase(server!, "restart_src");
    const target = await rdsLikeDatabase(server!, "restart_tgt");
    await createWriterTables(source);
    await createWriterTables(target);
    await seedWriterTables(source, 60);
    const setup = await setupStream(source, target, ["rw"]);
    await setup.copyAll();
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const running = runStream(ctx, { windowIntervalMs: 100, statusIntervalMs: 300 });
    const writer = startRandomWriter(source, { clients: 2, seed: 5 });
    await new Promise((r) => setTimeout(r, 1500));
    // Both sides live on this server: each restart drops every connection of the stream.
    await server!.restart();
    await new Promise((r) => setTimeout(r, 2000));
    await server!.restart();
    await new Promise((r) => setTimeout(r, 1500));
    const stats = await writer.stop();
    expect(stats.errors).toEqual([]);
    await waitCaughtUp(source, target, 60_000);
    await assertSameContents(source, target);
    stop.abort();
    await running;
    expect(ctx.events.some((e) => e.type === "retry")).toBe(true);
    const ev = await asOwner<{ kind: string }>(
      target,
      "select kind from pgferry.events where kind = 'stream-retry'",
    );
    expect(ev.length).toBeGreaterThan(0);
  });
});
