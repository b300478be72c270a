// Issue 12, item 3: values that point outside the database. Columns of the OID alias types
// (regrole, regclass, …) are copied as names, so a name the target lacks failed the copy
// midway; check now reads their distinct values and names the missing ones. And the roles
// that policies and grants name: what start carries of them, and what it does not.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import { isPgferryError } from "../../src/errors/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

function check(source: LocalDatabase, target: LocalDatabase, exclude: string[] = []): Promise<CheckReport> {
  return runCheck({
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    exclude,
  });
}

function start(
  source: LocalDatabase,
  target: LocalDatabase,
  extra: { exclude?: string[]; skipCheck?: boolean } = {},
) {
  return runMigration(streamContext(source, target), { jobs: 1, indexJobs: 1, stream: false, ...extra });
}

function blockers(report: CheckReport): Finding[] {
  return report.blockers.filter((f) => !f.code.startsWith("CONNECTION_BUDGET"));
}

/** A role name no other test uses (roles belong to the whole server). */
const roleName = (prefix: string) => `${prefix}_${randomBytes(4).toString("hex")}`;

describe.each(testPairs())("check and what values and grants name, $source → $target", (pair) => {
  const label = pairLabel(pair);

  it(`${label}: reg* values naming roles or objects the target lacks are named before any copy`, async () => {
    const [source, target, other, unchecked] = await Promise.all([
      sourceDb(pair.source),
      targetDb(pair.target),
      sourceDb(pair.source),
      targetDb(pair.target),
    ]);
    const [solo, inArray] = [roleName("only_src"), roleName("only_src_arr")];
    await asSuperuser(source, `create role ${solo} nologin; create role ${inArray} nologin`);
    const schema = `create type public.mood as enum ('ok', 'sad');
       create function public.f(int) returns int language sql as 'select $1';
       create text search configuration public.mycfg (copy = english);
       create table public.gone (id int primary key);
       create table public.refs (id int primary key, r regrole, c regclass, t regtype, p regprocedure,
                                 cfg regconfig, rs regrole[]);
       insert into public.refs values
         (1, '${solo}', 'public.refs', 'public.mood', 'public.f(integer)', 'public.mycfg', array['${inArray}']::regrole[]),
         (2, 'pg_monitor', 'public.gone', 'integer', 'now()', 'english', array['pg_monitor']::regrole[]),
         (3, null, null, null, null, null, null);`;
    await asOwner(source, schema);
    await asOwner(other, schema);
    const report = await check(source, target, ["public.gone"]);
    const missing = blockers(report).filter((f) => f.code === "REFERENCED_OBJECT_MISSING");
    const byColumn = new Map(missing.map((f) => [/^Column (\w+)/.exec(f.message)![1]!, f]));
    expect([...byColumn.keys()].sort()).toEqual(["c", "r", "rs"]);
    expect(byColumn.get("r")!.message).toContain(solo);
    expect(byColumn.get("r")!.message).not.toContain("pg_monitor");
    expect(byColumn.get("rs")!.fix).toContain(`CREATE ROLE ${inArray} NOLOGIN;`);
    // A table left out is not on the target when the copy runs; the migrated ones are.
    expect(byColumn.get("c")!.message).toContain("gone");
    expect(byColumn.get("c")!.message).not.toContain("refs,");

    // No false alarm: without the preflight, the copy fails on those rows.
    const failed = await start(other, unchecked, { exclude: ["public.gone"], skipCheck: true }).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isPgferryError(failed)) throw failed;
    expect(failed.message).toMatch(new RegExp(`(${solo}|${inArray}|gone).*does not exist`));

    // The fixes: create the roles as printed; migrate the table the regclass names.
    for (const col of ["r", "rs"]) {
      for (const sql of byColumn.get(col)!.fix.match(/CREATE ROLE [^;]+;/g)!) await asSuperuser(target, sql);
    }
    const after = await check(source, target);
    expect(blockers(after)).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    await assertSameContents(source, target);
  });

  it(`${label}: roles named by policies are blockers with CREATE ROLE; grants are not carried and check prints them`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    const [reader, other] = [roleName("reader"), roleName("owner2")];
    await asSuperuser(source, `create role ${reader} nologin; create role ${other} nologin`);
    await asOwner(
      source,
      `create table public.secure (id int primary key, note text);
       insert into public.secure select g, 'n' || g from generate_series(1, 5) g;
       alter table public.secure enable row level security;
       create policy only_reader on public.secure for select to ${reader} using (true);
       grant select, update on public.secure to ${reader};
       create sequence public.counter;
       grant usage on sequence public.counter to ${reader};
       create function public.visible() returns int language sql as 'select 1';`,
    );
    await asSuperuser(source, `alter function public.visible() owner to ${other}`);
    const report = await check(source, target);
    const policy = blockers(report).find((f) => f.code === "SCHEMA_MISSING_DEPENDENCY");
    expect(policy?.message).toContain("only_reader");
    expect(policy?.fix).toContain(`CREATE ROLE ${reader} NOLOGIN;`);
    const grants = report.warnings.find((f) => f.code === "PRIVILEGES_NOT_CARRIED")!;
    expect(grants.message).toContain(reader);
    expect(grants.fix).toContain(`GRANT SELECT, UPDATE ON TABLE public.secure TO ${reader};`);
    expect(grants.fix).toContain(`GRANT USAGE ON SEQUENCE public.counter TO ${reader};`);
    const owners = report.info.find((f) => f.code === "OWNERS_NOT_CARRIED")!;
    expect(owners.message).toContain(other);

    // The blocker's fix, then start; then the grants' fix, run on the target as printed.
    await asSuperuser(target, /CREATE ROLE [^;]+;/.exec(policy!.fix)![0]);
    expect(blockers(await check(source, target))).toEqual([]);
    expect((await start(source, target)).outcome).toBe("indexed");
    // The role exists by now (the policy's fix made it); the GRANTs run as the target's owner.
    await asOwner(target, grants.fix.slice(grants.fix.indexOf("GRANT")));
    const privileges = await asOwner(
      target,
      `select has_table_privilege($1, 'public.secure', 'SELECT') as sel,
              has_table_privilege($1, 'public.secure', 'UPDATE') as upd,
              has_table_privilege($1, 'public.secure', 'DELETE') as del,
              has_sequence_privilege($1, 'public.counter', 'USAGE') as seq`,
      [reader],
    );
    expect(privileges).toEqual([{ sel: true, upd: true, del: false, seq: true }]);
    await assertSameContents(source, target);
  });
});
