import type pg from "pg";
import type { LocalDatabase } from "../src/local-server/index.js";
import { type PgbenchResult, runPgbench } from "./pgbench.js";
import { percentile, sleep } from "./proc.js";

export interface LagResult {
  rate: number;
  achievedTps: number;
  latencyMs: number;
  samples: number;
  p50: number;
  p95: number;
  max: number;
}

/**
 * Replication lag as `status` reports it: how old the newest source heartbeat applied on the
 * target is.
 */
export async function readLagSeconds(watch: pg.ClientBase): Promise<number | null> {
  const { rows } = await watch.query<{ lag: number | null }>(
    "select extract(epoch from now() - heartbeat_at)::float8 as lag from pgferry.migration",
  );
  return rows[0]?.lag ?? null;
}

/** (4c) Lag sampled every 200 ms under a fixed-rate pgbench load; the first seconds are warm-up. */
export async function measureLag(
  source: LocalDatabase,
  watch: pg.ClientBase,
  rate: number,
  seconds: number,
  warmupSeconds = 3,
): Promise<LagResult> {
  const samples: number[] = [];
  let done = false;
  const load: Promise<PgbenchResult> = runPgbench(source, { clients: 4, threads: 2, seconds, rate }).finally(
    () => {
      done = true;
    },
  );
  const started = performance.now();
  while (!done) {
    const lag = await readLagSeconds(watch).catch(() => null);
    if (lag !== null && performance.now() - started > warmupSeconds * 1000) samples.push(lag);
    await sleep(200);
  }
  const res = await load;
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    rate,
    achievedTps: res.tps,
    latencyMs: res.latencyMs,
    samples: sorted.length,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    max: sorted.at(-1) ?? Number.NaN,
  };
}
