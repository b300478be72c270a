import type pg from "pg";
import type { LocalDatabase } from "../src/local-server/index.js";
import { type PgbenchResult, runPgbench } from "./pgbench.js";
import { percentile, sleep } from "./proc.js";
import { serverCpuSeconds } from "./server-cpu.js";

export interface Distribution {
  samples: number;
  p50: number;
  p95: number;
  max: number;
}

export interface LagResult {
  rate: number;
  achievedTps: number;
  latencyMs: number;
  /** Age of the newest source heartbeat every streaming table has reached (what `status` shows as lag). */
  heartbeat: Distribution;
  /** Commit of a probe transaction on the source to every table's position including it. */
  probe: Distribution;
  /**
   * Source server CPU milliseconds per pgbench transaction over the whole load, while pgferry
   * streams: the transaction itself, its capture, and the stream's log reads, row fetches, log
   * cleanup and heartbeats (issue 15). The probes' and the watch sessions' queries are in it too.
   */
  sourceCpuMsPerTransaction: number;
}

/**
 * The lag `status` reports, computed live: the age of the oldest heartbeat any streaming table
 * has reached (pgferry.migration.lag_seconds is the same figure, refreshed every 2 s).
 */
export async function readLagSeconds(watch: pg.ClientBase): Promise<number | null> {
  const { rows } = await watch.query<{ lag: number | null }>(
    `select extract(epoch from now() - coalesce(
              (select min(beat_at) from pgferry.tables where phase in ('streaming', 'paused')),
              (select heartbeat_at from pgferry.migration)))::float8 as lag`,
  );
  return rows[0]?.lag ?? null;
}

/** Of the given source txids, those every table's position already includes. */
export async function appliedTxids(watch: pg.ClientBase, txids: readonly string[]): Promise<Set<string>> {
  const { rows } = await watch.query<{ x: string }>(
    `select x::text from unnest($1::bigint[]) x
      where (select bool_and(position is not null and txid_visible_in_snapshot(x, position::txid_snapshot))
               from pgferry.tables)`,
    [txids],
  );
  return new Set(rows.map((r) => r.x));
}

function distribution(values: number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/**
 * Source server CPU milliseconds per second while pgferry streams and nothing else writes: the
 * stream's fixed cost on the source (heartbeats, windows finding nothing, log cleanup, status
 * counts), which a fixed-rate load spreads over its transactions.
 */
export async function measureIdleSourceCpu(source: LocalDatabase, seconds: number): Promise<number> {
  const cpu0 = serverCpuSeconds(source.server);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu1 = serverCpuSeconds(source.server);
  return ((cpu1 - cpu0) * 1000) / ((performance.now() - t0) / 1000);
}

export interface LoadCpu {
  rate: number;
  achievedTps: number;
  sourceCpuMsPerTransaction: number;
}

/**
 * Source server CPU milliseconds per transaction of a fixed-rate pgbench load alone: run with the
 * capture installed and nothing streaming, it is the baseline the streaming figure is read
 * against (their difference is what the stream's reads, fetches and cleanup cost the source).
 */
export async function measureLoadCpu(source: LocalDatabase, rate: number, seconds: number): Promise<LoadCpu> {
  const cpu0 = serverCpuSeconds(source.server);
  const res = await runPgbench(source, { clients: 4, threads: 2, seconds, rate });
  await sleep(500);
  const cpu1 = serverCpuSeconds(source.server);
  return { rate, achievedTps: res.tps, sourceCpuMsPerTransaction: ((cpu1 - cpu0) * 1000) / res.transactions };
}

/**
 * (4c) Lag under a fixed-rate pgbench load: the heartbeat age every 200 ms, and a probe
 * transaction committed on the source every 200 ms, timed until the target has applied past
 * it (polled every 100 ms). The first seconds are warm-up and not counted.
 */
export async function measureLag(
  source: LocalDatabase,
  sourceWatch: pg.ClientBase,
  targetWatch: pg.ClientBase,
  rate: number,
  seconds: number,
  warmupSeconds = 3,
): Promise<LagResult> {
  const beats: number[] = [];
  const probeLatencies: number[] = [];
  const pending = new Map<string, number>();
  let done = false;
  const cpu0 = serverCpuSeconds(source.server);
  const load: Promise<PgbenchResult> = runPgbench(source, { clients: 4, threads: 2, seconds, rate }).finally(
    () => {
      done = true;
    },
  );
  const warmUntil = Date.now() + warmupSeconds * 1000;
  for (let tick = 0; !done; tick++) {
    if (tick % 2 === 0) {
      const lag = await readLagSeconds(targetWatch).catch(() => null);
      if (lag !== null && Date.now() > warmUntil) beats.push(lag);
      const { rows } = await sourceWatch.query<{ x: string }>("select txid_current()::text as x");
      if (Date.now() > warmUntil) pending.set(rows[0]!.x, Date.now());
    }
    if (pending.size > 0) {
      const applied = await appliedTxids(targetWatch, [...pending.keys()]);
      const now = Date.now();
      for (const x of applied) {
        probeLatencies.push((now - pending.get(x)!) / 1000);
        pending.delete(x);
      }
    }
    await sleep(100);
  }
  const res = await load;
  // Let the postmaster reap pgbench's backends, so their time is in its children's total.
  await sleep(500);
  const cpu1 = serverCpuSeconds(source.server);
  // Probes still unapplied when the load ends count with their age so far (a lower bound).
  for (const at of pending.values()) probeLatencies.push((Date.now() - at) / 1000);
  return {
    rate,
    achievedTps: res.tps,
    latencyMs: res.latencyMs,
    heartbeat: distribution(beats),
    probe: distribution(probeLatencies),
    sourceCpuMsPerTransaction: ((cpu1 - cpu0) * 1000) / res.transactions,
  };
}
