import { describe, expect, it } from "vitest";
import type { MigrationContext } from "../../src/context.js";
import { runCopy } from "../../src/copy/index.js";
import { type ConnInfo, parseConnUrl, withClient } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { insertTables, selectTables } from "../../src/prepare/index.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import { ensureControlSchema } from "../../src/state/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";

// The copy stage alone: the target tables are created here WITHOUT keys, so a row copied
// twice (two workers on one chunk, overlapping chunk predicates) shows up as a duplicate.
const TABLES = `
create schema app;
create table app.ints (id int %PK%, v text, g int generated always as (id * 2) stored);
create table app.bigs (id bigint %PK%, v int);
create table app.texts (k text %PK%, v int);
create table app."Mixed Case" ("Key A" int, "key b" text, "select" text %PK2%);
create table app.uuids (id uuid %PK%, n numeric);
create table app.parts (id int, region text, v text %PK3%) partition by list (region);
create table app.parts_eu partition of app.parts for values in ('eu');
create table app.parts_us partition of app.parts for values in ('us');
create table app.parts_other partition of app.parts default;
create table app.parent (id int %PK%, v text);
create table app.child (extra int) inherits (app.parent);
create table app.dropped (id int %PK%, a int, b text, c int);
alter table app.dropped drop column a;
create table app.empty (id int %PK%);
`;

const DATA = `
alter table app.child add primary key (id);
insert into app.ints (id, v) select i, 'v' || i from generate_series(1, 20000) i;
insert into app.bigs select (i - 5000) * 1000000000000, i from generate_series(1, 9000) i;
insert into app.texts select md5(i::text), i from generate_series(1, 7000) i;
insert into app."Mixed Case" select i % 50, 'b' || i, 'x' || i from generate_series(1, 6000) i;
insert into app.uuids select md5(i::text)::uuid, i / 7.0 from generate_series(1, 5000) i;
insert into app.parts select i, (array['eu', 'us', 'ap', 'sa'])[1 + i % 4], 'p' || i from generate_series(1, 9000) i;
insert into app.parent select i, 'parent' from generate_series(1, 100) i;
insert into app.child select i, 'child', i from generate_series(101, 150) i;
insert into app.dropped (id, b, c) select i, 'b' || i, i from generate_series(1, 3000) i;
`;

function ddl(withKeys: boolean): string {
  return TABLES.replace(/ %PK%/g, withKeys ? " primary key" : "")
    .replace(/ %PK2%/g, withKeys ? `, primary key ("Key A", "key b")` : "")
    .replace(/ %PK3%/g, withKeys ? ", primary key (id, region)" : "");
}

async function setup(pair: { source: number; target: number }) {
  const src = await sourceDb(pair.source);
  const tgt = await targetDb(pair.target);
  await asOwner(src, ddl(true) + DATA);
  await asOwner(tgt, ddl(false));
  const source = parseConnUrl(src.url, "source");
  const target = parseConnUrl(tgt.url, "target");
  await withClient(target, { stage: "prepare" }, async (t) => {
    await ensureControlSchema(t);
    await t.query(
      "insert into pgferry.migration (source_display, source_identity, phase) values ($1, '{}', 'copying')",
      [source.display],
    );
    await withClient(source, { stage: "prepare" }, async (s) => {
      const { chosen } = await selectTables(s, { include: ["app.*"] });
      await insertTables(t, chosen);
    });
  });
  return { src, tgt, source, target };
}

function context(source: ConnInfo, target: ConnInfo, signal = new AbortController().signal) {
  const events: PgferryEvent[] = [];
  const ctx: MigrationContext = { source, target, emit: (e) => events.push(e), signal };
  return { ctx, events };
}

async function chunks(db: LocalDatabase) {
  return asOwner<{
    table_id: number;
    chunk_no: number;
    table_name: string;
    predicate: string | null;
    done: boolean;
    rows: string | null;
    worker: string | null;
    done_at: Date | null;
  }>(db, "select * from pgferry.chunks order by table_id, chunk_no");
}

describe.each(testPairs())("copy stage, %s", (pair) => {
  it(`${pairLabel(pair)}: copies every table exactly once, in many chunks, with several workers`, async () => {
    const { src, tgt, source, target } = await setup(pair);
    const { ctx, events } = context(source, target);
    expect(await runCopy(ctx, { jobs: 3, indexJobs: 0, chunkRows: 1000 })).toBe(true);
    await assertSameContents(src, tgt);

    const all = await chunks(tgt);
    expect(all.every((c) => c.done && c.worker && c.done_at)).toBe(true);
    const byTable = new Map<string, typeof all>();
    for (const c of all) byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), c]);
    // Integer keys by ranges, text/uuid/composite keys by sampled boundaries, leaves one by one.
    expect(byTable.get("ints")!.length).toBeGreaterThanOrEqual(15);
    expect(byTable.get("bigs")!.length).toBeGreaterThanOrEqual(5);
    expect(byTable.get("texts")!.length).toBeGreaterThanOrEqual(3);
    expect(byTable.get("Mixed Case")!.length).toBeGreaterThanOrEqual(3);
    expect(byTable.get("uuids")!.length).toBeGreaterThanOrEqual(3);
    expect([...byTable.keys()]).toEqual(expect.arrayContaining(["parts_eu", "parts_us", "parts_other"]));
    expect(byTable.has("parts")).toBe(false);
    expect(byTable.get("empty")).toHaveLength(1);
    expect(byTable.get("Mixed Case")![1]!.predicate).toMatch(/^\("Key A", "key b"\) > \(/);
    // Three workers took part.
    expect(new Set(all.map((c) => c.worker)).size).toBeGreaterThan(1);

    const tables = await asOwner<{ table_name: string; phase: string; rows_done: string }>(
      tgt,
      "select table_name, phase, rows_done from pgferry.tables order by id",
    );
    expect(tables.every((t) => t.phase === "copied")).toBe(true);
    expect(tables.find((t) => t.table_name === "parts")!.rows_done).toBe("9000");
    expect(tables.find((t) => t.table_name === "parent")!.rows_done).toBe("100");
    const copiedEvents = events.filter((e) => e.type === "table:phase" && e.phase === "copied");
    expect(copiedEvents).toHaveLength(tables.length);
    const [m] = await asOwner<{ phase: string }>(tgt, "select phase from pgferry.migration");
    expect(m!.phase).toBe("indexing");

    // The comparison itself notices one duplicated row and one changed value.
    await asOwner(
      tgt,
      "insert into app.ints (id, v) values (1, 'v1'); update app.texts set v = -v where v = 5",
    );
    await expect(assertSameContents(src, tgt)).rejects.toThrow(
      /app\.ints: source 20000 rows, target 20001 rows[\s\S]*only in target: \(1,v1,2\)[\s\S]*app\.texts/,
    );
  });

  it(`${pairLabel(pair)}: a stopped copy leaves only whole chunks, and resumes without re-copying them`, async () => {
    const { src, tgt, source, target } = await setup(pair);
    const controller = new AbortController();
    const { ctx } = context(source, target, controller.signal);
    // Slow enough (about 0.3 MB/s) to stop it half-way.
    const run = runCopy(ctx, { jobs: 2, indexJobs: 0, chunkRows: 500, maxRateMBps: 0.3 });
    for (;;) {
      const [r] = await asOwner<{ n: number }>(
        tgt,
        "select count(*)::int as n from pgferry.chunks where done",
      );
      if (r!.n >= 8) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    controller.abort();
    expect(await run).toBe(false);

    const before = (await chunks(tgt)).filter((c) => c.done);
    const notDone = (await chunks(tgt)).filter((c) => !c.done);
    expect(notDone.length).toBeGreaterThan(0);
    // Rows on the target are exactly those of the chunks marked done: the abandoned chunks rolled back.
    const [counted] = await asOwner<{ n: string }>(
      tgt,
      `select (select count(*) from app.ints) + (select count(*) from app.bigs) + (select count(*) from app.texts)
            + (select count(*) from app."Mixed Case") + (select count(*) from app.uuids) + (select count(*) from app.parts)
            + (select count(*) from app.parent) + (select count(*) from app.dropped) as n`,
    );
    expect(Number(counted!.n)).toBe(before.reduce((a, c) => a + Number(c.rows), 0));

    const again = context(source, target);
    expect(await runCopy(again.ctx, { jobs: 2, indexJobs: 0, chunkRows: 500 })).toBe(true);
    await assertSameContents(src, tgt);
    const after = await chunks(tgt);
    for (const c of before) {
      const same = after.find((a) => a.table_id === c.table_id && a.chunk_no === c.chunk_no)!;
      expect(same.done_at).toEqual(c.done_at);
      expect(same.worker).toBe(c.worker);
    }
  });
});

describe("copy stage, lost connections", () => {
  const pair = testPairs()[0]!;

  it(`${pairLabel(pair)}: a worker whose source session is killed reconnects, and the chunk is copied once`, async () => {
    const { src, tgt, source, target } = await setup(pair);
    const { ctx, events } = context(source, target);
    const run = runCopy(ctx, { jobs: 2, indexJobs: 0, chunkRows: 500, maxRateMBps: 0.5 });
    for (;;) {
      const [r] = await asOwner<{ n: number }>(
        tgt,
        "select count(*)::int as n from pgferry.chunks where done",
      );
      if (r!.n >= 4) break;
      await new Promise((res) => setTimeout(res, 30));
    }
    // As an operator (or a failover) would: end every copy session on the source. Only this
    // test's database: other tests copy on the same server at the same time, as other roles.
    const killed = await asOwner<{ ok: boolean }>(
      src,
      `select pg_terminate_backend(pid) as ok from pg_stat_activity
        where application_name = 'pgferry:copy' and datname = current_database()`,
    );
    expect(killed.length).toBeGreaterThan(0);
    expect(await run).toBe(true);
    expect(events.some((e) => e.type === "retry")).toBe(true);
    await assertSameContents(src, tgt);
  });

  it(`${pairLabel(pair)}: a table whose binary COPY the target refuses is copied as text`, async () => {
    const { src, tgt, source, target } = await setup(pair);
    // A target column of another type: the source's 4-byte integers are no bigint in binary.
    await asOwner(tgt, "alter table app.bigs alter column v type bigint");
    const { ctx, events } = context(source, target);
    expect(await runCopy(ctx, { jobs: 2, indexJobs: 0, chunkRows: 1000 })).toBe(true);
    await assertSameContents(src, tgt);
    const warnings = events.filter((e) => e.type === "log" && e.level === "warn");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      table: "app.bigs",
      message: expect.stringMatching(/binary format.*as text/),
    });
    expect(events.some((e) => e.type === "retry")).toBe(false);
  });
});
