import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { prng } from "../src/demo/prng.js";
import {
  herokuLikeDatabase,
  type LocalDatabase,
  LocalServer,
  serverBinaries,
} from "../src/local-server/index.js";
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
  /**
   * A table without a key next to a keyed one (issue 11): pgbench_history as pgbench makes it
   * (no key: its whole row is logged) against the bench's keyed one (an id primary key).
   * Instructions per transaction, each against its own run without triggers.
   */
  keyless?: {
    /** TPC-B-like, pgbench_history keyless: without triggers, with. */
    tpcbWithout: number;
    tpcbWith: number;
    tpcbOverhead: number;
    /** One INSERT into pgbench_history per transaction: capture's cost of one row. */
    insertKeyedWithout: number;
    insertKeyedWith: number;
    insertKeylessWithout: number;
    insertKeylessWith: number;
    /** Instructions capture adds to one insert, keyed and keyless. */
    captureKeyed: number;
    captureKeyless: number;
  };
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

/** One row appended to pgbench_history per transaction: the capture of one insert, alone. */
export function historyScript(transactions: number, seed = 11): string {
  const rnd = prng(seed);
  const pick = (n: number) => 1 + Math.floor(rnd() * n);
  const lines: string[] = [];
  for (let i = 0; i < transactions; i++) {
    lines.push(
      `BEGIN; INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (${pick(10 * SCALE)}, ${pick(SCALE)}, ${pick(100_000 * SCALE)}, ${pick(10_001) - 5001}, CURRENT_TIMESTAMP); END;`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function valgrindAvailable(): boolean {
  return (process.env.PATH ?? "").split(":").some((d) => existsSync(path.join(d, "valgrind")));
}

/** Instructions the single-user backend executes on `script` (start-up and shutdown included). */
export function countInstructions(server: LocalServer, database: string, script: string): Promise<number> {
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

/**
 * Instructions per transaction of each script, with the triggers as `side` says, from the same
 * start (history empty, balances' pages clean); the server's start-up is subtracted.
 */
async function countPerTransaction(
  server: LocalServer,
  db: LocalDatabase,
  side: "without" | "with" | "keyless",
  scripts: { script: string; transactions: number }[],
): Promise<number[]> {
  const c = await sourceClient(db);
  try {
    if (side === "without") await dropTriggers(c);
    else await installTriggers(c, side === "keyless");
  } finally {
    await c.end();
  }
  const out: number[] = [];
  for (const { script, transactions } of scripts) {
    await server.admin(db.database, "truncate pgbench_history");
    await server.admin(db.database, "vacuum analyze pgbench_accounts, pgbench_branches, pgbench_tellers");
    await server.admin(db.database, "checkpoint");
    await server.halt();
    try {
      const empty = await countInstructions(server, db.database, "\n");
      const full = await countInstructions(server, db.database, script);
      out.push((full - empty) / transactions);
    } finally {
      await server.restart();
    }
  }
  return out;
}

/** (4a, deterministic) instructions per TPC-B-like transaction without and with capture. */
export async function runInstructionCount(transactions: number): Promise<InstructionsResult> {
  const server = await LocalServer.start({ major: 15, durable: false });
  try {
    const db = await herokuLikeDatabase(server, "bench_instructions", { role: "bench_instructions_owner" });
    await pgbenchInit(db, SCALE);
    const tpcb = { script: tpcbScript(transactions), transactions };
    const inserts = { script: historyScript(transactions * 4), transactions: transactions * 4 };
    const [without, insertKeyedWithout] = await countPerTransaction(server, db, "without", [tpcb, inserts]);
    const [withTriggers, insertKeyedWith] = await countPerTransaction(server, db, "with", [tpcb, inserts]);
    // pgbench_history as pgbench makes it: no key.
    await dropTriggersOf(db);
    await server.admin(db.database, "alter table public.pgbench_history drop column id");
    const [tpcbWithout, insertKeylessWithout] = await countPerTransaction(server, db, "without", [
      tpcb,
      inserts,
    ]);
    const [tpcbWith, insertKeylessWith] = await countPerTransaction(server, db, "keyless", [tpcb, inserts]);
    return {
      transactions,
      without: without!,
      with: withTriggers!,
      overhead: withTriggers! / without! - 1,
      keyless: {
        tpcbWithout: tpcbWithout!,
        tpcbWith: tpcbWith!,
        tpcbOverhead: tpcbWith! / tpcbWithout! - 1,
        insertKeyedWithout: insertKeyedWithout!,
        insertKeyedWith: insertKeyedWith!,
        insertKeylessWithout: insertKeylessWithout!,
        insertKeylessWith: insertKeylessWith!,
        captureKeyed: insertKeyedWith! - insertKeyedWithout!,
        captureKeyless: insertKeylessWith! - insertKeylessWithout!,
      },
    };
  } finally {
    await server.stop();
  }
}

async function dropTriggersOf(db: LocalDatabase): Promise<void> {
  const c = await sourceClient(db);
  try {
    await dropTriggers(c);
  } finally {
    await c.end();
  }
}
