import { afterEach, describe, expect, it } from "vitest";
import type { MigrationContext } from "../../src/context.js";
import { runCopy } from "../../src/copy/index.js";
import {
  type ConnInfo,
  connect,
  isTransient,
  parseConnUrl,
  stallOf,
  withClient,
} from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { insertTables, selectTables } from "../../src/prepare/index.js";
import type { PgferryEvent } from "../../src/progress/events.js";
import { ensureControlSchema } from "../../src/state/index.js";
import { runStream } from "../../src/stream/index.js";
import { assertSameContents } from "../harness/compare.js";
import { type FreezeProxy, startFreezeProxy } from "../harness/freeze-proxy.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { createWriterTables, seedWriterTables, startRandomWriter } from "../harness/random-writer.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";
import { setupStream } from "../harness/stream-setup.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

// Issue 17, item 7: a half-open path (packets silently dropped, sockets open) hung `start`
// forever. Every session here stalls out within a few seconds (the bound is an option; 60 s
// by default), through a proxy that can freeze the path.
const STALL_S = 4;
process.env["PGFERRY_STALL_TIMEOUT"] = String(STALL_S);

const pair = testPairs()[0]!;
const proxies: FreezeProxy[] = [];

async function proxied(
  db: LocalDatabase,
  side: "source" | "target",
): Promise<{ proxy: FreezeProxy; info: ConnInfo }> {
  const proxy = await startFreezeProxy(db.server.host, db.server.port);
  proxies.push(proxy);
  return { proxy, info: parseConnUrl(proxy.url(db.url), side) };
}

afterEach(async () => {
  for (const p of proxies.splice(0)) await p.close();
});

function stalls(events: PgferryEvent[], side: "source" | "target") {
  return events.filter((e) => e.type === "stall" && e.side === side);
}

const COPY_TABLES = `
create schema app;
create table app.ints (id int primary key, v text, pad text);
create table app.texts (k text primary key, v int);
`;
const COPY_DATA = `
insert into app.ints select i, 'v' || i, repeat('x', 200) from generate_series(1, 30000) i;
insert into app.texts select md5(i::text), i from generate_series(1, 5000) i;
`;

describe("stalls on a half-open path (issue 17, item 7)", () => {
  it(`${pairLabel(pair)}: a query on a frozen connection rejects as a transient stall despite its statement_timeout, a long statement does not`, async () => {
    const tgt = await targetDb(pair.target);
    const { proxy, info } = await proxied(tgt, "target");
    const client = await connect(info, { stage: "verify", statementTimeoutMs: 600_000 });
    try {
      // A statement silent for longer than the bound, on a live path, is left alone: the
      // probe finds the server working on it (as for an index build that runs for hours).
      const slept = await client.query(`select 1 as one from pg_sleep(${STALL_S * 2})`);
      expect(slept.rows[0].one).toBe(1);
      proxy.freeze();
      // The server's statement_timeout (10 min) is not what ends this: the client's watchdog is.
      const err = await client.query("select 1").catch((e: unknown) => e);
      expect(stallOf(err)).toMatchObject({ side: "target", waiting: 'pgferry:verify "select 1"' });
      expect(isTransient(err)).toBe(true);
    } finally {
      proxy.thaw();
      await client.end();
    }
    // The path is back: a new session works.
    const again = await connect(info, { stage: "verify" });
    expect((await again.query("select 1 as one")).rows[0].one).toBe(1);
    await again.end();
  });

  it(`${pairLabel(pair)}: copy: the target path freezes mid-copy, a stall is reported, the copy finishes after the thaw`, async () => {
    const src = await sourceDb(pair.source);
    const tgt = await targetDb(pair.target);
    await asOwner(src, COPY_TABLES + COPY_DATA);
    await asOwner(tgt, COPY_TABLES);
    const source = parseConnUrl(src.url, "source");
    const { proxy, info: target } = await proxied(tgt, "target");
    await withClient(target, { stage: "prepare" }, async (t) => {
      await ensureControlSchema(t);
      await t.query(
        "insert into pgferry.migration (source_display, source_identity, phase) values ($1, '{}', 'copying')",
        [source.display],
      );
      await withClient(source, { stage: "prepare" }, async (s) => {
        await insertTables(t, (await selectTables(s, { include: ["app.*"] })).chosen);
      });
    });
    const events: PgferryEvent[] = [];
    const ctx: MigrationContext = {
      source,
      target,
      emit: (e) => void events.push(e),
      signal: new AbortController().signal,
    };
    // Slow (about 1 MB/s), so the freeze lands mid-copy.
    const run = runCopy(ctx, { jobs: 2, indexJobs: 1, chunkRows: 1000, maxRateMBps: 1 });
    const settled = run.then(
      () => true,
      () => true,
    );
    await waitFor("a few chunks copied", async () => {
      const [r] = await asOwner<{ n: number }>(
        tgt,
        "select count(*)::int as n from pgferry.chunks where done",
      );
      return r!.n >= 3;
    });
    proxy.freeze();
    await waitFor(
      "a stall on the target",
      async () => stalls(events, "target").length > 0 || (await isDone(settled)),
      120_000,
    );
    expect(stalls(events, "target").length).toBeGreaterThan(0);
    expect(events).toContainEqual(expect.objectContaining({ type: "retry", side: "target" }));
    proxy.thaw();
    expect(await run).toBe(true);
    await assertSameContents(src, tgt);
  });

  it(`${pairLabel(pair)}: stream: the source path freezes while the app writes, a stall is reported, the stream catches up after the thaw`, async () => {
    const sourceDirect = await sourceDb(pair.source);
    const target = await targetDb(pair.target);
    await createWriterTables(sourceDirect);
    await createWriterTables(target);
    await seedWriterTables(sourceDirect, 60);
    const setup = await setupStream(sourceDirect, target, ["rw"]);
    await setup.copyAll();
    const { proxy } = await proxied(sourceDirect, "source");
    // pgferry reaches the source through the proxy; the app does not.
    const source = { ...sourceDirect, url: proxy.url(sourceDirect.url) };
    const writer = startRandomWriter(sourceDirect, { clients: 2, seed: pair.source, pauseMs: 20 });
    const stop = new AbortController();
    const ctx = streamContext(source, target, stop.signal);
    const running = runStream(ctx, { windowIntervalMs: 100, statusIntervalMs: 300 });
    const settled = running.then(
      () => true,
      () => true,
    );
    try {
      await waitCaughtUp(sourceDirect, target);
      proxy.freeze();
      await waitFor(
        "a stall on the source",
        async () => stalls(ctx.events, "source").length > 0 || (await isDone(settled)),
        120_000,
      );
      expect(stalls(ctx.events, "source").length).toBeGreaterThan(0);
      proxy.thaw();
      const stats = await writer.stop();
      expect(stats.errors).toEqual([]);
      expect(stats.committed).toBeGreaterThan(20);
      await waitCaughtUp(sourceDirect, target, 120_000);
      await assertSameContents(sourceDirect, target);
    } finally {
      proxy.thaw();
      await writer.stop();
      stop.abort();
      await running;
    }
  });
});

async function isDone(p: Promise<boolean>): Promise<boolean> {
  return Promise.race([p, new Promise<boolean>((r) => setImmediate(() => r(false)))]);
}
