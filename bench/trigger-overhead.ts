import type pg from "pg";
import { installCaptureSchema, installTableCapture, TRIGGER_NAMES } from "../src/capture/index.js";
import { ident, qualified } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import { sourceClient } from "./dataset.js";
import { type PgbenchOptions, type PgbenchResult, pgbenchInit, runPgbench } from "./pgbench.js";
import { sleep } from "./proc.js";
import { serverCpuSeconds } from "./server-cpu.js";
import { type BenchServers, sourceDatabase } from "./servers.js";

export interface TriggerOverheadResult {
  scale: number;
  options: PgbenchOptions;
  without: MeasuredRun[];
  with: MeasuredRun[];
  tpsWithout: number;
  tpsWith: number;
  latencyWithout: number;
  latencyWith: number;
  /** 1 - tps(with) / tps(without), over the mean TPS of each side. */
  overhead: number;
  /** 1 - the median of the per-round ratios tps(with) / tps(without): less sensitive to the machine's other load. */
  medianOverhead: number;
  /** Server CPU milliseconds per transaction (all source server processes), median of the runs. */
  cpuMsWithout: number;
  cpuMsWith: number;
  /** Median of the per-round ratios of server CPU per transaction, with / without, minus 1. */
  cpuOverhead: number;
  /** Log rows written per transaction while the triggers were on. */
  logRowsPerTransaction: number;
}

const PGBENCH_TABLES: { name: string; key: string }[] = [
  { name: "pgbench_accounts", key: "aid" },
  { name: "pgbench_branches", key: "bid" },
  { name: "pgbench_tellers", key: "tid" },
  { name: "pgbench_history", key: "id" },
];

/** The bench's capture belongs to no real migration; a fixed token stands in. */
const BENCH_OWNER = { token: "pgferry-bench", label: "the bench" };

/**
 * `keylessHistory`: pgbench_history as pgbench makes it, without the id key the bench
 * otherwise adds: captured as a table without a key (its whole row logged: decisions.md, "Tables without a key").
 */
export async function installTriggers(c: pg.ClientBase, keylessHistory = false): Promise<void> {
  await installCaptureSchema(c, BENCH_OWNER);
  for (const [i, t] of PGBENCH_TABLES.entries()) {
    const keyless = keylessHistory && t.name === "pgbench_history";
    await installTableCapture(
      c,
      {
        tableId: i + 1,
        schema: "public",
        name: t.name,
        keyColumns: keyless ? [] : [t.key],
        ...(keyless ? { rowImage: { columns: null } } : {}),
        leaves: [],
      },
      // As `pgferry start` installs them on the source.
      { skipApplySessions: false },
    );
  }
  await c.query("truncate pgferry.changes");
}

// The "without" runs drop the triggers rather than disable them: nothing of capture is left
// to cost anything (a disabled trigger with transition tables, say, still has its rows collected).
export async function dropTriggers(c: pg.ClientBase): Promise<void> {
  for (const t of PGBENCH_TABLES) {
    for (const trig of Object.values(TRIGGER_NAMES)) {
      await c.query(`drop trigger if exists ${ident(trig)} on ${qualified("public", t.name)}`);
    }
  }
}

export interface MeasuredRun extends PgbenchResult {
  serverCpuMsPerTransaction: number;
}

async function measuredRun(db: LocalDatabase, opts: PgbenchOptions): Promise<MeasuredRun> {
  const cpu0 = serverCpuSeconds(db.server);
  const res = await runPgbench(db, opts);
  // Let the postmaster reap pgbench's backends, so their time is in its children's total.
  await sleep(500);
  const cpu1 = serverCpuSeconds(db.server);
  return { ...res, serverCpuMsPerTransaction: ((cpu1 - cpu0) * 1000) / res.transactions };
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

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
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
  const without: MeasuredRun[] = [];
  const withTriggers: MeasuredRun[] = [];
  let logRows = 0;
  try {
    await installCaptureSchema(c, BENCH_OWNER);
    // ABBA order: a slow drift of the machine's other load hits both sides alike.
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [false, true] : [true, false];
      for (const triggers of order) {
        if (triggers) await installTriggers(c);
        else await dropTriggers(c);
        await resetTables(db);
        const before = await logCount(c);
        const res = await measuredRun(db, opts);
        if (triggers) {
          withTriggers.push(res);
          logRows += (await logCount(c)) - before;
        } else without.push(res);
      }
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
    medianOverhead: 1 - median(withTriggers.map((w, i) => w.tps / without[i]!.tps)),
    cpuMsWithout: median(without.map((r) => r.serverCpuMsPerTransaction)),
    cpuMsWith: median(withTriggers.map((r) => r.serverCpuMsPerTransaction)),
    cpuOverhead:
      median(
        withTriggers.map((w, i) => w.serverCpuMsPerTransaction / without[i]!.serverCpuMsPerTransaction),
      ) - 1,
    logRowsPerTransaction: logRows / withTriggers.reduce((s, r) => s + r.transactions, 0),
  };
}
