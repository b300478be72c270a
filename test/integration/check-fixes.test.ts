// Issue 12, item 7: fix texts that work. Each fix below is run on a real server exactly as
// check prints it; check then passes and start --no-stream succeeds.
import { describe, expect, it } from "vitest";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

function check(source: LocalDatabase, target: LocalDatabase): Promise<CheckReport> {
  return runCheck({ source: parseConnUrl(source.url, "source"), target: parseConnUrl(target.url, "target") });
}

function start(source: LocalDatabase, target: LocalDatabase) {
  return runMigration(streamContext(source, target), { jobs: 1, indexJobs: 1, stream: false });
}

function blockers(report: CheckReport): Finding[] {
  return report.blockers.filter((f) => !f.code.startsWith("CONNECTION_BUDGET"));
}

/** The SQL a fix prints after its colon (up to " or " when it offers an alternative). */
function printedSql(fix: string): string {
  const sql = fix.slice(fix.indexOf(": ") + 2);
  const alt = sql.search(/; or /);
  return alt >= 0 ? sql.slice(0, alt + 1) : sql;
}

describe.each(testPairs())("check's fixes, run as printed, $source → $target", (pair) => {
  const label = pairLabel(pair);

  it(`${label}: an extension that needs another, in a schema the target lacks`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    // earthdistance needs cube and is not trusted: only an administrator creates it.
    await asSuperuser(
      source,
      `create schema extras;
       create extension cube schema extras;
       create extension earthdistance schema extras;
       grant usage on schema extras to public;`,
    );
    await asOwner(
      source,
      `set search_path = public, extras;
       create table public.places (id int primary key, at extras.earth);
       insert into public.places select g, extras.ll_to_earth(g, g) from generate_series(1, 9) g;`,
    );
    const before = await check(source, target);
    const ext = blockers(before).filter((f) => f.code === "EXTENSION_NOT_CREATABLE");
    expect(ext).toHaveLength(1);
    expect(ext[0]!.message).toContain("earthdistance");
    const sql = printedSql(ext[0]!.fix);
    expect(sql).toBe(
      `CREATE SCHEMA IF NOT EXISTS extras AUTHORIZATION ${target.role}; CREATE EXTENSION IF NOT EXISTS cube SCHEMA extras; CREATE EXTENSION IF NOT EXISTS earthdistance SCHEMA extras CASCADE;`,
    );
    // Without the schema and cube first, the statement check used to print fails.
    await expect(asSuperuser(target, "create extension earthdistance")).rejects.toThrow(/cube/);
    await asSuperuser(target, sql);
    expect(blockers(await check(source, target))).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    await assertSameContents(source, target);
  });

  it(`${label}: source privileges granted as printed (by the tables' owner)`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asSuperuser(
      source,
      `create role elsewhere_${source.database} nologin;
       create table public."Odd.owned" (id int primary key);
       insert into public."Odd.owned" select generate_series(1, 4);
       alter table public."Odd.owned" owner to elsewhere_${source.database};`,
    );
    await asOwner(
      source,
      "create table public.mine (id int primary key); insert into public.mine values (1)",
    );
    const before = await check(source, target);
    // pg_dump cannot lock the table either: the dump fails until it may read it.
    expect(
      blockers(before)
        .map((f) => f.code)
        .sort(),
    ).toEqual(["SCHEMA_DUMP_FAILED", "SOURCE_CANNOT_READ", "SOURCE_CANNOT_TRIGGER"]);
    const found = blockers(before).filter((f) => f.code.startsWith("SOURCE_"));
    for (const f of found) {
      expect(f.fix).toContain(`--exclude 'public."Odd.owned"'`);
      await asSuperuser(source, `set role elsewhere_${source.database}; ${printedSql(f.fix)}`);
    }
    expect(blockers(await check(source, target))).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    await assertSameContents(source, target);
  });

  it(`${label}: a target role without CREATE on its database, granted as printed`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(
      source,
      "create schema app; create table app.t (id int primary key); insert into app.t values (1), (2)",
    );
    await asSuperuser(target, `revoke create on database ${target.database} from ${target.role}`);
    const before = await check(source, target);
    const found = blockers(before).find((f) => f.code === "TARGET_CANNOT_CREATE_SCHEMA")!;
    expect(found.message).toContain("app");
    await asSuperuser(target, printedSql(found.fix));
    expect(blockers(await check(source, target))).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    await assertSameContents(source, target);
  });
});

// adminpack ships with PostgreSQL up to 16 and is gone from 17: on such a pair the source has
// an extension the target cannot offer, and the fix's fallback (drop it) must work as printed.
const acrossAdminpack = testPairs().filter((p) => p.source < 17 && p.target >= 17);
describe.each(acrossAdminpack)("check's fix for an extension the target lacks, $source → $target", (pair) => {
  it(`${pairLabel(pair)}: EXTENSION_MISSING, then the extension dropped on the source as printed`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asSuperuser(source, "create extension adminpack");
    await asOwner(
      source,
      "create table public.kept (id int primary key); insert into public.kept values (1), (2)",
    );
    const before = await check(source, target);
    const missing = blockers(before).filter((f) => f.code === "EXTENSION_MISSING");
    expect(missing.map((f) => f.message)).toEqual([expect.stringContaining("adminpack")]);
    const sql = printedSql(missing[0]!.fix);
    expect(sql).toMatch(/^DROP EXTENSION "?adminpack"?;$/);
    // The extension's owner (the administrator who created it) runs it.
    await asSuperuser(source, sql);
    expect(blockers(await check(source, target))).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    await assertSameContents(source, target);
  });
});
