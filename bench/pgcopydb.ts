import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LocalDatabase } from "../src/local-server/index.js";
import type { Dataset } from "./dataset.js";
import { run } from "./proc.js";
import { type BenchServers, dropTarget, freshTarget } from "./servers.js";
import { countMismatches, indexCount } from "./verify-counts.js";

export interface PgcopydbResult {
  version: string;
  totalSeconds: number;
  indexes: number;
  mismatches: string[];
}

function installed(): string | undefined {
  try {
    return execFileSync("pgcopydb", ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
      .split("\n")
      .find((l) => l.startsWith("pgcopydb version"))
      ?.replace("pgcopydb version ", "");
  } catch {
    return undefined;
  }
}

/**
 * pgcopydb's version, installing Debian's package first when it is missing and we may (root):
 * the comparison the issue asks for must not silently drop out of the report.
 */
export function ensurePgcopydb(): string {
  const have = installed();
  if (have) return have;
  if (process.getuid?.() !== 0)
    throw new Error("pgcopydb is not installed and this is not root: apt-get install pgcopydb");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "pgcopydb"], {
    env,
    stdio: "ignore",
  });
  const now = installed();
  if (!now) throw new Error("apt-get install pgcopydb did not give a working pgcopydb");
  return now;
}

/**
 * `pgcopydb clone`: schema, data (--table-jobs N), indexes and constraints (--index-jobs N),
 * sequences, then its VACUUM ANALYZE (pgferry ANALYZEs every table too), into an empty target.
 * The URLs travel in PGCOPYDB_SOURCE_PGURI / PGCOPYDB_TARGET_PGURI, never on the command line.
 */
export async function runPgcopydb(
  servers: BenchServers,
  source: LocalDatabase,
  dataset: Dataset,
  jobs: number,
): Promise<PgcopydbResult> {
  const version = ensurePgcopydb();
  const target = await freshTarget(servers, "bench_pgcopydb");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-bench-pgcopydb-"));
  try {
    const t0 = performance.now();
    await run(
      "pgcopydb",
      [
        "clone",
        "--dir",
        path.join(dir, "work"),
        "--table-jobs",
        String(jobs),
        "--index-jobs",
        String(jobs),
        "--no-owner",
        "--no-acl",
        "--notice",
      ],
      { env: { PGCOPYDB_SOURCE_PGURI: source.url, PGCOPYDB_TARGET_PGURI: target.url } },
    );
    const totalSeconds = (performance.now() - t0) / 1000;
    return {
      version,
      totalSeconds,
      indexes: await indexCount(target),
      mismatches: await countMismatches(target, dataset),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropTarget(servers, target);
  }
}
