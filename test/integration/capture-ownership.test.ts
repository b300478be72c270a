import { randomBytes } from "node:crypto";
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { FENCE_DOWN_SQL, FENCE_UP_SQL } from "../../src/capture/index.js";
import { runCheck } from "../../src/check/index.js";
import { cleanup } from "../../src/cleanup/index.js";
import type { MigrationContext } from "../../src/context.js";
import { ident, literal } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { catchUp } from "../../src/stream/index.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { createWriterTables, seedWriterTables, startRandomWriter } from "../harness/random-writer.js";
import { asOwner, asSuperuser, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

// Issue 17, items 1 and 6: two migrations from one source lost data; `SET pgferry.apply = on`
// let any writer through the fence and past the capture.

const SCHEMA = `
create schema app;
create table app.accounts (id int primary key, balance int not null);
create table app.notes (id int primary key, body text);
insert into app.accounts select g, 100 from generate_series(1, 200) g;
insert into app.notes select g, 'n' || g from generate_series(1, 50) g;`;

function sqlState(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: { code?: string }) => e.code,
  );
}

/** A role that is not the owner, with DML on one table only (an app's second credential). */
async function writerRole(db: LocalDatabase): Promise<pg.Client> {
  const role = `writer_${randomBytes(4).toString("hex")}`;
  const password = randomBytes(12).toString("hex");
  await asSuperuser(db, `create role ${ident(role)} login password ${literal(password)}`);
  await asOwner(db, `grant usage on schema app to ${ident(role)}`);
  await asOwner(db, `grant select, insert, update, delete on app.notes to ${ident(role)}`);
  const url = new URL(db.url);
  url.username = role;
  url.password = password;
  return ownerSession({ url: url.toString() }, "second-role");
}

async function started(source: LocalDatabase, target: LocalDatabase): Promise<MigrationContext> {
  const ctx = streamContext(source, target);
  const out = await runMigration(ctx, { jobs: 1, indexJobs: 1, skipCheck: true, stream: false });
  expect(out.outcome).toBe("indexed");
  return ctx;
}

describe.each(testPairs())("one source, one migration (PostgreSQL %s)", (p) => {
  it(`${pairLabel(p)}: a second migration from the same source is refused, and the first loses nothing`, async () => {
    const source = await sourceDb(p.source);
    const targetB = await targetDb(p.target);
    const targetA = await targetDb(p.target);
    await asOwner(source, SCHEMA);
    await createWriterTables(source);
    await seedWriterTables(source);
    // B is started first and left without a stream (a rehearsal left behind).
    const ctxB = await started(source, targetB);
    const app = startRandomWriter(source, { clients: 2, seed: 17 });
    await asOwner(source, "update app.accounts set balance = balance + 1 where id <= 100");

    const ctxA = streamContext(source, targetA);
    const refused = await runMigration(ctxA, { jobs: 1, indexJobs: 1, skipCheck: true, stream: false }).catch(
      (e) => e,
    );
    expect(refused).toMatchObject({ code: "SOURCE_IN_USE" });
    // Refused before anything was written on A.
    expect(
      await asOwner(targetA, "select count(*)::int as n from pg_tables where schemaname = 'app'"),
    ).toEqual([{ n: 0 }]);
    const report = await runCheck({ source: ctxA.source, target: ctxA.target, requireEmptyTarget: true });
    expect(report.blockers.map((b) => b.code)).toContain("SOURCE_IN_USE");
    // cleanup through A leaves B's capture alone.
    expect(await cleanup(ctxA).catch((e) => e)).toMatchObject({ code: "SOURCE_IN_USE" });
    expect(
      await asOwner(source, "select count(*)::int as n from pg_trigger where tgname like 'pgferry%'"),
    ).not.toEqual([{ n: 0 }]);

    // B resumes and catches up: the changes made meanwhile are all there.
    await asOwner(source, "update app.accounts set balance = balance + 1 where id > 100");
    const stats = await app.stop();
    expect(stats.errors).toEqual([]);
    expect(stats.committed).toBeGreaterThan(0);
    await catchUp(ctxB);
    await assertSameContents(source, targetB);
  });

  it(`${pairLabel(p)}: a source handed to another migration by cleanup --force stops the first one`, async () => {
    const source = await sourceDb(p.source);
    const targetB = await targetDb(p.target);
    const targetA = await targetDb(p.target);
    await asOwner(source, SCHEMA);
    const ctxB = await started(source, targetB);
    const ctxA = streamContext(source, targetA);
    // B's target is gone for good: the documented way out, then A starts.
    await cleanup(ctxA, { force: true });
    await started(source, targetA);
    await asOwner(source, "update app.accounts set balance = balance + 2");
    expect(await catchUp(ctxB).catch((e) => e)).toMatchObject({ code: "SOURCE_IN_USE" });
    await catchUp(ctxA);
    await assertSameContents(source, targetA);
  });

  it(`${pairLabel(p)}: only pgferry's apply sessions pass the fence; SET pgferry.apply = on does not`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await asOwner(source, SCHEMA);
    await createWriterTables(source);
    await seedWriterTables(source);
    const ctx = await started(source, target);
    await catchUp(ctx);
    // The app writes throughout; the fence holds it off (it waits out 25006) and nothing it
    // committed escapes the log.
    const app = startRandomWriter(source, { clients: 2, seed: 23 });
    const writer = await writerRole(source);
    const owner = await ownerSession(source, "app");
    try {
      // Unfenced, both roles' writes are captured, whatever they set.
      await writer.query("set pgferry.apply = on");
      await owner.query("set pgferry.apply = on");
      await writer.query("insert into app.notes values (1001, 'writer, unfenced')");
      await owner.query("update app.accounts set balance = 0 where id = 1");
      await asOwner(source, FENCE_UP_SQL);
      for (const c of [writer, owner]) {
        expect(await sqlState(c.query("insert into app.notes values (1002, 'through the fence?')"))).toBe(
          "25006",
        );
        expect(await sqlState(c.query("delete from app.notes where id = 2"))).toBe("25006");
      }
      await writer.query("set pgferry.apply = 'a-guess'");
      expect(await sqlState(writer.query("update app.notes set body = 'x' where id = 3"))).toBe("25006");
      await asOwner(source, FENCE_DOWN_SQL);
      const stats = await app.stop();
      expect(stats.errors).toEqual([]);
      await catchUp(ctx);
      await assertSameContents(source, target);
    } finally {
      await Promise.all([writer.end(), owner.end()]);
    }
  });
});
