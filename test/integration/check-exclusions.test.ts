// Issue 12, item 2: exclusions that hold. With --exclude, check names what stays in the
// migration but uses a table left out, each with a fix that works; and a pattern can name
// every real table (dots, quotes, commas, newlines), in check and in start alike.
import { describe, expect, it } from "vitest";
import { parsePatterns } from "../../src/catalog/index.js";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl, withClient } from "../../src/db/index.js";
import { isPgferryError } from "../../src/errors/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { applyPreData, dumpSchema } from "../../src/schema/index.js";
import { assertSameContents, listUserTables } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { spawnPgferry } from "../harness/pgferry-process.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

function check(source: LocalDatabase, target: LocalDatabase, exclude: string[]): Promise<CheckReport> {
  return runCheck({
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    exclude,
  });
}

function start(source: LocalDatabase, target: LocalDatabase, exclude: string[]) {
  return runMigration(streamContext(source, target), { jobs: 1, indexJobs: 1, stream: false, exclude });
}

function blockers(report: CheckReport): Finding[] {
  return report.blockers.filter((f) => !f.code.startsWith("CONNECTION_BUDGET"));
}

function only(list: Finding[], code: string): Finding[] {
  return list.filter((f) => f.code === code);
}

const SCHEMA = `
create table public.items (id int primary key, name text not null);
insert into public.items select g, 'item ' || g from generate_series(1, 30) g;
create table public.nokey (a int, b text);
insert into public.nokey select g % 5, 'x' from generate_series(1, 10) g;
create table public.parents (id int primary key);
insert into public.parents select generate_series(1, 5);
create table public.children (id int primary key, parent_id int references public.parents);
insert into public.children select g, 1 + g % 5 from generate_series(1, 12) g;
create table public.audit_log (at timestamptz default now(), what text);
create function public.rows_of_nokey() returns setof public.nokey language sql as 'select * from public.nokey';
create view public.nokey_view as select a from public.nokey;
create view public.nokey_view_2 as select a from public.nokey_view;
create function public.log_items() returns trigger language plpgsql as $$
begin
  insert into audit_log (what) values (tg_op);
  return null;
end $$;
create trigger items_audit after insert or update or delete on public.items
  for each statement execute function public.log_items();
create function public.audit_count() returns bigint language plpgsql as $$
begin return (select count(*) from public.audit_log); end $$;`;

const EXCLUDE = ["public.nokey", "public.parents", "public.audit_log"];

describe.each(testPairs())("check with --exclude, $source → $target", (pair) => {
  const label = pairLabel(pair);

  it(`${label}: names what uses an excluded table; its fixes, applied, make start succeed`, async () => {
    const [source, target, failing] = await Promise.all([
      sourceDb(pair.source),
      targetDb(pair.target),
      targetDb(pair.target),
    ]);
    await asOwner(source, SCHEMA);
    const report = await check(source, target, EXCLUDE);
    expect(report.ok).toBe(false);
    const dependents = only(blockers(report), "EXCLUDED_TABLE_DEPENDENTS");
    expect(dependents.map((f) => f.message.split(" uses ")[0]).sort()).toEqual([
      "function public.rows_of_nokey()",
      "view public.nokey_view",
      "view public.nokey_view_2",
    ]);
    // A view over a view over the table comes first: the DROPs work in the order listed.
    expect(dependents.findIndex((f) => f.message.startsWith("view public.nokey_view_2 "))).toBeLessThan(
      dependents.findIndex((f) => f.message.startsWith("view public.nokey_view ")),
    );
    for (const f of dependents) expect(f.message).toContain("public.nokey");
    // The rehearsal refuses the same two statements; the finding above already explains them.
    expect(blockers(report).filter((f) => f.code.startsWith("SCHEMA_"))).toEqual([]);
    const trigger = only(blockers(report), "EXCLUDED_TABLE_IN_TRIGGER");
    expect(trigger).toHaveLength(1);
    expect(trigger[0]!.table).toBe("public.items");
    expect(trigger[0]!.message).toContain("public.audit_log");
    expect(only(report.warnings, "EXCLUDED_TABLE_FOREIGN_KEYS")[0]!.message).toContain(
      "children_parent_id_fkey on public.children → public.parents",
    );
    expect(only(report.warnings, "EXCLUDED_TABLE_IN_FUNCTIONS")[0]!.message).toContain(
      "public.audit_count()",
    );
    // start's preflight refuses on the same blockers.
    const refused = await start(source, failing, EXCLUDE).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isPgferryError(refused)) throw refused;
    expect(refused.code).toBe("CHECK_FAILED");
    expect(refused.message).toContain("rows_of_nokey");
    // And they are no false alarm: the schema start would apply is refused on the target.
    const dump = await dumpSchema(parseConnUrl(source.url, "source"), {
      excludeTables: EXCLUDE.map((t) => ({ schema: "public", name: t.slice("public.".length) })),
    });
    const applied = await withClient(parseConnUrl(failing.url, "target"), { stage: "prepare" }, async (c) => {
      await c.query("begin");
      try {
        return await applyPreData(c, dump).then(
          () => undefined,
          (e: unknown) => e,
        );
      } finally {
        await c.query("rollback");
      }
    });
    if (!isPgferryError(applied)) throw applied;
    expect(applied.code).toBe("SCHEMA_APPLY_FAILED");
    expect(applied.message).toMatch(/rows_of_nokey|nokey_view/);

    // The fixes as printed: drop the dependents and the trigger on the source, in the order listed.
    for (const f of [...dependents, ...trigger]) {
      const drop = /(DROP (?:FUNCTION|VIEW|TRIGGER) [^;]+;)/.exec(f.fix)?.[1];
      expect(drop, f.fix).toBeDefined();
      expect(f.sql).toEqual({ side: "source", by: "owner", statements: drop });
      await asOwner(source, drop!);
    }
    const after = await check(source, target, EXCLUDE);
    expect(blockers(after)).toEqual([]);
    expect((await start(source, target, EXCLUDE)).outcome).toBe("indexed");
    await assertSameContents(source, target, { exclude: EXCLUDE });
    expect(await listUserTables(target)).toEqual(["public.children", "public.items"]);
  });

  it(`${label}: the other fix, migrating the table too, also passes check and start`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, SCHEMA);
    const report = await check(source, target, ["public.parents"]);
    expect(blockers(report)).toEqual([]);
    expect(only(report.warnings, "EXCLUDED_TABLE_FOREIGN_KEYS")).toHaveLength(1);
    expect((await start(source, target, ["public.parents"])).outcome).toBe("indexed");
    await assertSameContents(source, target, { exclude: ["public.parents"] });
  });

  it(`${label}: patterns name tables with dots, quotes, commas and newlines; start leaves out exactly those`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(
      source,
      `create schema "odd.schema";
       create table public."has.dot" (id int primary key, v text);
       create table public."has""quote" (id int primary key, v text);
       create table public."new
line" (id int primary key, v text);
       create table public."a,b" (v text);
       create table public.has (id int primary key);
       create table "odd.schema"."t" (id int primary key);
       create table public.dot (id int primary key);
       insert into public."has.dot" select g, 'd' || g from generate_series(1, 7) g;
       insert into public."has""quote" select g, 'q' || g from generate_series(1, 8) g;
       insert into public."new
line" select g, 'n' || g from generate_series(1, 9) g;
       insert into public."a,b" select 'ab' || (g % 3) from generate_series(1, 6) g;
       insert into public.has select generate_series(1, 4);
       insert into "odd.schema"."t" select generate_series(1, 3);
       insert into public.dot select generate_series(1, 2);`,
    );
    // What an operator types after --exclude (the shell has taken its quotes off).
    const flag = 'public."has.dot",public."a,b","odd.schema".*,public."new\nline"';
    const exclude = parsePatterns(flag)!;
    expect(exclude).toHaveLength(4);
    // The command line takes the same value: four tables left out, ready.
    const cli = spawnPgferry([
      "check",
      "--source",
      source.url,
      "--target",
      target.url,
      "--exclude",
      flag,
      "--json",
    ]);
    const { code } = await cli.exited;
    const json = JSON.parse(cli.stdout.join("\n")) as CheckReport;
    expect(json.totals.excludedTables).toBe(4);
    expect(blockers(json)).toEqual([]);
    expect(code).toBe(0);
    const report = await check(source, target, exclude);
    expect(blockers(report)).toEqual([]);
    const excluded = report.info.find((f) => f.code === "TABLES_EXCLUDED")!.message;
    for (const name of ["public.has.dot", "public.a,b", "odd.schema.t", "public.new\nline"])
      expect(excluded).toContain(name);
    expect((await start(source, target, exclude)).outcome).toBe("indexed");
    expect(await listUserTables(target)).toEqual(["public.dot", "public.has", 'public.has"quote']);
    await assertSameContents(source, target, {
      exclude: ["public.has.dot", "public.a,b", "odd.schema.t", "public.new\nline"],
    });
    // --tables with the same quoting: exactly the named tables migrate, a newline in a name too.
    const [source2, target2] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(
      source2,
      `create table public."has""quote" (id int primary key, v text);
       create table public."new
line" (id int primary key, v text);
       create table public.other (id int primary key);
       insert into public."has""quote" select g, 'q' || g from generate_series(1, 8) g;
       insert into public."new
line" select g, 'n' || g from generate_series(1, 9) g;`,
    );
    const only2 = parsePatterns('public."new\nline",public."has""quote"')!;
    const report2 = await runCheck({
      source: parseConnUrl(source2.url, "source"),
      target: parseConnUrl(target2.url, "target"),
      include: only2,
    });
    expect(blockers(report2)).toEqual([]);
    expect(report2.tables.map((t) => t.name).sort()).toEqual(['public.has"quote', "public.new\nline"]);
    const migrated = await runMigration(streamContext(source2, target2), {
      jobs: 1,
      indexJobs: 1,
      stream: false,
      include: only2,
    });
    expect(migrated.outcome).toBe("indexed");
    await assertSameContents(source2, target2, { tables: ['public.has"quote', "public.new\nline"] });
  });
});
