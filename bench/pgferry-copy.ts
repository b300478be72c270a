import pg from "pg";
import type { LocalDatabase, LocalServer } from "../src/local-server/index.js";
import type { Dataset } from "./dataset.js";
import { PgferryProcess } from "./pgferry-process.js";
import { sleep } from "./proc.js";
import { type BenchServers, dropTarget, freshTarget } from "./servers.js";
import { countMismatches, indexCount } from "./verify-counts.js";

export interface PgferryCopyResult {
  /** Spawn to every table indexed (check, prepare, copy, index). */
  totalSeconds: number;
  /** Copy start (migration.copy_started_at) to the last chunk done. */
  copySeconds: number;
  /** Last chunk done to the last table indexed. */
  indexTailSeconds: number;
  prepareSeconds: number;
  chunks: number;
  peakMemoryMb: number;
  exitCode: number;
  indexes: number;
  mismatches: string[];
}

/** A superuser session over the Unix socket: watching costs neither side a TLS handshake per poll. */
export async function watchClient(server: LocalServer, database: string): Promise<pg.Client> {
  const c = new pg.Client({ host: server.socketDir, port: server.port, user: "postgres", database });
  c.on("error", () => {});
  await c.connect();
  return c;
}

/**
 * Removes what prepare left on the source (schema pgferry; its capture functions take the
 * pgferry_ triggers with them), so the next contender dumps and reads the same database.
 */
async function removeCapture(source: LocalDatabase): Promise<void> {
  await source.server.admin(source.database, "drop schema if exists pgferry cascade");
  const { rows } = await source.server.admin<{ n: string }>(
    source.database,
    "select count(*) as n from pg_trigger where tgname like 'pgferry\\_%'",
  );
  if (Number(rows[0]!.n) > 0)
    throw new Error("pgferry triggers are left on the source after dropping its schema");
}

/** True once every table pgferry planned is indexed (or already streaming). */
export async function allIndexed(watch: pg.ClientBase): Promise<boolean> {
  const { rows } = await watch.query<{ total: string; ready: string }>(
    `select count(*) as total, count(*) filter (where phase in ('indexed', 'streaming')) as ready
       from pgferry.tables`,
  );
  const r = rows[0]!;
  return Number(r.total) > 0 && r.total === r.ready;
}

interface Timings {
  last_indexed_ms: number;
  prepare: number;
  copy: number;
  index_tail: number;
  chunks: string;
}

const TIMINGS_SQL = `
select extract(epoch from t.last_indexed)::float8 * 1000 as last_indexed_ms,
       extract(epoch from coalesce(m.copy_started_at, m.created_at) - m.created_at)::float8 as prepare,
       extract(epoch from c.last_done - coalesce(m.copy_started_at, c.first_done))::float8 as copy,
       extract(epoch from t.last_indexed - c.last_done)::float8 as index_tail,
       c.n as chunks
  from pgferry.migration m,
       (select count(*) as n, min(done_at) as first_done, max(done_at) as last_done from pgferry.chunks) c,
       (select max(indexed_at) as last_indexed from pgferry.tables) t`;

/** (c) `pgferry start --jobs N` from an empty target until every table is indexed, then Ctrl-C. */
export async function runPgferryCopy(
  servers: BenchServers,
  source: LocalDatabase,
  dataset: Dataset,
  jobs: number,
  extraArgs: string[],
  bin?: string,
): Promise<PgferryCopyResult> {
  const target = await freshTarget(servers, "bench_pgferry");
  const watch = await watchClient(servers.target, target.database);
  // --no-stream: start ends by itself once every table is indexed. --index-jobs as pg_restore -j.
  const proc = PgferryProcess.start(
    source,
    target,
    ["--jobs", String(jobs), "--index-jobs", String(jobs), "--no-stream", ...extraArgs],
    bin,
  );
  try {
    await proc.waitFor("every table indexed", () => allIndexed(watch), 30 * 60_000);
    // Let it finish by itself (its exit status is part of the result); Ctrl-C only if it lingers.
    await Promise.race([proc.exited, sleep(30_000)]);
    const exitCode = await proc.stop();
    const t = (await watch.query<Timings>(TIMINGS_SQL)).rows[0]!;
    return {
      totalSeconds: (t.last_indexed_ms - proc.startedAtMs) / 1000,
      copySeconds: t.copy,
      indexTailSeconds: t.index_tail,
      prepareSeconds: t.prepare,
      chunks: Number(t.chunks),
      peakMemoryMb: proc.memory.peakMb,
      exitCode,
      indexes: await indexCount(target),
      mismatches: await countMismatches(target, dataset),
    };
  } finally {
    if (proc.running) await proc.stop(5000);
    await watch.end();
    await dropTarget(servers, target);
    await removeCapture(source);
  }
}
