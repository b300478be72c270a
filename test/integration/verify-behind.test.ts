import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { runStream } from "../../src/stream/index.js";
import { verify } from "../../src/verify/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext, waitCaughtUp, waitFor } from "../harness/stream-wait.js";

/**
 * Issue 17, items 4, 10 and 3 (verify's part): verify must not call the target identical
 * while it is behind and nothing applies the log, must report a table gone from the source,
 * and a source table the migration does not carry.
 */
const SCHEMA = `
create schema app;
create table app.items (id int primary key, note text not null);
create table app.others (id int primary key, v int not null);
create table app.skipped (id int primary key);
insert into app.items values (1, 'first');
insert into app.others select g, g from generate_series(1, 20) g;`;

/** `pgferry start --no-stream --exclude app.skipped`: prepared, copied, indexed, nothing streaming. */
async function migrated(p: { source: number; target: number }): Promise<[LocalDatabase, LocalDatabase]> {
  const source = await sourceDb(p.source);
  const target = await targetDb(p.target);
  await asOwner(source, SCHEMA);
  const started = await runMigration(streamContext(source, target), {
    jobs: 1,
    indexJobs: 1,
    skipCheck: true,
    stream: false,
    exclude: ["app.skipped"],
  });
  expect(started.outcome).toBe("indexed");
  return [source, target];
}

function cliVerify(source: LocalDatabase, target: LocalDatabase) {
  return spawnSync(process.execPath, ["bin/pgferry.js", "verify", "--json"], {
    env: { ...process.env, PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url },
    encoding: "utf8",
  });
}

const FIFTY = Array.from({ length: 50 }, (_, i) => i + 1);

describe.each(testPairs())("verify while the target is behind, PostgreSQL %s", (p) => {
  it(`${pairLabel(p)}: changes nothing applies are differences, with the reason (no stream running)`, async () => {
    const [source, target] = await migrated(p);
    // The repro: 49 inserts and one update on the source, no `start` running.
    await asOwner(
      source,
      `insert into app.items select g, 'n' || g from generate_series(2, 50) g;
       update app.items set note = 'changed' where id = 1;`,
    );
    const report = await verify(streamContext(source, target), { settleTimeoutMs: 2000 });
    expect(report.identical).toBe(false);
    const items = report.tables.find((t) => t.name === "app.items")!;
    expect(items).toMatchObject({ sourceRows: 50, targetRows: 1, identical: false, moreDifferences: 0 });
    const keys = items.differences.map((d) => ("key" in d ? [d.kind, d.key["id"]] : [d.kind]));
    expect(keys.sort((a, b) => Number(a[1]) - Number(b[1]))).toEqual(
      FIFTY.map((id) => (id === 1 ? ["changed", 1] : ["missing", id])),
    );
    expect(items.notApplied?.keys).toBe(50);
    expect(items.notApplied?.reason).toMatch(/pgferry start/);
    expect(report.tables.find((t) => t.name === "app.others")).toMatchObject({ identical: true });

    // The CLI: exit 1, the reason in the JSON.
    const cli = cliVerify(source, target);
    expect(cli.status).toBe(1);
    const json = JSON.parse(cli.stdout);
    expect(json.identical).toBe(false);
    const cliItems = json.tables.find((t: { name: string }) => t.name === "app.items");
    expect(cliItems).toMatchObject({ identical: false, sourceRows: 50, targetRows: 1 });
    expect(cliItems.notApplied.reason).toMatch(/pgferry start/);

    // Once a stream applies them, the same verify says identical.
    const stop = new AbortController();
    const running = runStream(streamContext(source, target, stop.signal), { windowIntervalMs: 100 });
    try {
      await waitCaughtUp(source, target);
      const after = await verify(streamContext(source, target));
      // app.skipped was excluded at prepare: not a table the migration left behind.
      expect(after.tables.map((t) => [t.name, t.identical, t.differences])).toEqual([
        ["app.items", true, []],
        ["app.others", true, []],
      ]);
      expect(after.identical).toBe(true);
      await assertSameContents(source, target, { tables: ["app.items", "app.others"] });
    } finally {
      stop.abort();
      await running;
    }
  });

  it(`${pairLabel(p)}: a busy table while the stream runs is identical; a paused table's changes are differences`, async () => {
    const [source, target] = await migrated(p);
    const stop = new AbortController();
    const running = runStream(streamContext(source, target, stop.signal), { windowIntervalMs: 100 });
    const writer = await ownerSession(source);
    let writing = true;
    const writes = (async () => {
      // Hot rows and new ones, all through verify: every one reaches the target by the stream.
      for (let i = 0; writing; i++) {
        await writer.query("update app.items set note = $1 where id = 1", [`hot ${i}`]);
        await writer.query("insert into app.items values ($1, 'new')", [1000 + i]);
      }
    })();
    try {
      await waitCaughtUp(source, target);
      const busy = await verify(streamContext(source, target), { rangeRows: 10, settleTimeoutMs: 60_000 });
      writing = false;
      await writes;
      expect(busy.tables.map((t) => [t.name, t.identical, t.differences, t.notApplied])).toEqual([
        ["app.items", true, [], undefined],
        ["app.others", true, [], undefined],
      ]);
      await waitCaughtUp(source, target);
      await assertSameContents(source, target, { tables: ["app.items", "app.others"] });

      // DDL pauses app.others; a row inserted after it is not applied, and verify says why.
      await asOwner(
        source,
        "alter table app.others add column extra text; insert into app.others values (21, 21, 'x')",
      );
      await waitFor("app.others paused", async () => {
        const [row] = await asOwner<{ phase: string }>(
          target,
          "select phase from pgferry.tables where table_name = 'others'",
        );
        return row?.phase === "paused";
      });
      const paused = await verify(streamContext(source, target), { settleTimeoutMs: 60_000 });
      expect(paused.identical).toBe(false);
      const others = paused.tables.find((t) => t.name === "app.others")!;
      expect(others).toMatchObject({
        identical: false,
        sourceRows: 21,
        targetRows: 20,
        differences: [{ kind: "missing", key: { id: 21 } }],
        notApplied: {
          keys: 1,
          reason: expect.stringMatching(/paused: DDL on the source: column "extra" added/),
        },
      });
      expect(paused.tables.find((t) => t.name === "app.items")).toMatchObject({ identical: true });
    } finally {
      writing = false;
      await writes;
      await writer.end();
      stop.abort();
      await running;
    }
  });

  it(`${pairLabel(p)}: a table dropped on the source and a table created after prepare are differences`, async () => {
    const [source, target] = await migrated(p);
    await asOwner(
      source,
      `drop table app.others;
       create table app.fresh (id int primary key);
       insert into app.fresh select generate_series(1, 7);
       create table app.nokey (v text);`,
    );
    const report = await verify(streamContext(source, target));
    expect(report.identical).toBe(false);
    expect(
      report.tables.map((t) => [t.name, t.identical, t.sourceRows, t.targetRows, t.differences]),
    ).toEqual([
      ["app.items", true, 1, 1, []],
      ["app.others", false, 0, 20, [{ kind: "missing_source_table" }]],
      // app.skipped was excluded at prepare: not reported.
      ["app.fresh", false, 7, 0, [{ kind: "unmigrated_table" }]],
      ["app.nokey", false, 0, 0, [{ kind: "unmigrated_table" }]],
    ]);
    // The CLI: exit 1 (not an internal error), both named.
    const cli = cliVerify(source, target);
    expect(cli.stderr).not.toMatch(/INTERNAL/);
    expect(cli.status).toBe(1);
    expect(JSON.parse(cli.stdout).tables.map((t: { name: string }) => t.name)).toEqual([
      "app.items",
      "app.others",
      "app.fresh",
      "app.nokey",
    ]);
  });
});
