import type pg from "pg";
import type { LocalDatabase } from "../src/local-server/index.js";
import { type LagResult, type LoadCpu, measureIdleSourceCpu, measureLag, measureLoadCpu } from "./lag.js";
import { type PgbenchOptions, pgbenchInit, runPgbench } from "./pgbench.js";
import { watchClient } from "./pgferry-copy.js";
import { PgferryProcess } from "./pgferry-process.js";
import { type BenchServers, dropTarget, freshTarget, sourceDatabase } from "./servers.js";

export interface ReplayResult {
  burstTransactions: number;
  /** Counts and balance sums of the four pgbench tables equal on both sides once caught up. */
  matches: boolean;
  burstSeconds: number;
  burstTps: number;
  /** Rows of the source log the burst wrote (one per changed key and statement). */
  logRows: number;
  distinctKeys: number;
  /** Log rows written per second by the unthrottled burst: what the source can write. */
  sourceRowsPerSecond: number;
  /** Spawn of `pgferry start` to the last burst transaction applied on every table. */
  catchUpSeconds: number;
  replayRowsPerSecond: number;
  replayKeysPerSecond: number;
  /** Log rows applied per second between the first window committed and the last (no process start-up). */
  steadyRowsPerSecond: number | undefined;
  /** Spawn to the first window committed (Node start, connections, resume checks, first window). */
  startupSeconds: number | undefined;
}

export interface StreamBenchResult {
  replay: ReplayResult;
  lag: LagResult[];
  /** Source server CPU ms per second while pgferry streamed and nothing wrote (issue 15). */
  idleSourceCpuMsPerSecond?: number;
  /** The lag loads again once pgferry stopped: the capture alone, nothing streaming (issue 15). */
  notStreaming?: LoadCpu[];
  peakMemoryMb: number;
}

async function tablesPhases(watch: pg.ClientBase): Promise<boolean> {
  const { rows } = await watch.query<{ total: string; streaming: string }>(
    "select count(*) as total, count(*) filter (where phase = 'streaming') as streaming from pgferry.tables",
  );
  return Number(rows[0]!.total) > 0 && rows[0]!.total === rows[0]!.streaming;
}

/** True when every table's position shows transaction `txid` as applied. */
async function caughtUp(watch: pg.ClientBase, txid: string): Promise<boolean> {
  const { rows } = await watch.query<{ ok: boolean | null }>(
    `select bool_and(position is not null and txid_visible_in_snapshot($1::bigint, position::txid_snapshot)) as ok
       from pgferry.tables`,
    [txid],
  );
  return rows[0]?.ok === true;
}

/** Nothing writes once the burst is over: after catching up, these must be equal on both sides. */
async function aggregates(c: pg.ClientBase): Promise<string> {
  const { rows } = await c.query(
    `select (select row(count(*), sum(abalance)) from public.pgbench_accounts)::text as a,
            (select row(count(*), sum(bbalance)) from public.pgbench_branches)::text as b,
            (select row(count(*), sum(tbalance)) from public.pgbench_tellers)::text as t,
            (select row(count(*), sum(delta), max(id)) from public.pgbench_history)::text as h`,
  );
  return JSON.stringify(rows[0]);
}

async function appliedSum(watch: pg.ClientBase): Promise<number> {
  const { rows } = await watch.query<{ n: string }>(
    "select coalesce(sum(changes_applied), 0)::text as n from pgferry.tables",
  );
  return Number(rows[0]!.n);
}

async function committedTxid(sourceWatch: pg.ClientBase): Promise<string> {
  const { rows } = await sourceWatch.query<{ x: string }>("select txid_current()::text as x");
  return rows[0]!.x;
}

/** A txid below every later transaction's: the burst's log rows are the ones above it. */
async function logHighWater(source: LocalDatabase): Promise<string> {
  const { rows } = await source.server.admin<{ x: string }>(
    source.database,
    "select txid_current()::text as x",
  );
  return rows[0]!.x;
}

/**
 * (4b) and (4c): migrate a pgbench database, stop pgferry, write a burst, time `pgferry start`
 * catching up, then keep it running under fixed-rate loads and sample the lag.
 */
export async function runStreamBench(
  servers: BenchServers,
  opts: {
    scale: number;
    jobs: number;
    burst: PgbenchOptions;
    lagRates: number[];
    lagSeconds: number;
    extraArgs: string[];
  },
): Promise<StreamBenchResult> {
  const source = await sourceDatabase(servers, "bench_stream");
  await pgbenchInit(source, opts.scale);
  const target = await freshTarget(servers, "bench_stream_target");
  const watch = await watchClient(servers.target, target.database);
  const sourceWatch = await watchClient(servers.source, source.database);
  const args = ["--jobs", String(opts.jobs), ...opts.extraArgs];
  let proc = PgferryProcess.start(source, target, args);
  try {
    await proc.waitFor("every table streaming", () => tablesPhases(watch), 10 * 60_000);
    const settled = await committedTxid(sourceWatch);
    await proc.waitFor("the stream to catch up", () => caughtUp(watch, settled), 5 * 60_000);
    await proc.stop();

    const before = await logHighWater(source);
    const burst = await runPgbench(source, opts.burst);
    const last = await committedTxid(sourceWatch);
    const { rows } = await source.server.admin<{ n: string; keys: string }>(
      source.database,
      "select count(*) as n, count(distinct (tbl, key::text)) as keys from pgferry.changes where txid > $1::bigint and tbl <> 0",
      [before],
    );
    const logRows = Number(rows[0]!.n);
    const distinctKeys = Number(rows[0]!.keys);

    const baseline = await appliedSum(watch);
    let first: { at: number; applied: number } | undefined;
    proc = PgferryProcess.start(source, target, args);
    await proc.waitFor(
      "the burst to be applied",
      async () => {
        const applied = await appliedSum(watch);
        if (!first && applied > baseline) first = { at: performance.now(), applied };
        return caughtUp(watch, last);
      },
      30 * 60_000,
      100,
    );
    const end = performance.now();
    const catchUpSeconds = (end - proc.startedAt) / 1000;
    const appliedEnd = await appliedSum(watch);
    const [sourceSums, targetSums] = await Promise.all([aggregates(sourceWatch), aggregates(watch)]);

    const idleSourceCpuMsPerSecond =
      opts.lagRates.length > 0
        ? await measureIdleSourceCpu(source, Math.min(10, opts.lagSeconds))
        : undefined;
    const lag: LagResult[] = [];
    for (const rate of opts.lagRates)
      lag.push(await measureLag(source, sourceWatch, watch, rate, opts.lagSeconds));
    const peakMemoryMb = proc.memory.peakMb;
    const notStreaming: LoadCpu[] = [];
    if (opts.lagRates.length > 0) {
      await proc.stop();
      for (const rate of opts.lagRates)
        notStreaming.push(await measureLoadCpu(source, rate, opts.lagSeconds));
    }
    return {
      replay: {
        burstTransactions: burst.transactions,
        burstSeconds: burst.seconds,
        burstTps: burst.tps,
        logRows,
        distinctKeys,
        matches: sourceSums === targetSums,
        sourceRowsPerSecond: logRows / burst.seconds,
        catchUpSeconds,
        replayRowsPerSecond: logRows / catchUpSeconds,
        replayKeysPerSecond: distinctKeys / catchUpSeconds,
        steadyRowsPerSecond:
          first && end > first.at && appliedEnd > first.applied
            ? (appliedEnd - first.applied) / ((end - first.at) / 1000)
            : undefined,
        startupSeconds: first ? (first.at - proc.startedAt) / 1000 : undefined,
      },
      lag,
      ...(idleSourceCpuMsPerSecond === undefined ? {} : { idleSourceCpuMsPerSecond }),
      ...(notStreaming.length > 0 ? { notStreaming } : {}),
      peakMemoryMb,
    };
  } finally {
    if (proc.running) await proc.stop();
    await watch.end();
    await sourceWatch.end();
    await dropTarget(servers, target);
  }
}
