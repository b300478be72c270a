import pg from "pg";
import { prng } from "../../src/demo/prng.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { ownerSession } from "./servers.js";

/**
 * A randomized concurrent workload, for tests and the demo: several clients run short
 * multi-statement transactions across tables with several key types (bigint, uuid, text,
 * composite, identity, a partitioned table, a table with a deferrable unique column):
 * inserts, updates, deletes, primary-key updates, TRUNCATEs (whole tables and one leaf
 * partition), savepoints, rollbacks and large values. Conflicts (unique violations, deadlocks)
 * just roll the transaction back; a lost connection reconnects; a fenced database (SQLSTATE
 * 25006) is counted and waited out.
 *
 *   await createWriterTables(db);
 *   const w = startRandomWriter(db, { clients: 4, seed: 7 });
 *   …
 *   const stats = await w.stop();
 */

/** The tables, in schema "rw". Every table has a key, as pgferry requires. */
export const WRITER_TABLES = [
  "big_key",
  "uuid_key",
  "text_key",
  "composite_key",
  "ident",
  "parted",
  "uniq",
] as const;
export type WriterTable = (typeof WRITER_TABLES)[number];

export const WRITER_SCHEMA_SQL = `
create schema if not exists rw;
create table rw.big_key (
  id bigint primary key, n int not null default 0, label text, payload text, amount numeric(12,2),
  at timestamptz, tags text[], doc jsonb, twice bigint generated always as (n * 2) stored);
create table rw.uuid_key (id uuid primary key, n int not null default 0, note text, blob bytea);
create table rw.text_key (code text primary key, n int not null default 0, val double precision, flag boolean);
create table rw.composite_key (a int, b text, n int not null default 0, day date, note text, primary key (a, b));
create table rw.ident (id int generated always as identity primary key, n int not null default 0, note text);
create table rw.parted (region int not null, id bigint not null, n int not null default 0, note text,
  primary key (region, id)) partition by range (region);
create table rw.parted_a partition of rw.parted for values from (0) to (5);
create table rw.parted_b partition of rw.parted for values from (5) to (10);
create table rw.uniq (id bigint primary key, email text not null, n int not null default 0,
  constraint uniq_email unique (email) deferrable initially immediate);
`;

export interface RandomWriterOptions {
  /** Concurrent clients (default 4). */
  clients?: number;
  /** Tables to write (default all of WRITER_TABLES). */
  tables?: readonly WriterTable[];
  seed?: number;
  /** Pause between one client's transactions, ms (default 10). */
  pauseMs?: number;
  /** Chance that a statement is a TRUNCATE (default 0.002). */
  truncateRate?: number;
  /** Keys per table: small, so updates, deletes and key moves hit existing rows (default 400). */
  keySpace?: number;
}

export interface WriterStats {
  transactions: number;
  committed: number;
  rolledBack: number;
  /** Transactions that failed on a conflict or lost connection (rolled back by the server). */
  failed: number;
  fenced: number;
  statements: Record<string, number>;
  /** Unexpected errors (first few). */
  errors: string[];
}

export interface RandomWriter {
  readonly stats: WriterStats;
  stop(): Promise<WriterStats>;
}

/** Creates the writer's tables (schema rw) in a database, as its owner. */
export async function createWriterTables(db: LocalDatabase): Promise<void> {
  const c = await openClient(db);
  try {
    await c.query(WRITER_SCHEMA_SQL);
  } finally {
    await c.end();
  }
}

/** Seeds every table with `rows` rows so the copy has something to move. */
export async function seedWriterTables(db: LocalDatabase, rows = 200, seed = 1): Promise<void> {
  const c = await openClient(db);
  const rand = prng(seed);
  try {
    for (const table of WRITER_TABLES) {
      for (let i = 0; i < rows; i++) {
        await c.query(insertFor(table, rand, 400)).catch((err) => {
          if ((err as { code?: string }).code !== "23505") throw err;
        });
      }
    }
  } finally {
    await c.end();
  }
}

export function startRandomWriter(db: LocalDatabase, opts: RandomWriterOptions = {}): RandomWriter {
  const stats: WriterStats = {
    transactions: 0,
    committed: 0,
    rolledBack: 0,
    failed: 0,
    fenced: 0,
    statements: {},
    errors: [],
  };
  let stopping = false;
  const clients = opts.clients ?? 4;
  const loops = Array.from({ length: clients }, (_, i) =>
    clientLoop(db, { ...opts, seed: (opts.seed ?? 1) * 1000 + i }, stats, () => stopping),
  );
  return {
    stats,
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return stats;
    },
  };
}

function openClient(db: LocalDatabase): Promise<pg.Client> {
  return ownerSession(db, "random-writer");
}

const EXPECTED = new Set(["23505", "40P01", "40001", "55P03", "23P01", "57014"]);

async function clientLoop(
  db: LocalDatabase,
  opts: RandomWriterOptions,
  stats: WriterStats,
  stopping: () => boolean,
): Promise<void> {
  const rand = prng(opts.seed ?? 1);
  const tables = opts.tables ?? WRITER_TABLES;
  let client: pg.Client | undefined;
  while (!stopping()) {
    try {
      client ??= await openClient(db);
      stats.transactions++;
      const commit = await oneTransaction(client, rand, tables, opts, stats);
      if (commit) stats.committed++;
      else stats.rolledBack++;
    } catch (err) {
      const code = (err as { code?: string }).code ?? "";
      if (client) await client.query("rollback").catch(() => {});
      if (code === "25006") stats.fenced++;
      else if (EXPECTED.has(code)) stats.failed++;
      else {
        stats.failed++;
        const message = (err as Error).message;
        const lost = /terminat|connection|ECONNRE|not queryable|shutting down|57P0/i.test(
          `${message} ${code}`,
        );
        if (!lost && stats.errors.length < 10) stats.errors.push(`${code} ${message}`);
        await client?.end().catch(() => {});
        client = undefined;
        await sleep(200);
      }
    }
    await sleep(Math.floor(rand() * 2 * (opts.pauseMs ?? 10)));
  }
  await client?.end().catch(() => {});
}

async function oneTransaction(
  client: pg.Client,
  rand: () => number,
  tables: readonly WriterTable[],
  opts: RandomWriterOptions,
  stats: WriterStats,
): Promise<boolean> {
  await client.query("begin");
  const statements = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < statements; i++) {
    const table = tables[Math.floor(rand() * tables.length)]!;
    const [kind, sql] = statementFor(table, rand, opts);
    stats.statements[kind] = (stats.statements[kind] ?? 0) + 1;
    if (rand() < 0.05) {
      // A statement undone by a savepoint: its log rows vanish with it.
      await client.query("savepoint s");
      await client.query(sql);
      await client.query("rollback to savepoint s");
    } else {
      await client.query(sql);
    }
  }
  if (rand() < 0.1) {
    await client.query("rollback");
    return false;
  }
  await client.query("commit");
  return true;
}

function text(rand: () => number): string {
  const big = rand() < 0.01;
  const n = big ? 20_000 + Math.floor(rand() * 200_000) : Math.floor(rand() * 40);
  const chunk = randomHex(rand, Math.min(n, 64));
  return big ? chunk.repeat(Math.ceil(n / Math.max(1, chunk.length))).slice(0, n) : chunk;
}

function randomHex(rand: () => number, n: number): string {
  let s = "";
  while (s.length < n) s += Math.floor(rand() * 0xffffffff).toString(16);
  return s.slice(0, n);
}

function lit(v: string | null): string {
  return v === null ? "null" : pg.escapeLiteral(v);
}

function uuid(rand: () => number, keySpace: number): string {
  // A small uuid space so rows are revisited.
  const k = Math.floor(rand() * keySpace);
  return `00000000-0000-4000-8000-${k.toString(16).padStart(12, "0")}`;
}

function keyOf(table: WriterTable, rand: () => number, space: number): string {
  const k = Math.floor(rand() * space);
  switch (table) {
    case "big_key":
    case "uniq":
      return `id = ${k}`;
    case "ident":
      return `id = ${k}`;
    case "uuid_key":
      return `id = '${uuid(rand, space)}'`;
    case "text_key":
      return `code = 'k${k}'`;
    case "composite_key":
      return `a = ${k % 40} and b = 'b${Math.floor(k / 40)}'`;
    case "parted":
      return `region = ${k % 10} and id = ${k}`;
  }
}

function insertFor(table: WriterTable, rand: () => number, space: number): string {
  const k = Math.floor(rand() * space);
  const n = Math.floor(rand() * 1000);
  switch (table) {
    case "big_key":
      return `insert into rw.big_key (id, n, label, payload, amount, at, tags, doc) values (${k}, ${n}, ${lit(text(rand))}, ${lit(rand() < 0.5 ? text(rand) : null)}, ${(rand() * 10000).toFixed(2)}, now() - interval '${n} seconds', array[${lit(text(rand))}, ${lit(text(rand))}], jsonb_build_object('n', ${n}, 's', ${lit(text(rand))})) on conflict do nothing`;
    case "uuid_key":
      return `insert into rw.uuid_key (id, n, note, blob) values ('${uuid(rand, space)}', ${n}, ${lit(text(rand))}, decode(${lit(randomHex(rand, 16))}, 'hex')) on conflict do nothing`;
    case "text_key":
      return `insert into rw.text_key (code, n, val, flag) values ('k${k}', ${n}, ${rand() * 1e6 - 5e5}, ${rand() < 0.5}) on conflict do nothing`;
    case "composite_key":
      return `insert into rw.composite_key (a, b, n, day, note) values (${k % 40}, 'b${Math.floor(k / 40)}', ${n}, date '2020-01-01' + ${n}, ${lit(text(rand))}) on conflict do nothing`;
    case "ident":
      return `insert into rw.ident (n, note) values (${n}, ${lit(text(rand))})`;
    case "parted":
      return `insert into rw.parted (region, id, n, note) values (${k % 10}, ${k}, ${n}, ${lit(text(rand))}) on conflict do nothing`;
    case "uniq":
      return `insert into rw.uniq (id, email, n) values (${k}, 'e${Math.floor(rand() * space * 2)}@x', ${n}) on conflict (id) do nothing`;
  }
}

function statementFor(table: WriterTable, rand: () => number, opts: RandomWriterOptions): [string, string] {
  const space = opts.keySpace ?? 400;
  const rel = `rw.${table}`;
  const r = rand();
  if (r < (opts.truncateRate ?? 0.002)) {
    if (table === "parted" && rand() < 0.5) return ["truncate-leaf", "truncate rw.parted_a"];
    return ["truncate", `truncate ${rel}`];
  }
  if (r < 0.4) return ["insert", insertFor(table, rand, space)];
  if (r < 0.65) {
    const n = Math.floor(rand() * 1000);
    const set =
      table === "big_key" && rand() < 0.2 ? `n = ${n}, payload = ${lit(text(rand))}` : `n = n + ${n % 7}`;
    return ["update", `update ${rel} set ${set} where ${keyOf(table, rand, space)}`];
  }
  if (r < 0.72 && (table === "big_key" || table === "uniq" || table === "parted")) {
    const lo = Math.floor(rand() * space);
    return ["update-range", `update ${rel} set n = n + 1 where id between ${lo} and ${lo + 15}`];
  }
  if (r < 0.85) return ["delete", `delete from ${rel} where ${keyOf(table, rand, space)}`];
  return ["key-update", keyUpdate(table, rand, space)];
}

/** A statement that changes primary keys (or swaps unique values): old keys must vanish on the target. */
function keyUpdate(table: WriterTable, rand: () => number, space: number): string {
  const a = Math.floor(rand() * space);
  const b = Math.floor(rand() * space);
  switch (table) {
    case "big_key":
      return `update rw.big_key set id = ${b} where id = ${a}`;
    case "ident":
      return `update rw.ident set n = n + 1 where id = ${a}`;
    case "uuid_key":
      return `update rw.uuid_key set id = '${uuid(rand, space)}' where id = '${uuid(rand, space)}'`;
    case "text_key":
      return `update rw.text_key set code = 'k${b}' where code = 'k${a}'`;
    case "composite_key":
      return `update rw.composite_key set b = 'b${b % 10}' where a = ${a % 40} and b = 'b${Math.floor(a / 40)}'`;
    case "parted":
      // Moves the row across partitions when the region changes.
      return `update rw.parted set region = ${b % 10} where region = ${a % 10} and id = ${a}`;
    case "uniq":
      // Swaps two emails in one statement (the unique constraint is checked at its end).
      return `update rw.uniq u set email = o.email from rw.uniq o
               where (u.id, o.id) in ((${a}, ${b}), (${b}, ${a})) and ${a} <> ${b}`;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
