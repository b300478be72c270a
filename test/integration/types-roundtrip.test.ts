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
