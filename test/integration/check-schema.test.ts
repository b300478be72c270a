// Issue 12: check said "ready" and start then failed applying the schema. check now tries the
// schema on the target (in a transaction it rolls back) and lists every statement refused.
import { describe, expect, it } from "vitest";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import { isPgferryError } from "../../src/errors/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { EXCLUDED, freshPair } from "../fixtures/schema/setup.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, asSuperuser, ownerSession, sourceDb, targetDb } from "../harness/servers.js";
import { streamContext } from "../harness/stream-wait.js";

function check(
  source: LocalDatabase,
  target: LocalDatabase,
  extra: Partial<Parameters<typeof runCheck>[0]> = {},
) {
  return runCheck({
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    ...extra,
  });
}

function blockers(report: CheckReport): Finding[] {
  return report.blockers.filter((f) => !f.code.startsWith("CONNECTION_BUDGET"));
}

function one(list: Finding[], code: string, text: string): Finding {
  const found = list.filter((f) => f.code === code && (f.message.includes(text) || f.fix.includes(text)));
  if (found.length !== 1)
    throw new Error(`expected one ${code} about ${text} in ${JSON.stringify(list, null, 1)}`);
  return found[0]!;
}

/** start --no-stream: prepare (its own preflight included), copy, index. */
async function start(source: LocalDatabase, target: LocalDatabase, exclude: string[] = []) {
  return runMigration(streamContext(source, target), { jobs: 1, indexJobs: 1, stream: false, exclude });
}

// Objects only a superuser may create on the target; the source is Heroku-like, so they are
// created there by the superuser as well (test setup only).
const ADMIN_ONLY = `
create function public.capped() returns int language sql set temp_file_limit = '1GB' as 'select 1';
create function public.lo_manage_copy() returns trigger language c as '$libdir/lo', 'lo_manage';
create extension postgres_fdw;
create server remote foreign data wrapper postgres_fdw options (host 'localhost', dbname 'elsewhere');
create foreign table public.remote_items (id int) server remote options (table_name 'items');`;

const PLAIN = `
create table public.items (id int primary key, name text not null);
insert into public.items select g, 'item ' || g from generate_series(1, 20) g;`;

const C_FUNCTION =
  "CREATE FUNCTION public.lo_manage_copy() RETURNS trigger\n    LANGUAGE c\n    AS '$libdir/lo', 'lo_manage';";

describe.each(testPairs())("check tries the schema on the target, $source → $target", (pair) => {
  const label = pairLabel(pair);

  it(`${label}: lists every refused statement, grouped by cause, each with its fix`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, PLAIN);
    await asSuperuser(source, ADMIN_ONLY);
    await asOwner(
      source,
      `create function public.json_identity(json json) returns json language sql immutable as $$ select json $$;
       create view public.item_names as select name from public.items;`,
    );
    // The wrapper exists on the target (an administrator installed it); using it is not granted.
    await asSuperuser(target, "create extension postgres_fdw");
    const report = await check(source, target);
    expect(report.ok).toBe(false);
    const list = blockers(report);
    const param = one(list, "SCHEMA_NEEDS_PRIVILEGE", "temp_file_limit");
    expect(param.message).toContain("public.capped()");
    expect(param.fix).toContain(`GRANT SET ON PARAMETER temp_file_limit TO ${target.role}`);
    const lang = one(list, "SCHEMA_NEEDS_PRIVILEGE", "language c");
    expect(lang.message).toContain("public.lo_manage_copy()");
    expect(lang.fix).toContain(C_FUNCTION);
    const fdw = one(list, "SCHEMA_NEEDS_PRIVILEGE", "foreign-data wrapper");
    expect(fdw.fix).toContain(`GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO ${target.role}`);
    // The foreign table follows its refused server.
    expect(one(list, "SCHEMA_MISSING_DEPENDENCY", "remote_items").message).toContain("server");
    const syntax = list.filter((f) => f.code === "SCHEMA_SYNTAX_REJECTED");
    // pg_dump 15 prints the parameter name json bare; PostgreSQL 17 made it a key word there.
    if (pair.target >= 17) {
      expect(syntax).toHaveLength(1);
      expect(syntax[0]!.message).toContain("json_identity");
      expect(syntax[0]!.fix).toContain("--pg-dump");
      expect(syntax[0]!.fix).not.toMatch(/extension|role/);
    } else {
      expect(syntax).toEqual([]);
    }
    expect(report.warnings.map((w) => w.code)).toContain("PG_DUMP_OLDER_THAN_TARGET");
    // Nothing of the rehearsal is left on the target.
    const left = await asOwner<{ n: number }>(
      target,
      "select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'",
    );
    expect(left[0]!.n).toBe(0);
    // start refuses the same schema at its first refusal, naming the statement and the cause.
    const err = await start(source, target).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!isPgferryError(err)) throw err;
    expect(err.code).toBe("SCHEMA_APPLY_FAILED");
    expect(err.message).toContain("public.capped()");
    expect(err.hint).toContain(`GRANT SET ON PARAMETER temp_file_limit TO ${target.role}`);
  });

  it(`${label}: a name pg_dump prints bare that the target parses as a key word`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(
      source,
      `${PLAIN} create function public.json_identity(json json) returns json language sql immutable as $$ select json $$;`,
    );
    const report = await check(source, target);
    const result = await start(source, target).then(
      (r) => r.outcome,
      (e: unknown) => e,
    );
    if (pair.target < 17) {
      // Done-when property of issue 12: check passes, so start succeeds.
      expect(blockers(report)).toEqual([]);
      expect(result).toBe("indexed");
      return;
    }
    expect(blockers(report).map((f) => f.code)).toEqual(["SCHEMA_SYNTAX_REJECTED"]);
    if (!isPgferryError(result)) throw result;
    expect(result.code).toBe("SCHEMA_APPLY_FAILED");
    expect(result.message).toContain('syntax error at or near "json"');
    expect(result.hint).toContain(`pg_dump ${pair.target}`);
    expect(result.hint).not.toMatch(/extension|role/);
  });

  it(`${label}: a view that reads itself`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(
      source,
      `${PLAIN} create view public.v as select 1 as id; create or replace view public.v as select id from public.v;`,
    );
    const report = await check(source, target);
    const result = await start(source, target).then(
      (r) => r.outcome,
      (e: unknown) => e,
    );
    // PostgreSQL accepts the replacement; pg_dump then prints a view that names itself.
    const refused = one(blockers(report), "SCHEMA_MISSING_DEPENDENCY", "public.v");
    expect(refused.fix).toContain("DROP VIEW public.v;");
    if (!isPgferryError(result)) throw result;
    expect(result.code).toBe("SCHEMA_APPLY_FAILED");
    expect(result.hint).toBe(refused.fix);
  });

  it(`${label}: once the printed fixes are done, check passes and start succeeds`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, PLAIN);
    await asSuperuser(source, ADMIN_ONLY);
    await asSuperuser(target, "create extension postgres_fdw");
    const before = await check(source, target);
    const lang = one(blockers(before), "SCHEMA_NEEDS_PRIVILEGE", "language c");
    // The fixes as printed, run by an administrator on the target.
    const fixes = blockers(before)
      .map((f) => /`(GRANT [^`]+)`/.exec(f.fix)?.[1])
      .filter((s) => s !== undefined);
    expect(fixes).toHaveLength(2);
    for (const sql of fixes) await asSuperuser(target, sql);
    await asSuperuser(target, lang.fix.slice(lang.fix.indexOf("CREATE FUNCTION")));
    const after = await check(source, target);
    expect(blockers(after)).toEqual([]);
    expect(one(after.info, "SCHEMA_OBJECTS_EXIST", "lo_manage_copy").side).toBe("target");
    expect((await start(source, target)).outcome).toBe("indexed");
    const fns = await asOwner<{ f: string }>(
      target,
      `select p.oid::regprocedure::text as f from pg_proc p where p.pronamespace = 'public'::regnamespace
         and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e') order by 1`,
    );
    expect(fns.map((r) => r.f)).toEqual(["capped()", "lo_manage_copy()"]);
    expect(await asOwner(target, "select * from public.items order by id")).toEqual(
      await asOwner(source, "select * from public.items order by id"),
    );
  });

  it(`${label}: --exclude of a foreign table leaves it (and its unused server) out of start too`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, PLAIN);
    await asSuperuser(
      source,
      `create extension postgres_fdw;
       create server remote foreign data wrapper postgres_fdw options (host 'localhost', dbname 'elsewhere');
       create foreign table public.remote_items (id int) server remote options (table_name 'items');`,
    );
    await asSuperuser(target, "create extension postgres_fdw");
    expect(blockers(await check(source, target)).map((f) => f.code)).toContain("SCHEMA_NEEDS_PRIVILEGE");
    const report = await check(source, target, { exclude: ["public.remote_items"] });
    expect(blockers(report)).toEqual([]);
    expect((await start(source, target, ["public.remote_items"])).outcome).toBe("indexed");
    const foreign = await asOwner(
      target,
      "select (select count(*)::int from pg_foreign_table) as tables, (select count(*)::int from pg_foreign_server) as servers",
    );
    expect(foreign).toEqual([{ tables: 0, servers: 0 }]);
  });

  it(`${label}: does not try the schema while a start prepares the same target`, async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, PLAIN);
    const preparing = await ownerSession(target);
    try {
      // The lock prepare holds while it applies the schema (src/prepare/index.ts).
      await preparing.query("select pg_advisory_lock(hashtext('pgferry:prepare'))");
      const report = await check(source, target);
      expect(report.warnings.find((w) => w.code === "SCHEMA_NOT_REHEARSED")?.message).toContain("right now");
    } finally {
      await preparing.end();
    }
    const free = await check(source, target);
    expect(free.warnings.map((w) => w.code)).not.toContain("SCHEMA_NOT_REHEARSED");
    expect(blockers(free)).toEqual([]);
  });

  // Keys and indexes of partitioned tables, NOT VALID checks, policies, triggers, views, a
  // matview, extensions in heroku_ext: nothing of a realistic schema may be refused.
  it(`${label}: the schema fixture passes the rehearsal, and start applies it`, async () => {
    const fixture = await freshPair(pair);
    const exclude = EXCLUDED.map((t) => `${t.schema}.${t.name}`);
    const report = await check(fixture.source, fixture.target, { exclude });
    expect(blockers(report)).toEqual([]);
    expect((await start(fixture.source, fixture.target, exclude)).outcome).toBe("indexed");
  });
});
