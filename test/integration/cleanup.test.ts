import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { FENCE_UP_SQL, installCaptureSchema, installTableCapture } from "../../src/capture/index.js";
import { cleanup } from "../../src/cleanup/index.js";
import type { MigrationContext } from "../../src/context.js";
import { connect, parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { noEvents } from "../../src/progress/events.js";
import { ensureControlSchema } from "../../src/state/index.js";
import { TEST_OWNER } from "../harness/capture.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";

const SCHEMA = `
create table public.accounts (id int primary key, name text);
create table public.orders (id int primary key, account_id int, total numeric);
create table public.metrics (id int, region text, v int, primary key (region, id)) partition by list (region);
create table public.metrics_eu partition of public.metrics for values in ('eu');
create table public.metrics_us partition of public.metrics for values in ('us');
create function public.touch() returns trigger language plpgsql as $$ begin new.name := lower(new.name); return new; end $$;
create trigger accounts_touch before insert on public.accounts for each row execute procedure public.touch();
insert into public.accounts values (1, 'a'), (2, 'b');
insert into public.metrics values (1, 'eu', 1), (2, 'us', 2);`;

const TABLES = [
  { tableId: 1, schema: "public", name: "accounts", keyColumns: ["id"], leaves: [] },
  { tableId: 2, schema: "public", name: "orders", keyColumns: ["id"], leaves: [] },
  {
    tableId: 3,
    schema: "public",
    name: "metrics",
    keyColumns: ["region", "id"],
    leaves: ["metrics_eu", "metrics_us"],
  },
];

function ctxOf(source: LocalDatabase, target: LocalDatabase): MigrationContext {
  return {
    source: parseConnUrl(source.url, "source"),
    target: parseConnUrl(target.url, "target"),
    emit: noEvents,
    signal: new AbortController().signal,
  };
}

/** Capture on every table and leaf of `db`, as prepare (source) or the rollback window (target) installs it. */
async function installCapture(db: LocalDatabase, side: "source" | "target"): Promise<void> {
  const c = await connect(parseConnUrl(db.url, side), { stage: "prepare" });
  try {
    await installCaptureSchema(c, TEST_OWNER, side);
    for (const t of TABLES) {
      const { rows } = await c.query<{ name: string; oid: number }>(
        "select relname as name, oid::int8 as oid from pg_class where relname = any ($1::text[])",
        [t.leaves],
      );
      const leaves = rows.map((r) => ({ schema: "public", name: r.name, oid: Number(r.oid) }));
      await installTableCapture(c, { ...t, leaves });
    }
  } finally {
    await c.end();
  }
}

/** A migration as pgferry leaves it on both sides, in the given phase. */
async function migrated(p: { source: number; target: number }, phase: string) {
  const source = await sourceDb(p.source);
  const target = await targetDb(p.target);
  await asOwner(source, SCHEMA);
  await asOwner(target, SCHEMA);
  await installCapture(source, "source");
  const [{ oid }] = (await asOwner<{ oid: string }>(
    source,
    "select oid::int8::text as oid from pg_database where datname = current_database()",
  )) as [{ oid: string }];
  const info = parseConnUrl(source.url, "source");
  const identity = {
    host: info.host,
    port: info.port,
    database: info.database,
    systemIdentifier: null,
    databaseOid: Number(oid),
  };
  const c = await connect(parseConnUrl(target.url, "target"), { stage: "prepare" });
  await ensureControlSchema(c);
  await c.query(
    "insert into pgferry.migration (source_display, source_identity, phase, token) values ($1, $2, $3, $4)",
    [info.display, JSON.stringify(identity), phase, TEST_OWNER.token],
  );
  await c.end();
  await installCapture(target, "target");
  return { source, target };
}

/** Every pgferry trace in a database's catalogs. */
async function traces(db: LocalDatabase): Promise<string[]> {
  const rows = await asOwner<{ t: string }>(
    db,
    `select 'schema ' || nspname as t from pg_namespace where nspname ilike '%pgferry%'
     union all select 'function ' || proname from pg_proc
      where proname ilike '%pgferry%' or pronamespace in (select oid from pg_namespace where nspname = 'pgferry')
     union all select 'trigger ' || tgname from pg_trigger where tgname ilike '%pgferry%'
     union all select 'relation ' || relname from pg_class where relname ilike '%pgferry%'
     order by 1`,
  );
  return rows.map((r) => r.t);
}

/** Every row of the main catalogs with its xmin: any create, drop or update changes it. */
async function catalogSnapshot(db: LocalDatabase): Promise<string[]> {
  const catalogs = [
    "pg_class",
    "pg_proc",
    "pg_trigger",
    "pg_namespace",
    "pg_type",
    "pg_constraint",
    "pg_index",
    "pg_depend",
    "pg_attribute",
    "pg_description",
  ];
  const parts = catalogs.map((c) => `select '${c}' || ':' || ctid::text || ':' || xmin::text as r from ${c}`);
  const rows = await asOwner<{ r: string }>(db, `${parts.join(" union all ")} order by 1`);
  return rows.map((r) => r.r);
}

function cli(args: string[], source: LocalDatabase, target: LocalDatabase) {
  return spawnSync(process.execPath, ["bin/pgferry.js", ...args], {
    env: { ...process.env, PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url, NO_COLOR: "1" },
    encoding: "utf8",
  });
}

describe.each(testPairs())("cleanup, PostgreSQL %s", (p) => {
  it(`${pairLabel(p)}: removes every pgferry object on both sides, keeps the user's, and runs twice`, async () => {
    const { source, target } = await migrated(p, "switched");
    expect(await traces(source)).toContain("trigger pgferry_capture_ins");
    expect(await traces(target)).toContain("schema pgferry");

    const first = cli(["cleanup"], source, target);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    expect(first.stdout).toContain("source: triggers removed from 5 tables, schema pgferry dropped");
    expect(await traces(source)).toEqual([]);
    expect(await traces(target)).toEqual([]);
    // The user's own trigger and data are untouched.
    await asOwner(source, "insert into public.accounts values (3, 'MiXeD')");
    expect(await asOwner(source, "select * from public.accounts order by id")).toEqual([
      { id: 1, name: "a" },
      { id: 2, name: "b" },
      { id: 3, name: "mixed" },
    ]);

    const second = cli(["cleanup"], source, target);
    expect(second.status).toBe(0);
    expect(second.stdout).toContain("source: no pgferry triggers, no schema pgferry");
  });

  it(`${pairLabel(p)}: leaves a database that never saw pgferry exactly as it was`, async () => {
    const source = await sourceDb(p.source);
    const target = await targetDb(p.target);
    await asOwner(source, SCHEMA);
    await asOwner(target, SCHEMA);
    const before = [await catalogSnapshot(source), await catalogSnapshot(target)];
    const report = await cleanup(ctxOf(source, target));
    expect(report).toEqual({
      phaseBefore: null,
      source: { relations: [], schemaDropped: false, skipped: false },
      target: { relations: [], schemaDropped: false, skipped: false },
      final: null,
    });
    expect([await catalogSnapshot(source), await catalogSnapshot(target)]).toEqual(before);
  });

  it(`${pairLabel(p)}: refuses a streaming migration without --force, and the wrong source`, async () => {
    const { source, target } = await migrated(p, "streaming");
    const refused = cli(["cleanup"], source, target);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("CLEANUP_REFUSED");
    expect(refused.stderr).toContain("--force");
    expect((await traces(source)).length).toBeGreaterThan(0);

    const other = await sourceDb(p.source);
    await expect(cleanup(ctxOf(other, target), { force: true })).rejects.toMatchObject({
      code: "SOURCE_MISMATCH",
    });

    const forced = await cleanup(ctxOf(source, target), { force: true });
    expect(forced.phaseBefore).toBe("streaming");
    // The record read before the control schema went (issue 13): never switched, so no window.
    expect(forced.final).toMatchObject({ phase: "streaming", writeWindowMs: null, lostWrites: null });
    expect(forced.final!.source).toBe(parseConnUrl(source.url, "source").display);
    expect(forced.final!.phases[0]).toMatchObject({ name: "prepare started", at: expect.any(String) });
    expect(await traces(source)).toEqual([]);
    expect(await traces(target)).toEqual([]);
  });

  it(`${pairLabel(p)}: refuses while a rollback is interrupted (the target fenced), unless --force`, async () => {
    const { source, target } = await migrated(p, "switched");
    // A rollback killed after fencing the target: the migration still says 'switched'.
    await asOwner(target, FENCE_UP_SQL);
    const refused = await cleanup(ctxOf(source, target)).catch((e) => e);
    expect(refused).toMatchObject({ code: "CLEANUP_REFUSED", message: expect.stringContaining("rollback") });
    expect(await traces(target)).toContain("schema pgferry");
    expect(await traces(source)).toContain("trigger pgferry_capture_ins");
    const forced = await cleanup(ctxOf(source, target), { force: true });
    expect(forced.phaseBefore).toBe("switched");
    expect(await traces(target)).toEqual([]);
  });

  it(`${pairLabel(p)}: waits for locks a bounded time, and finishes after an interruption`, async () => {
    const { source, target } = await migrated(p, "switched");
    // Half done by an earlier run that died: one table already cleaned by hand.
    await asOwner(source, "drop trigger pgferry_capture_ins on public.accounts");
    // An application transaction holds orders.
    const app = await connect(parseConnUrl(source.url, "source"), { stage: "demo" });
    await app.query("begin");
    await app.query("select * from public.orders");
    const events: string[] = [];
    const ctx = { ...ctxOf(source, target), emit: (e: { type: string }) => void events.push(e.type) };
    await expect(cleanup(ctx, { lockTimeoutMs: 100, attempts: 2 })).rejects.toMatchObject({
      code: "LOCK_TIMEOUT",
      side: "source",
      message: expect.stringContaining("public.orders"),
    });
    expect(events).toContain("lock:wait");
    // The tables before orders are clean (the heartbeat goes with the schema); the
    // application's transaction went on untouched.
    expect(
      await asOwner(
        source,
        "select tgrelid::regclass::text as t from pg_trigger where tgname like 'pgferry%' group by 1 order by 1",
      ),
    ).toEqual([{ t: "orders" }, { t: "pgferry.heartbeat" }]);
    await app.query("commit");
    await app.end();

    const report = await cleanup(ctxOf(source, target));
    expect(report.phaseBefore).toBe("cleaned");
    expect(await traces(source)).toEqual([]);
    expect(await traces(target)).toEqual([]);
  });
});
