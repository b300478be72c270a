import { readFileSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { to as copyTo } from "pg-copy-streams";
import { describe, expect, it } from "vitest";
import { type ClaimedChunk, chunkSelect } from "../../src/copy/copy-chunk.js";
import { parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents, listUserTables } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, ownerSession, sourceDb, targetDb } from "../harness/servers.js";

/** Bytes of row data a COPY of `select` gives on `db`, in text or binary. */
async function copySize(db: LocalDatabase, select: string, binary: boolean): Promise<number> {
  const client = await ownerSession(db);
  try {
    let bytes = 0;
    await pipeline(
      client.query(copyTo(`copy (${select}) to stdout${binary ? " (format binary)" : ""}`)),
      async (s) => {
        for await (const b of s as AsyncIterable<Buffer>) bytes += b.length;
      },
    );
    return bytes;
  } finally {
    await client.end();
  }
}

/**
 * Which format each chunk of a table went in: the byte count the copy recorded is compared with
 * what the chunk's own query gives in binary and in text on the source.
 */
async function chunkFormats(src: LocalDatabase, tgt: LocalDatabase, table: string): Promise<string[]> {
  const rows = await asOwner<{
    schema_name: string;
    table_name: string;
    predicate: string | null;
    bytes: string;
    columns: ClaimedChunk["columns"];
  }>(
    tgt,
    `select c.schema_name, c.table_name, c.predicate, c.bytes, t.columns
       from pgferry.chunks c join pgferry.tables t on t.id = c.table_id
      where t.table_name = $1 order by c.chunk_no`,
    [table],
  );
  const formats: string[] = [];
  for (const r of rows) {
    const { select } = chunkSelect({
      tableId: 0,
      chunkNo: 0,
      schema: r.schema_name,
      name: r.table_name,
      predicate: r.predicate,
      table,
      columns: r.columns,
      whole: false,
      kind: "table",
    });
    const binary = await copySize(src, select, true);
    const text = await copySize(src, select, false);
    expect(binary).not.toBe(text);
    const bytes = Number(r.bytes);
    formats.push(bytes === binary ? "binary" : bytes === text ? "text" : `neither (${bytes})`);
  }
  return formats;
}

const FIXTURE = readFileSync(new URL("../fixtures/types-roundtrip.sql", import.meta.url), "utf8");

describe.each(testPairs())("types round-trip, %s", (pair) => {
  it(`${pairLabel(pair)}: every built-in type, odd identifier, partition, identity and generated column arrives exactly`, async () => {
    const src = await sourceDb(pair.source);
    const tgt = await targetDb(pair.target);
    await asOwner(src, FIXTURE);
    const result = await runMigration(
      {
        source: parseConnUrl(src.url, "source"),
        target: parseConnUrl(tgt.url, "target"),
        emit: () => {},
        signal: new AbortController().signal,
      },
      // Tiny chunks: the sampled boundaries of the enum, text and timestamptz keys are
      // rendered as typed literals in the chunk predicates, so they are exercised too.
      { jobs: 2, indexJobs: 1, chunkRows: 20, stream: false },
    );
    expect(result.outcome).toBe("indexed");
    const tables = await listUserTables(src);
    expect(tables).toContain('Other Schema.we"ird table');
    expect(tables).toContain("public.events_2024");
    await assertSameContents(src, tgt);

    const chunks = await asOwner<{ table_name: string; n: number }>(
      tgt,
      "select table_name, count(*)::int as n from pgferry.chunks group by 1 order by 1",
    );
    expect(chunks.find((c) => c.table_name === "enum_keyed")!.n).toBeGreaterThan(5);
    expect(chunks.find((c) => c.table_name === "ts_keyed")!.n).toBeGreaterThan(5);
    // The partitioned table is copied through its leaves only.
    expect(chunks.some((c) => c.table_name === "events")).toBe(false);
    // Generated columns are computed by the target, identity values kept as they were.
    const [g] = await asOwner<{ g: string; id: string }>(
      tgt,
      "select g, id::text from public.ident where v = 'v7'",
    );
    expect(g).toEqual({ g: "V7", id: "7" });
    // Built-in types only: binary COPY; an enum, domain or composite column: text for the whole table.
    const binary = await chunkFormats(src, tgt, "builtin_types");
    expect(binary.length).toBeGreaterThan(0);
    expect(new Set(binary)).toEqual(new Set(["binary"]));
    expect(new Set(await chunkFormats(src, tgt, "types"))).toEqual(new Set(["text"]));
  });
});

describe("table filters", () => {
  const pair = testPairs()[0]!;

  it(`${pairLabel(pair)}: --tables and --exclude decide what is created, copied and captured`, async () => {
    const src = await sourceDb(pair.source);
    const tgt = await targetDb(pair.target);
    await asOwner(
      src,
      `create schema audit;
       create table public.a (id int primary key); insert into public.a select generate_series(1, 30);
       create table public.b (id int primary key); insert into public.b select generate_series(1, 5);
       create table audit.events (id int primary key, what text); insert into audit.events values (1, 'login');
       create table audit.noise (id int primary key);`,
    );
    const result = await runMigration(
      {
        source: parseConnUrl(src.url, "source"),
        target: parseConnUrl(tgt.url, "target"),
        emit: () => {},
        signal: new AbortController().signal,
      },
      { jobs: 1, indexJobs: 1, stream: false, include: ["public.*", "audit.events"], exclude: ["public.b"] },
    );
    expect(result.outcome).toBe("indexed");
    expect(await listUserTables(tgt)).toEqual(["audit.events", "public.a"]);
    await assertSameContents(src, tgt, { tables: ["audit.events", "public.a"] });
    const captured = await asOwner<{ rel: string }>(
      src,
      "select distinct tgrelid::regclass::text as rel from pg_trigger where tgname like 'pgferry\\_%' order by 1",
    );
    expect(captured.map((c) => c.rel).sort()).toEqual(["a", "audit.events", "pgferry.heartbeat"]);
  });
});
