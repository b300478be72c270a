import { describe, expect, it } from "vitest";
import { fenceState } from "../../src/capture/index.js";
import { cutover } from "../../src/cutover/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { runStream } from "../../src/stream/index.js";
import { addTables, removeTables } from "../../src/tables/index.js";
import { verify } from "../../src/verify/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import {
  createWriterTables,
  seedWriterTables,
  startRandomWriter,
  WRITER_TABLES,
  type WriterTable,
} from "../harness/random-writer.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

/**
 * Issue 17, items 3 and 10: a table created on the source while the migration streams is
 * refused by the cutover (before any fence) until `tables add` brings it in; a table dropped
 * on the source is taken out by `tables remove`, after which the cutover proceeds.
 */
async function streamingMigration(p: { source: number; target: number }) {
  const source = await sourceDb(p.source);
  const target = await targetDb(p.target);
  await createWriterTables(source);
  await seedWriterTables(source, 60, p.source);
  const started = await runMigration(streamContext(source, target), {
    jobs: 1,
    indexJobs: 1,
    skipCheck: true,
    stream: false,
  });
  expect(started.outcome).toBe("indexed");
  const stop = new AbortController();
  const ctx = streamContext(source, target, stop.signal);
  const stream = runStream(ctx, { windowIntervalMs: 100 });
  await waitCaughtUp(source, target);
  // The cutover needs a heartbeat applied (its lag bound).
  await waitFor("a heartbeat on the target", async () => {
    const [m] = await asOwner<{ beat: Date | null }>(
      target,
      "select heartbeat_at as beat from pgferry.migration",
    );
    return m?.beat !== null && m?.beat !== undefined;
  });
  return { source, target, ctx, stop, stream };
}

async function refusal(work: Promise<unknown>): Promise<{ code?: string; message: string; hint?: string }> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e as { code?: string; message: string; hint?: string },
  );
  if (!err) throw new Error("expected a refusal");
  return err;
}

/** A writer on one extra table: inserts, updates and deletes, until stopped. */
function tableWriter(db: LocalDatabase, table: string) {
  let writing = true;
  const done = (async () => {
    const c = await ownerSession(db);
    try {
      for (let i = 0; writing; i++) {
        await c.query(`insert into ${table} (v) values ($1)`, [`v${i}`]);
        if (i % 3 === 0)
          await c.query(`update ${table} set v = v || '+' where id = (select max(id) - 1 from ${table})`);
        if (i % 7 === 0) await c.query(`delete from ${table} where id = (select min(id) from ${table})`);
      }
    } finally {
      await c.end();
    }
  })();
  return {
    stop: async () => {
      writing = false;
      await done;
    },
  };
}

describe.each(testPairs())("tables joining and leaving a running migration, PostgreSQL %s", (p) => {
  it(`${pairLabel(p)}: a new source table blocks the cutover until \`tables add\` brings it in`, async () => {
    const { source, target, ctx, stop, stream } = await streamingMigration(p);
    const writer = startRandomWriter(source, { clients: 2, seed: p.source, pauseMs: 10 });
    let fresh: { stop(): Promise<void> } | undefined;
    try {
      await asOwner(
        source,
        `create table rw.fresh (id serial primary key, v text not null, at timestamptz default now());
         create index fresh_v on rw.fresh (v);
         insert into rw.fresh (v) select 'seed ' || g from generate_series(1, 500) g;`,
      );
      fresh = tableWriter(source, "rw.fresh");
      // The cutover refuses before anything is fenced: the application never noticed.
      const err = await refusal(
        cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true }),
      );
      expect(err.code).toBe("NEW_TABLES");
      expect(err.message).toContain("rw.fresh");
      expect(err.hint).toContain("pgferry tables add rw.fresh");
      expect(await fenceOf(source)).toBe("down");
      const [m] = await asOwner<{ phase: string; fence: Date | null }>(
        target,
        "select phase, fence_raised_at as fence from pgferry.migration",
      );
      expect(m).toEqual({ phase: "streaming", fence: null });
      // The running stream says so, and status shows it.
      await waitFor("the new-table event", async () => {
        const rows = await asOwner(target, "select 1 from pgferry.events where kind = 'new-table'");
        return rows.length > 0;
      });

      // A name with a dot and a quote in it, given as `status` and the printed fixes write it.
      await asOwner(
        source,
        `create table rw."fresh.do""t" (id int primary key, v text);
         insert into rw."fresh.do""t" select g, 'dot ' || g from generate_series(1, 200) g;`,
      );
      const added = await addTables(streamContext(source, target), ["rw.fresh", 'rw."fresh.do""t"']);
      expect(added.added.map((t) => t.name)).toEqual(["rw.fresh", 'rw."fresh.do""t"']);
      await asOwner(source, `update rw."fresh.do""t" set v = v || '+' where id % 10 = 0`);
      expect(added.copy).toBe("done");
      await waitCaughtUp(source, target);
      await fresh.stop();
      fresh = undefined;
      const stats = await writer.stop();
      expect(stats.errors).toEqual([]);
      expect(stats.fenced).toBe(0);
      await waitCaughtUp(source, target);
      await assertSameContents(source, target);
      const report = await verify(streamContext(source, target));
      expect(report.tables.filter((t) => !t.identical)).toEqual([]);
      expect(report.identical).toBe(true);
      const done = await cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true });
      expect(done.switchedAt).toBeInstanceOf(Date);
      await assertSameContents(source, target);
    } finally {
      await fresh?.stop();
      await writer.stop();
      stop.abort();
      await stream.catch(() => {});
    }
    expect(
      ctx.events.some((e) => e.type === "log" && e.table === "rw.fresh" && /tables add/.test(e.message)),
    ).toBe(true);
  });

  it(`${pairLabel(p)}: a table dropped on the source is taken out with \`tables remove\`, then the cutover proceeds`, async () => {
    const { source, target, stop, stream } = await streamingMigration(p);
    const busy = WRITER_TABLES.filter((t): t is WriterTable => t !== "uniq");
    const writer = startRandomWriter(source, { clients: 2, seed: p.target, pauseMs: 10, tables: busy });
    try {
      const [{ id }] = (await asOwner<{ id: number }>(
        target,
        "select id from pgferry.tables where schema_name = 'rw' and table_name = 'uniq'",
      )) as [{ id: number }];
      await asOwner(source, "drop table rw.uniq");
      await waitFor("rw.uniq paused", async () => {
        const [t] = await asOwner<{ phase: string }>(
          target,
          "select phase from pgferry.tables where id = $1",
          [id],
        );
        return t?.phase === "paused";
      });
      const err = await refusal(
        cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true }),
      );
      expect(err.code).toBe("NOT_STREAMING");
      expect(err.message).toContain("rw.uniq");

      const removed = await removeTables(streamContext(source, target), ["rw.uniq"]);
      expect(removed.removed).toEqual(["rw.uniq"]);
      // Nothing of it is left in the control tables or in the source's capture.
      const [control] = await asOwner<{ n: number }>(
        target,
        `select (select count(*) from pgferry.tables where id = $1)
              + (select count(*) from pgferry.chunks where table_id = $1)
              + (select count(*) from pgferry.post_data where table_id = $1) as n`,
        [id],
      );
      expect(Number(control!.n)).toBe(0);
      const [capture] = await asOwner<{ fns: number; changes: number }>(
        source,
        `select (select count(*) from pg_proc where pronamespace = 'pgferry'::regnamespace
                   and proname like $2)::int as fns,
                (select count(*) from pgferry.changes where tbl = $1)::int as changes`,
        [id, `capture\\_${id}\\_%`],
      );
      expect(capture).toEqual({ fns: 0, changes: 0 });
      const [m] = await asOwner<{ exclude: string[] }>(
        target,
        "select options->'exclude' as exclude from pgferry.migration",
      );
      expect(m!.exclude).toEqual(["rw.uniq"]);

      // A new table whose name holds a dot, left out deliberately: its exact pattern is stored,
      // so the cutover no longer sees it as new.
      await asOwner(source, `create table rw."late.one" (id int primary key)`);
      const late = await removeTables(streamContext(source, target), ['rw."late.one"']);
      expect(late.excluded).toEqual(['rw."late.one"']);
      const [m2] = await asOwner<{ exclude: string[] }>(
        target,
        "select options->'exclude' as exclude from pgferry.migration",
      );
      expect(m2!.exclude).toEqual(["rw.uniq", 'rw."late.one"']);

      const stats = await writer.stop();
      expect(stats.errors).toEqual([]);
      await waitCaughtUp(source, target);
      const report = await verify(streamContext(source, target));
      expect(report.tables.map((t) => t.name)).not.toContain("rw.uniq");
      expect(report.identical).toBe(true);
      await assertSameContents(source, target, { exclude: ["rw.late.one"] });
      const done = await cutover(streamContext(source, target), { maxLagSeconds: 60, manualSwitch: true });
      expect(done.switchedAt).toBeInstanceOf(Date);
      await assertSameContents(source, target, { exclude: ["rw.late.one"] });
    } finally {
      await writer.stop();
      stop.abort();
      await stream.catch(() => {});
    }
  });
});

async function fenceOf(db: LocalDatabase): Promise<string> {
  const c = await ownerSession(db);
  try {
    return await fenceState(c);
  } finally {
    await c.end();
  }
}
