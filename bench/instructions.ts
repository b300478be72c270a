import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { prng } from "../src/demo/prng.js";
import { herokuLikeDatabase, LocalServer, serverBinaries } from "../src/local-server/index.js";
import { sourceClient } from "./dataset.js";
import { pgbenchInit } from "./pgbench.js";
import { dropTriggers, installTriggers } from "./trigger-overhead.js";

/**
 * The capture triggers' cost counted in CPU instructions (valgrind's callgrind), not seconds:
 * the same figure on every run, whatever else the machine does, where TPS on a shared two-core
 * machine moves by ±10 % from one minute to the next. One backend (single-user mode) runs a
 * fixed script of TPC-B-like transactions with and without the triggers; the server's start-up
 * (an empty script) is subtracted. No network or protocol work is counted, so the overhead
 * here is an upper bound of what a client-server run pays.
 */
export interface InstructionsResult {
  transactions: number;
  without: number;
  with: number;
  /** with / without - 1, per transaction. */
  overhead: number;
}

const SCALE = 10;

/** Transactions of pgbench's builtin TPC-B-like script, with fixed random values. */
export function tpcbScript(transactions: number, seed = 7): string {
  const rnd = prng(seed);
  const pick = (n: number) => 1 + Math.floor(rnd() * n);
  const lines: string[] = [];
  for (let i = 0; i < transactions; i++) {
    const aid = pick(100_000 * SCALE);
    const bid = pick(SCALE);
    const tid = pick(10 * SCALE);
    const delta = pick(10_001) - 5001;
    lines.push(
      "BEGIN;",
      `UPDATE pgbench_accounts SET abalance = abalance + ${delta} WHERE aid = ${aid};`,
      `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`,
      `UPDATE pgbench_tellers SET tbalance = tbalance + ${delta} WHERE tid = ${tid};`,
      `UPDATE pgbench_branches SET bbalance = bbalance + ${delta} WHERE bid = ${bid};`,
      `INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${tid}, ${bid}, ${aid}, ${delta}, CURRENT_TIMESTAMP);`,
      "END;",
    );
  }
  return `${lines.join("\n")}\n`;
}

export function valgrindAvailable(): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => existsSync(path.join(d, "valgrind")));
}

/** Instructions the single-user backend executes on `script` (start-up and shutdown included). */
function countInstructions(server: LocalServer, database: string, script: string): Promise<number> {
  const postgres = path.join(serverBinaries(server.major), "bin", "postgres");
  const owner = server.owner ?? {};
  const args = [
    "--tool=callgrind",
    "--callgrind-out-file=/dev/null",
    postgres,
    "--single",
    "-D",
    server.dataDir,
    "-c",
    "fsync=off",
    "-c",
    "autovacuum=off",
    database,
  ];
  return new Promise((resolve, reject) => {
    const p = spawn("valgrind", args, { ...owner, stdio: ["pipe", "ignore", "pipe"], cwd: server.baseDir });
    let err = "";
    p.stderr!.on("data", (d) => (err += d));
    p.stdin!.on("error", () => {});
    p.stdin!.end(script);
    p.on("error", reject);
    p.on("close", (code) => {
      const m = /Collected : (\d+)/.exec(err);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`valgrind postgres --single exited ${code}: ${err.trim().slice(-800)}`));
    });
  });
}

/** (4a, deterministic) instructions per TPC-B-like transaction without and with capture. */
export async function runInstructionCount(transactions: number): Promise<InstructionsResult> {
  const server = await LocalServer.start({ major: 15, durable: false });
  try {
    const db = await herokuLikeDatabase(server, "bench_instructions", { role: "bench_instructions_owner" });
    await pgbenchInit(db, SCALE);
    const script = tpcbScript(transactions);
    const perTransaction: Record<"with" | "without", number> = { with: 0, without: 0 };
    for (const side of ["without", "with"] as const) {
      const c = await sourceClient(db);
      try {
        if (side === "with") await installTriggers(c);
        else await dropTriggers(c);
      } finally {
        await c.end();
      }
      // Same start for both: the history table empty, the balances' pages clean.
      await server.admin(db.database, "truncate pgbench_history");
      await server.admin(db.database, "vacuum analyze pgbench_accounts, pgbench_branches, pgbench_tellers");
      await server.admin(db.database, "checkpoint");
      await server.halt();
      try {
        const empty = await countInstructions(server, db.database, "\n");
        const full = await countInstructions(server, db.database, script);
        perTransaction[side] = (full - empty) / transactions;
      } finally {
        await server.restart();
      }
    }
    return {
      transactions,
      without: perTransaction.without,
      with: perTransaction.with,
      overhead: perTransaction.with / perTransaction.without - 1,
    };
  } finally {
    await server.stop();
  }
}
