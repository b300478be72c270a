import { describe, expect, it } from "vitest";
import type { ControlTable } from "../../src/copy/control-tables.js";
import { planTable } from "../../src/copy/planner.js";
import { connect, parseConnUrl } from "../../src/db/index.js";
import { testPairs } from "../harness/pairs.js";
import { asOwner, sourceDb } from "../harness/servers.js";

// Issue 17, item 14: integer-range chunking split [min, max] evenly; after a few keys moved to
// ~10,000,000, one chunk held 199,987 of 200,000 rows.

const TABLE: ControlTable = {
  id: 1,
  schema: "public",
  name: "skewed",
  kind: "table",
  keyColumns: ["id"],
  identity: "key",
  columns: [
    { name: "id", type: "bigint", generated: false },
    { name: "v", type: "text", generated: false },
  ],
  phase: "pending",
  rowsEstimate: 0,
  bytesEstimate: 0,
};

const sources = [...new Set(testPairs().map((p) => p.source))];

describe.each(sources)("chunks follow the key distribution (PostgreSQL %i source)", (major) => {
  it("an integer key with a few far-out values still gets chunks of similar size", async () => {
    const db = await sourceDb(major);
    await asOwner(
      db,
      `create table public.skewed (id bigint primary key, v text);
       insert into public.skewed select g, 'v' || g from generate_series(1, 200000) g;
       update public.skewed set id = 10000000 + id where id > 199990;
       analyze public.skewed;`,
    );
    const c = await connect(parseConnUrl(db.url, "source"), { stage: "copy" });
    try {
      const chunks = await planTable(c, TABLE, [], { chunkRows: 10_000 });
      expect(chunks.length).toBeGreaterThanOrEqual(10);
      const counts: number[] = [];
      for (const chunk of chunks) {
        const { rows } = await c.query<{ n: number }>(
          `select count(*)::int as n from only public.skewed where ${chunk.predicate ?? "true"}`,
        );
        counts.push(rows[0]!.n);
      }
      // Every row in exactly one chunk, and no chunk far above its share.
      expect(counts.reduce((a, b) => a + b, 0)).toBe(200000);
      expect(Math.max(...counts)).toBeLessThanOrEqual((3 * 200000) / chunks.length);
    } finally {
      await c.end();
    }
  });
});
