import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { ident, qualified } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import type { Dataset, DatasetTable } from "./dataset.js";
import { parallel, pgEnv, run, shell } from "./proc.js";
import { type BenchServers, dropTarget, freshTarget } from "./servers.js";
import { countMismatches, indexCount } from "./verify-counts.js";

export interface RawPipeResult {
  schemaSeconds: number;
  copySeconds: number;
  indexSeconds: number;
  totalSeconds: number;
  pieces: number;
  indexes: number;
  mismatches: string[];
}

interface Piece {
  table: DatasetTable;
  from: string;
}

/**
 * Splits big integer-keyed tables into key ranges, so N pipes stay busy to the end as pgferry's
 * chunks do; without it the raw figure would measure the largest table, not the pipe.
 */
async function planPieces(source: LocalDatabase, dataset: Dataset, jobs: number, perTable: boolean) {
  const pieceBytes = Math.max(8 * 2 ** 20, dataset.bytes / (jobs * 4));
  const pieces: Piece[] = [];
  for (const t of dataset.tables) {
    const rel = qualified(t.schema, t.name);
    const parts = perTable || !t.intKey ? 1 : Math.ceil(t.bytes / pieceBytes);
    if (parts <= 1) {
      pieces.push({ table: t, from: rel });
      continue;
    }
    const key = ident(t.intKey!);
    const { stdout } = await run("psql", ["-X", "-At", "-c", `select min(${key}), max(${key}) from ${rel}`], {
      env: pgEnv(source.url),
    });
    const [lo, hi] = stdout.trim().split("|").map(Number) as [number, number];
    const step = Math.ceil((hi - lo + 1) / parts);
    for (let a = lo; a <= hi; a += step) {
      pieces.push({
        table: t,
        from: `(select * from only ${rel} where ${key} >= ${a} and ${key} < ${a + step})`,
      });
    }
  }
  return pieces.sort((a, b) => b.table.bytes - a.table.bytes);
}

function prefixed(prefix: string, env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [`${prefix}${k}`, v]));
}

function assignments(prefix: string, env: Record<string, string>): string {
  return Object.keys(env)
    .map((k) => `${k}="$${prefix}${k}"`)
    .join(" ");
}

/** (a) psql COPY TO STDOUT | psql COPY FROM STDIN, N at a time, into tables pre-created without indexes. */
export async function runRawPipe(
  servers: BenchServers,
  source: LocalDatabase,
  dataset: Dataset,
  jobs: number,
  perTable: boolean,
): Promise<RawPipeResult> {
  const target = await freshTarget(servers, "bench_raw");
  const dir = mkdtempSync(path.join(os.tmpdir(), "pgferry-bench-raw-"));
  try {
    const schemaFile = path.join(dir, "schema.dump");
    const srcEnv = pgEnv(source.url);
    const tgtEnv = pgEnv(target.url);
    const t0 = performance.now();
    await run("pg_dump", ["-Fc", "--schema-only", "-N", "pgferry", "-f", schemaFile], { env: srcEnv });
    await run("pg_restore", ["--section=pre-data", "-O", "-x", "-d", target.database, schemaFile], {
      env: tgtEnv,
    });
    const t1 = performance.now();
    const pieces = await planPieces(source, dataset, jobs, perTable);
    const t2 = performance.now();
    const script = `psql -X -q -v ON_ERROR_STOP=1 -c "$SRC_SQL" | ${assignments("TGT_", tgtEnv)} psql -X -q -v ON_ERROR_STOP=1 -c "$TGT_SQL"`;
    await parallel(pieces, jobs, async (p) => {
      await shell(script, {
        ...srcEnv,
        ...prefixed("TGT_", tgtEnv),
        SRC_SQL: `copy ${p.from} to stdout`,
        TGT_SQL: `copy ${qualified(p.table.schema, p.table.name)} from stdin`,
      });
    });
    const t3 = performance.now();
    await run(
      "pg_restore",
      ["--section=post-data", "-j", String(jobs), "-O", "-x", "-d", target.database, schemaFile],
      {
        env: tgtEnv,
      },
    );
    const t4 = performance.now();
    return {
      schemaSeconds: (t1 - t0) / 1000,
      copySeconds: (t3 - t2) / 1000,
      indexSeconds: (t4 - t3) / 1000,
      totalSeconds: (t4 - t0) / 1000,
      pieces: pieces.length,
      indexes: await indexCount(target),
      mismatches: await countMismatches(target, dataset),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await dropTarget(servers, target);
  }
}
