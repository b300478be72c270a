import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { type Ack, APP_SCHEMA, type AppClient, type Failure } from "./app-client.js";
import { testPairs } from "./pairs.js";
import { type PgferryProcess, spawnPgferry, waitFor } from "./pgferry-process.js";
import { asOwner, sourceDb, targetDb } from "./servers.js";

/**
 * The pieces of the cutover and rollback end-to-end tests: a source with the app's schema, the
 * real CLI, `start` in the background, and the checks that no acknowledged write was lost.
 */
export const PASSWORD = "cutover-e2e-secret-42";
export const pair = testPairs()[0]!;
const tempDirs: string[] = [];
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export interface Setup {
  source: LocalDatabase;
  target: LocalDatabase;
  env: Record<string, string>;
  switchFile: string;
}

export async function setup(): Promise<Setup> {
  const source = await sourceDb(pair.source, { password: PASSWORD });
  const target = await targetDb(pair.target);
  // The application's schema, and one large object (capture cannot see those: copied at cutover).
  await asOwner(source, `${APP_SCHEMA}; select lo_from_bytea(424242, 'a large object');`);
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-app-"));
  tempDirs.push(dir);
  return {
    source,
    target,
    env: { PGFERRY_SOURCE_URL: source.url, PGFERRY_TARGET_URL: target.url },
    switchFile: path.join(dir, "database-url"),
  };
}

/** The real CLI, to completion. */
export async function cli(s: Setup, args: string[]) {
  const p = spawnPgferry(args, s.env);
  const { code } = await p.exited;
  const out = { code, stdout: p.stdout.join("\n"), stderr: p.stderr.join("\n") };
  expect(out.stdout + out.stderr).not.toContain(PASSWORD);
  return out;
}

/**
 * `pgferry start` in the background, until its own stream runs (it refreshed the stream
 * figures after it started) with every table streaming and the lag under 3 s.
 */
export async function streaming(s: Setup): Promise<PgferryProcess> {
  const since = Date.now();
  const start = spawnPgferry(["start", "--jobs", "2"], s.env);
  await waitFor(
    "streaming",
    async () => {
      const rows = await asOwner<{ phase: string; lag: number | null; fresh: boolean }>(
        s.target,
        `select phase, extract(epoch from now() - heartbeat_at)::float8 as lag,
                coalesce(stream_updated_at > to_timestamp($1 / 1000.0), false) as fresh
           from pgferry.migration`,
        [since],
      ).catch(() => []);
      const m = rows[0];
      return m?.phase === "streaming" && m.fresh && m.lag !== null && m.lag < 3;
    },
    { timeoutMs: 90_000, intervalMs: 200, while: start },
  );
  return start;
}

/** The running `start` streams forward again: phase streaming, its figures refreshed since `since`. */
export async function streamingAgain(s: Setup, start: PgferryProcess, since: number): Promise<void> {
  await waitFor(
    "streaming again",
    async () => {
      const [m] = await asOwner<{ phase: string; fresh: boolean }>(
        s.target,
        `select phase, coalesce(stream_updated_at > to_timestamp($1 / 1000.0), false) as fresh
           from pgferry.migration`,
        [since],
      );
      return m?.phase === "streaming" && m.fresh;
    },
    { timeoutMs: 60_000, intervalMs: 200, while: start },
  );
}

/** Writes a customer named `name` on `from` and waits until `start` has brought it to `to`. */
export async function arrives(from: LocalDatabase, to: LocalDatabase, name: string, start: PgferryProcess) {
  await asOwner(from, "insert into app.customers (name) values ($1)", [name]);
  const [row] = await asOwner<{ r: string }>(
    from,
    "select t::text as r from app.customers t where name = $1",
    [name],
  );
  await waitFor(
    `${name} on the other side`,
    async () => {
      const rows = await asOwner<{ r: string }>(
        to,
        "select t::text as r from app.customers t where name = $1",
        [name],
      );
      return rows.length === 1 && rows[0]!.r === row!.r;
    },
    { timeoutMs: 60_000, intervalMs: 100, while: start },
  );
}

export async function migration(db: LocalDatabase) {
  const [m] = await asOwner<{
    phase: string;
    fence_raised_at: Date;
    switched_at: Date;
    unavailable_ms: string;
  }>(db, "select phase, fence_raised_at, switched_at, unavailable_ms from pgferry.migration");
  return m!;
}

/** Waits until the app has made `more` acknowledged writes on `db` beyond what it had. */
export async function moreWrites(app: AppClient, db: "source" | "target", more: number): Promise<void> {
  const from = app.count(db);
  await waitFor(`${more} writes on the ${db}`, () => app.count(db) >= from + more, { timeoutMs: 30_000 });
}

/** Every acknowledged write is in `db`: inserted orders by token and id, each customer's last balance. */
export async function assertAllWritesIn(db: LocalDatabase, acks: Ack[]): Promise<void> {
  const orders = await asOwner<{ id: string; token: string }>(db, "select id::text, token from app.orders");
  const byToken = new Map(orders.map((o) => [o.token, Number(o.id)]));
  const inserts = acks.filter((a) => a.op === "insert");
  expect(inserts.filter((a) => byToken.get(a.value) !== a.id)).toEqual([]);
  const last = new Map<number, string>();
  for (const a of acks.filter((x) => x.op === "update")) last.set(a.id, a.value);
  const balances = await asOwner<{ id: string; balance: string }>(
    db,
    "select id::text, balance::text from app.customers",
  );
  const now = new Map(balances.map((b) => [Number(b.id), b.balance]));
  expect([...last].filter(([id, v]) => now.get(id) !== v)).toEqual([]);
}

/** Every failure is a fenced write (25006) inside one of the windows. */
export function assertOnlyFencedWrites(failures: Failure[], windows: [number, number][]): void {
  const outside = failures.filter(
    (f) => f.kind !== "write" || f.code !== "25006" || !windows.some(([a, b]) => f.at >= a && f.at <= b),
  );
  expect(outside).toEqual([]);
}

export async function traces(db: LocalDatabase): Promise<string[]> {
  const rows = await asOwner<{ t: string }>(
    db,
    `select 'schema ' || nspname as t from pg_namespace where nspname ilike '%pgferry%'
     union all select 'function ' || proname from pg_proc where proname ilike '%pgferry%'
     union all select 'trigger ' || tgname from pg_trigger where tgname ilike '%pgferry%'`,
  );
  return rows.map((r) => r.t);
}

export async function fenceIsUp(db: LocalDatabase): Promise<boolean> {
  const [r] = await asOwner<{ up: boolean }>(
    db,
    "select coalesce((select prosrc ~* 'raise\\s+exception' from pg_proc where oid = to_regprocedure('pgferry.fence()')), false) as up",
  );
  return r!.up;
}
