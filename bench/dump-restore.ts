import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LocalDatabase } from "../src/local-server/index.js";
import type { Dataset } from "./dataset.js";
import { pgEnv, run } from "./proc.js";
import { type BenchServers, dropTarget, freshTarget } from "./servers.js";
import { countMismatches, indexCount } from "./verify-counts.js";

export interface DumpRestoreResult {
  dumpSeconds: number;
  restoreSeconds: number;
  totalSeconds: number;
  dumpBytes: number;
  indexes: number;
  mismatches: string[];
  /** pg_restore's complaints, if it exited non-zero (e.g. objects the target role may not create). */
  warnings: string[];
}

/** (b) pg_dump -Fd -j N, then pg_restore -j N (data and indexes, no owners), to an empty target. */
export async function runDumpRestore(
  servers: BenchServers,
  source: LocalDatabase,
  dataset: Dataset,
  jobs: number,
): Promise<DumpRestoreResult> {
  const target = await freshTarget(servers, "bench_dump");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-bench-dump-"));
  const dumpDir = path.join(dir, "dump");
  try {
    const t0 = performance.now();
    await run("pg_dump", ["-Fd", "-j", String(jobs), "-N", "pgferry", "-f", dumpDir], {
      env: pgEnv(source.url),
    });
    const t1 = performance.now();
    const restore = await run(
      "pg_restore",
      ["-j", String(jobs), "-O", "-x", "-d", target.database, dumpDir],
      {
        env: pgEnv(target.url),
        allowFail: true,
      },
    );
    const t2 = performance.now();
    const du = await run("du", ["-sb", dumpDir]);
    return {
      dumpSeconds: (t1 - t0) / 1000,
      restoreSeconds: (t2 - t1) / 1000,
      totalSeconds: (t2 - t0) / 1000,
      dumpBytes: Number(du.stdout.split(/\s/)[0]),
      indexes: await indexCount(target),
      mismatches: await countMismatches(target, dataset),
      warnings:
        restore.code === 0
          ? []
          : restore.stderr
              .split("\n")
              .filter((l) => l.trim())
              .slice(0, 10),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropTarget(servers, target);
  }
}
