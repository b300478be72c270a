import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CheckReport, type Finding, runCheck } from "../../src/check/index.js";
import { parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { ensureControlSchema } from "../../src/state/index.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { urlsToEnv } from "../harness/pgferry-process.js";
import { asOwner, asSuperuser, ownerSession, sourceDb, targetDb } from "../harness/servers.js";

const PASSWORD = "Sup3rSecretPw!";
const repoRoot = path.resolve(import.meta.dirname, "../..");

async function cli(rawArgs: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // The URLs (and their passwords) travel in the environment, never on a command line.
  const { args, env } = urlsToEnv(rawArgs);
  try {
    const { stdout, stderr } = await promisify(execFile)("node", ["bin/pgferry.js", ...args], {
      cwd: repoRoot,
      env: { ...process.env, PGFERRY_SOURCE_URL: "", PGFERRY_TARGET_URL: "", NO_COLOR: "1", ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

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

/** code → tables it names ("" for a finding about no single table), budget findings aside: other test files share the servers. */
function codes(list: Finding[]): string[] {
  return list
    .filter((f) => !f.code.startsWith("CONNECTION_BUDGET"))
    .map((f) => (f.table ? `${f.code} ${f.table}` : f.code))
    .sort();
}

/** The warning a pg_dump older than the target's major gets (the machine's pg_dump decides). */
function olderPgDump(report: CheckReport): string[] {
  return report.pgDump && report.pgDump.major < (report.target as { major: number }).major
    ? ["PG_DUMP_OLDER_THAN_TARGET"]
    : [];
}

function find(list: Finding[], code: string): Finding {
  const f = list.find((x) => x.code === code);
  if (!f) throw new Error(`no ${code} in ${JSON.stringify(list.map((x) => x.code))}`);
  return f;
}

// One table of each kind the issue names; the source is Heroku-like (owner role, SSL required).
const SEED = `
create table public.accounts (id bigint generated always as identity primary key, email text not null);
insert into public.accounts (email) select 'user' || g || '@example.com' from generate_series(1, 50) g;
create table public.nokey (a int, b text);
insert into public.nokey select g % 3, 'same' from generate_series(1, 30) g;
create table public.nulluniq (code text, v int, constraint nulluniq_code unique (code));
create table public.ukey (code text not null, v int, constraint ukey_code unique (code));
create unlogged table public.scratch (id int primary key);
create materialized view public.mv as select count(*) as n from public.accounts;
create table public.secured (id int primary key);
alter table public.secured enable row level security;
create table public.forced (id int primary key);
alter table public.forced enable row level security;
alter table public.forced force row level security;
create sequence public.shared_seq;
create table public.orders (id bigint primary key default nextval('public.shared_seq'), total numeric);
create table public.invoices (id bigint primary key default nextval('public.shared_seq'), total numeric,
                              total_cents bigint generated always as ((total * 100)::bigint) stored);
select lo_create(0);
analyze;`;

describe.each(testPairs())("pgferry check, $source → $target", (pair) => {
  let source: LocalDatabase;
  let target: LocalDatabase;
  let clean: LocalDatabase;
  let cleanTarget: LocalDatabase;
  let seeded: CheckReport;
  const label = pairLabel(pair);

  beforeAll(async () => {
    [source, target, clean, cleanTarget] = await Promise.all([
      sourceDb(pair.source, { password: PASSWORD }),
      targetDb(pair.target, { password: PASSWORD }),
      sourceDb(pair.source, { password: PASSWORD }),
      targetDb(pair.target, { password: PASSWORD }),
    ]);
    await asOwner(source, SEED);
    // As Heroku does: extensions created by the superuser, in heroku_ext where they can be moved.
    await asSuperuser(source, "create extension pgcrypto schema heroku_ext");
    await asSuperuser(source, "create extension adminpack"); // not relocatable: always pg_catalog
    await asOwner(target, "create table public.existing (id int primary key)");
    await asOwner(
      clean,
      "create table public.items (id int primary key, name text); insert into public.items values (1, 'a')",
    );
    seeded = await check(source, target);
  });

  it(`${label}: finds every blocker of a seeded source, each with its fix`, () => {
    const extensionBlocker = pair.target >= 17 ? "EXTENSION_MISSING" : "EXTENSION_NOT_CREATABLE";
    expect(codes(seeded.blockers)).toEqual(
      [extensionBlocker, "RLS_BLOCKS_COPY public.forced", "TARGET_NOT_EMPTY"].sort(),
    );
    expect(seeded.ok).toBe(false);
    expect(find(seeded.blockers, "TARGET_NOT_EMPTY").message).toContain("public.existing");
    expect(find(seeded.blockers, extensionBlocker).message).toContain("adminpack");
    expect(find(seeded.blockers, "RLS_BLOCKS_COPY").fix).toContain("NO FORCE ROW LEVEL SECURITY");
    for (const f of [...seeded.blockers, ...seeded.warnings, ...seeded.info])
      expect(f.fix.length).toBeGreaterThan(5);
  });

  it(`${label}: warns about what triggers cannot follow, and notes what pgferry does`, () => {
    expect(codes(seeded.warnings)).toEqual(
      [
        "DDL_FREEZE",
        "LARGE_OBJECTS",
        "MATERIALIZED_VIEWS",
        "UNLOGGED_TABLE public.scratch",
        ...olderPgDump(seeded),
      ].sort(),
    );
    expect(find(seeded.warnings, "MATERIALIZED_VIEWS").message).toContain("public.mv");
    expect(find(seeded.warnings, "LARGE_OBJECTS").message).toContain("1 large object");
    const notes = [
      "HEROKU_EXT_SCHEMA",
      "IDENTITY_COLUMNS",
      "RLS_ENABLED public.secured",
      "SEQUENCES",
      "SHARED_SEQUENCE",
      "UNIQUE_KEY_USED public.ukey",
      "GENERATED_COLUMNS",
      "NO_REPLICATION_KEY public.nokey",
      "NO_REPLICATION_KEY public.nulluniq",
      // The target is not empty (public.existing): the schema is not tried on it.
      "SCHEMA_NOT_REHEARSED",
    ];
    if (pair.target > pair.source) notes.push("MAJOR_UPGRADE");
    expect(codes(seeded.info)).toEqual(notes.sort());
    expect(find(seeded.info, "SHARED_SEQUENCE").message).toContain("public.invoices, public.orders");
    expect(find(seeded.info, "GENERATED_COLUMNS").message).toContain("public.invoices");
  });

  it(`${label}: names the strategy of a table without a key, with its cost, and asks for no rewrite`, () => {
    const keyless = seeded.info.filter((f) => f.code === "NO_REPLICATION_KEY");
    const nokey = keyless.find((f) => f.table === "public.nokey")!;
    expect(nokey.message).toContain("identifies its rows by their full image");
    expect(nokey.message).toMatch(/one chunk inside one source snapshot \(\d[\d.]* [kMG]?B, ~30 rows\)/);
    expect(nokey.message).toContain("xmin");
    expect(nokey.message).toContain("logs the whole row");
    expect(nokey.message).toContain("scans the target table once");
    expect(nokey.fix).not.toContain("ADD PRIMARY KEY");
    expect(nokey.fix).toContain("Nothing to do");
    // A unique index over a nullable column is not a key: said so, by name.
    const nulluniq = keyless.find((f) => f.table === "public.nulluniq")!;
    expect(nulluniq.message).toContain("nulluniq_code (code) over nullable columns, which is not a key");
    expect(seeded.tables.find((t) => t.name === "public.nulluniq")).toMatchObject({ key: null });
  });

  it(`${label}: reports tables with their keys and sizes, and the extensions`, () => {
    const byName = new Map(seeded.tables.map((t) => [t.name, t]));
    expect([...byName.keys()].sort()).toEqual([
      "public.accounts",
      "public.forced",
      "public.invoices",
      "public.nokey",
      "public.nulluniq",
      "public.orders",
      "public.scratch",
      "public.secured",
      "public.ukey",
    ]);
    expect(byName.get("public.ukey")).toMatchObject({
      key: ["code"],
      keyKind: "unique",
      keyIndex: "ukey_code",
    });
    expect(byName.get("public.nokey")).toMatchObject({ key: null, keyKind: null });
    expect(byName.get("public.accounts")).toMatchObject({
      key: ["id"],
      keyKind: "primary",
      rowsEstimate: 50,
    });
    expect(byName.get("public.accounts")!.bytes).toBeGreaterThan(0);
    expect(seeded.totals).toMatchObject({ tables: 9, excludedTables: 0, largeObjects: 1 });
    expect(seeded.totals.bytes).toBe(seeded.tables.reduce((s, t) => s + t.bytes, 0));
    const ext = new Map(seeded.extensions.map((e) => [e.name, e]));
    expect([...ext.keys()].sort()).toEqual(["adminpack", "pgcrypto"]);
    expect(ext.get("pgcrypto")).toMatchObject({
      schema: "heroku_ext",
      availableOnTarget: true,
      creatableOnTarget: true,
    });
    expect(ext.get("adminpack")).toMatchObject({
      schema: "pg_catalog",
      availableOnTarget: pair.target < 17,
      creatableOnTarget: false,
      installedOnTarget: false,
    });
    expect(seeded.source).toMatchObject({
      major: pair.source,
      ssl: true,
      superuser: false,
      user: source.role,
    });
    expect(seeded.target).toMatchObject({
      major: pair.target,
      superuser: false,
      userTables: ["public.existing"],
    });
    expect(JSON.stringify(seeded)).not.toContain(PASSWORD);
  });

  it(`${label}: --exclude leaves a table out; a long transaction is named with its locks`, async () => {
    const holder = await ownerSession(source);
    try {
      await holder.query("begin; select count(*) from public.ukey");
      const { rows } = await holder.query<{ pid: number }>("select pg_backend_pid() as pid");
      const report = await check(source, target, { exclude: ["nokey"], longTransactionSeconds: 0 });
      expect(report.info.map((f) => f.table ?? f.code)).not.toContain("public.nokey");
      expect(find(report.info, "TABLES_EXCLUDED").message).toContain("public.nokey");
      expect(report.totals.excludedTables).toBe(1);
      const long = report.warnings.filter((f) => f.code === "LONG_TRANSACTION");
      expect(long).toHaveLength(1);
      expect(long[0]!.message).toContain(`pid ${rows[0]!.pid}`);
      expect(long[0]!.table).toBe("public.ukey");
      expect(long[0]!.fix).toContain(`pg_terminate_backend(${rows[0]!.pid})`);
    } finally {
      await holder.end();
    }
  });

  it(`${label}: a clean database passes, through the library and the CLI`, async () => {
    const report = await check(clean, cleanTarget);
    expect(report.blockers).toEqual([]);
    expect(report.ok).toBe(true);
    expect(codes(report.warnings)).toEqual(["DDL_FREEZE", ...olderPgDump(report)].sort());
    const run = await cli(["check", "--source", clean.url, "--target", cleanTarget.url, "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const json = JSON.parse(run.stdout) as CheckReport;
    expect(json.ok).toBe(true);
    expect(json.blockers).toEqual([]);
    expect(json.tables.map((t) => t.name)).toEqual(["public.items"]);
    expect(json.source).toMatchObject({ major: pair.source, url: expect.stringContaining(":****@") });
    expect(run.stdout).not.toContain(PASSWORD);
    expect(run.stdout).not.toContain(encodeURIComponent(PASSWORD));
  });

  it(`${label}: the CLI exits 1 with the blockers, in JSON and in the human report`, async () => {
    const args = ["check", "--source", source.url, "--target", target.url];
    const [json, human] = await Promise.all([cli([...args, "--json"]), cli(args)]);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as CheckReport;
    expect(codes(report.blockers)).toEqual(codes(seeded.blockers));
    for (const f of report.blockers)
      expect(Object.keys(f)).toEqual(expect.arrayContaining(["code", "message", "fix"]));
    expect(human.code).toBe(1);
    expect(human.stdout).toContain("Blockers (3)");
    expect(human.stdout).toMatch(/BLOCKER RLS_BLOCKS_COPY {2}public\.forced/);
    expect(human.stdout).toMatch(/NOTE NO_REPLICATION_KEY {2}public\.nokey/);
    expect(human.stdout).toContain("Not ready: 3 blocker(s)");
    expect(human.stdout).not.toContain("\u001b[");
    for (const out of [json.stdout, json.stderr, human.stdout, human.stderr]) {
      expect(out).not.toContain(PASSWORD);
      expect(out).not.toContain(encodeURIComponent(PASSWORD));
    }
  });
});

describe.each(testPairs())("pgferry check on a pgbench database, $source → $target", (pair) => {
  it("exits 0 and names the strategy pgbench_history gets", async () => {
    const [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await promisify(execFile)("/usr/bin/pgbench", ["-i", "-q", "-s", "10", source.url]);
    const run = await cli(["check", "--source", source.url, "--target", target.url, "--json"]);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as CheckReport;
    expect(report.blockers).toEqual([]);
    const keyless = report.info.filter((f) => f.code === "NO_REPLICATION_KEY");
    expect(keyless.map((f) => f.table)).toEqual(["public.pgbench_history"]);
    expect(keyless[0]!.message).toContain("identifies its rows by their full image");
    expect(report.tables.find((t) => t.name === "public.pgbench_accounts")).toMatchObject({ key: ["aid"] });
  });
});

describe("pgferry check, pg_dump, budgets and resumed targets", () => {
  const pair = testPairs()[0]!;
  let source: LocalDatabase;
  let target: LocalDatabase;
  let fakeDir: string;

  beforeAll(async () => {
    [source, target] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asOwner(source, "create table public.t (id int primary key)");
    fakeDir = mkdtempSync(path.join(os.tmpdir(), "pgferry-fake-pgdump-"));
    writeFileSync(path.join(fakeDir, "pg_dump"), "#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n");
    chmodSync(path.join(fakeDir, "pg_dump"), 0o755);
  });
  afterAll(() => rmSync(fakeDir, { recursive: true, force: true }));

  it("names the pg_dump version to install when pg_dump is missing or too old", async () => {
    const missing = await check(source, target, { pgDump: path.join(fakeDir, "nope") });
    const m = find(missing.blockers, "PG_DUMP_MISSING");
    expect(m.fix).toContain(`${pair.source} or newer`);
    expect(missing.pgDump).toBeNull();
    const old = await check(source, target, { pgDump: path.join(fakeDir, "pg_dump") });
    expect(find(old.blockers, "PG_DUMP_TOO_OLD").fix).toContain(`postgresql-client-${pair.source}`);
    expect(old.pgDump).toMatchObject({ major: 9, version: "9.6.24" });
  });

  it("blocks when the connection budget is short", async () => {
    const report = await check(source, target, { jobs: 1000 });
    const b = report.blockers.filter((f) => f.code === "CONNECTION_BUDGET");
    expect(b.map((f) => f.side).sort()).toEqual(["source", "target"]);
    expect(b[0]!.message).toContain("1003 connections");
    expect((report.source as { connections: { needed: number } }).connections.needed).toBe(1003);
  });

  it("reports foreign tables as not copied, and --tables narrows the selection", async () => {
    const [fdwSource, fdwTarget] = await Promise.all([sourceDb(pair.source), targetDb(pair.target)]);
    await asSuperuser(
      fdwSource,
      `create extension file_fdw schema heroku_ext;
       create server files foreign data wrapper file_fdw;
       create foreign table public.host_file (line text) server files options (filename '/etc/hostname');
       create table public.kept (id int primary key); create table public.other (id int primary key);`,
    );
    const report = await check(fdwSource, fdwTarget, { include: ["public.k*", "host_file"] });
    expect(find(report.warnings, "FOREIGN_TABLES").message).toContain("public.host_file");
    expect(report.tables.map((t) => t.name)).toEqual(["public.kept"]);
    expect(find(report.info, "TABLES_EXCLUDED").message).toContain("public.other");
    expect(find(report.blockers, "EXTENSION_NOT_CREATABLE").message).toContain("file_fdw");
  });

  it("fails as a check (LOCK_TIMEOUT naming the source) when a table stays locked exclusively", async () => {
    const holder = await ownerSession(source);
    try {
      await holder.query("begin; lock table public.t in access exclusive mode");
      await expect(check(source, target)).rejects.toMatchObject({ code: "LOCK_TIMEOUT", side: "source" });
    } finally {
      await holder.end();
    }
  });

  it("accepts a target holding this migration's control schema when requireEmptyTarget is false", async () => {
    const src = parseConnUrl(source.url, "source");
    const [row] = await asOwner<{ oid: string }>(
      source,
      "select oid::int8 as oid from pg_database where datname = current_database()",
    );
    const oid = Number(row!.oid);
    const identity = (databaseOid: number) =>
      JSON.stringify({
        host: src.host,
        port: src.port,
        database: src.database,
        systemIdentifier: null,
        databaseOid,
      });
    const client = new pg.Client({ connectionString: target.url.replace(/\?.*$/, "") });
    await client.connect();
    try {
      await ensureControlSchema(client);
      await client.query("create table public.t (id int primary key)");
      await client.query("insert into pgferry.migration (source_display, source_identity) values ($1, $2)", [
        src.display,
        identity(oid),
      ]);
    } finally {
      await client.end();
    }
    const resumed = await check(source, target, { requireEmptyTarget: false });
    expect(resumed.blockers).toEqual([]);
    expect(find(resumed.info, "MIGRATION_IN_PROGRESS").side).toBe("target");
    const fresh = await check(source, target);
    expect(codes(fresh.blockers)).toEqual(["TARGET_NOT_EMPTY"]);
    expect(find(fresh.blockers, "TARGET_NOT_EMPTY").fix).toContain("pgferry start` resumes it");

    // Same address, another database (a re-created one): not this migration.
    await asOwner(target, "update pgferry.migration set source_identity = $1", [identity(oid + 1)]);
    const recreated = await check(source, target, { requireEmptyTarget: false });
    expect(codes(recreated.blockers)).toEqual(["TARGET_HAS_OTHER_MIGRATION"]);

    // An identity that cannot be read: the address decides.
    await asOwner(target, "update pgferry.migration set source_identity = '?', source_display = $1", [
      "postgres://u:****@elsewhere:5432/db",
    ]);
    const other = await check(source, target, { requireEmptyTarget: false });
    expect(find(other.blockers, "TARGET_HAS_OTHER_MIGRATION").message).toContain("elsewhere");
  });
});
