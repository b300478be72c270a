import { connect, parseConnUrl, qualified } from "../src/db/index.js";
import type { LocalDatabase } from "../src/local-server/index.js";
import type { Dataset } from "./dataset.js";

/** Compares exact row counts on the target with the dataset's; returns the mismatches (empty: all there). */
export async function countMismatches(target: LocalDatabase, dataset: Dataset): Promise<string[]> {
  const c = await connect(parseConnUrl(target.url, "target"), { stage: "demo" });
  try {
    const bad: string[] = [];
    for (const t of dataset.tables) {
      const { rows } = await c.query<{ n: string }>(
        `select count(*) as n from ${qualified(t.schema, t.name)}`,
      );
      const n = Number(rows[0]!.n);
      if (n !== t.rows) bad.push(`${t.schema}.${t.name}: ${n} of ${t.rows} rows`);
    }
    return bad;
  } finally {
    await c.end();
  }
}

/** Indexes and constraints on the target's user tables (to tell "data only" from "data + indexes"). */
export async function indexCount(target: LocalDatabase): Promise<number> {
  const c = await connect(parseConnUrl(target.url, "target"), { stage: "demo" });
  try {
    const { rows } = await c.query<{ n: string }>(
      "select count(*) as n from pg_indexes where schemaname = 'public'",
    );
    return Number(rows[0]!.n);
  } finally {
    await c.end();
  }
}
