import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseConnUrl } from "../../src/db/index.js";
import { runMigration } from "../../src/migration.js";
import { assertSameContents, listUserTables } from "../harness/compare.js";
import { pairLabel, testPairs } from "../harness/pairs.js";
import { asOwner, sourceDb, targetDb } from "../harness/servers.js";

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
