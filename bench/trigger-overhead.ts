import type pg from "pg";
import { installCaptureSchema, installTableCapture, TRIGGER_NAMES } from "../src/capture/index.js";
import { ident, qualified } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import { sourceClient } from "./dataset.js";
import { type PgbenchOptions, type PgbenchResult, pgbenchInit, runPgbench } from "./pgbench.js";
import { type BenchServers, sourceDatabase } from "./servers.js";

export interface TriggerOverheadResult {
  scale: number;
  options: PgbenchOptions;
  without: PgbenchResult[];
  with: PgbenchResult[];
  tpsWithout: number;
  tpsWith: number;
  latencyWithout: number;
  latencyWith: number;
  /** 1 - tps(with) / tps(without). */
  overhead: number;
  /** Log rows written per transaction while the triggers were on. */
  logRowsPerTransaction: number;
}

const PGBENCH_TABLES: { name: string; key: string }[] = [
  { name: "pgbench_accounts", key: "aid" },
  { name: "pgbench_branches", key: "bid" },
  { name: "pgbench_tellers", key: "tid" },
  { name: "pgbench_history", key: "id" },
];

async function installTriggers(c: pg.ClientBase): Promise<void> {
  for (const [i, t] of PGBENCH_TABLES.entries()) {
    await installTableCapture(c, {
      tableId: i + 1,
      schema: "public",
      name: t.name,
      keyColumns: [t.key],
      leaves: [],
    });
  }
  await c.query("truncate pgferry.changes");
}

// Disabling is not enough: a disabled trigger with transition tables still makes the executor
// collect the transition rows, so the "without" runs drop them.
async function dropTriggers(c: pg.ClientBase): Promise<void> {
  for (const t of PGBENCH_TABLES) {
    for (const trig of Object.values(TRIGGER_NAMES)) {
      await c.query(`drop trigger if exists ${ident(trig)} on ${qualified("public", t.name)}`);
    }
  }
}

/** Same state before every run: as pgbench's own pre-run vacuum, then a checkpoint. */
async function resetTables(db: LocalDatabase): Promise<void> {
  await db.server.admin(db.database, "vacuum analyze pgbench_branches, pgbench_tellers");
  await db.server.admin(db.database, "truncate pgbench_history");
  await db.server.admin(db.database, "checkpoint");
}

async function logCount(c: pg.ClientBase): Promise<number> {
  const { rows } = await c.query<{ n: string }>("select count(*) as n from pgferry.changes");
  return Number(rows[0]!.n);
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;

/** (4a) pgbench TPC-B-like TPS and latency with and without capture triggers, runs interleaved. */
export async function runTriggerOverhead(
  servers: BenchServers,
  scale: number,
  opts: PgbenchOptions,
  rounds: number,
): Promise<TriggerOverheadResult> {
  const db = await sourceDatabase(servers, "bench_pgbench");
  await pgbenchInit(db, scale);
  const c = await sourceClient(db);
  const without: PgbenchResult[] = [];
  const withTriggers: PgbenchResult[] = [];
  let logRows = 0;
  try {
    await installCaptureSchema(c);
    for (let r = 0; r < rounds; r++) {
      await dropTriggers(c);
      await resetTables(db);
      without.push(await runPgbench(db, opts));
      await installTriggers(c);
      await resetTables(db);
      const before = await logCount(c);
      withTriggers.push(await runPgbench(db, opts));
      logRows += (await logCount(c)) - before;
    }
  } finally {
    await c.end();
  }
  const tpsWithout = mean(without.map((r) => r.tps));
  const tpsWith = mean(withTriggers.map((r) => r.tps));
  return {
    scale,
    options: opts,
    without,
    with: withTriggers,
    tpsWithout,
    tpsWith,
    latencyWithout: mean(without.map((r) => r.latencyMs)),
    latencyWith: mean(withTriggers.map((r) => r.latencyMs)),
    overhead: 1 - tpsWith / tpsWithout,
    logRowsPerTransaction: logRows / withTriggers.reduce((s, r) => s + r.transactions, 0),
  };
}
