import type { LocalDatabase } from "../src/local-server/index.js";
import { pgEnv, run } from "./proc.js";

export interface PgbenchResult {
  tps: number;
  latencyMs: number;
  transactions: number;
  seconds: number;
}

export interface PgbenchOptions {
  clients: number;
  threads: number;
  seconds: number;
  /** Fixed rate (transactions per second, -R); unthrottled when absent. */
  rate?: number;
}

/** Initialises pgbench tables and gives pgbench_history the primary key pgferry needs. */
export async function pgbenchInit(db: LocalDatabase, scale: number): Promise<void> {
  await run("pgbench", ["-i", "-q", "-s", String(scale), "-I", "dtGvp"], { env: pgEnv(db.url) });
  await db.server.admin(
    db.database,
    "alter table public.pgbench_history add column id bigserial primary key",
  );
}

/** The TPC-B-like builtin script, no vacuum of its own (-n): the caller prepares the tables. */
export function pgbenchArgs(opts: PgbenchOptions): string[] {
  const args = ["-n", "-c", String(opts.clients), "-j", String(opts.threads), "-T", String(opts.seconds)];
  if (opts.rate !== undefined) args.push("-R", String(opts.rate));
  return args;
}

export async function runPgbench(db: LocalDatabase, opts: PgbenchOptions): Promise<PgbenchResult> {
  const out = await run("pgbench", pgbenchArgs(opts), { env: pgEnv(db.url) });
  return parsePgbench(out.stdout, out.seconds);
}

export function parsePgbench(stdout: string, seconds: number): PgbenchResult {
  const num = (re: RegExp): number => {
    const m = re.exec(stdout);
    if (!m) throw new Error(`pgbench output lacks ${re}: ${stdout.slice(-500)}`);
    return Number(m[1]);
  };
  return {
    tps: num(/tps = ([\d.]+)/),
    latencyMs: num(/latency average = ([\d.]+) ms/),
    transactions: num(/number of transactions actually processed: (\d+)/),
    seconds,
  };
}
