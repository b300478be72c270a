import { type InstallOptions, installCaptureSchema, installTableCapture } from "../../src/capture/index.js";
import { connect, parseConnUrl } from "../../src/db/index.js";
import type { LocalDatabase } from "../../src/local-server/index.js";

/**
 * The migration a test's capture belongs to (capture/ownership.ts). Tests that also write a
 * migration row on the target give it this token, as prepare would.
 */
export const TEST_OWNER = { token: "pgferry-test-migration-token", label: "the test's target" } as const;

/** A table to capture in a test; its leaf partitions by name, in the table's schema. */
export interface CapturedTable {
  tableId: number;
  schema?: string;
  name: string;
  keyColumns: string[];
  leaves?: string[];
}

/**
 * The capture schema and the given tables' capture on `db`, through installTableCapture as
 * prepare (source) or the rollback window (target) runs it.
 */
export async function installCapture(
  db: Pick<LocalDatabase, "url">,
  tables: readonly CapturedTable[],
  opts: { side?: "source" | "target"; install?: InstallOptions } = {},
): Promise<void> {
  const c = await connect(parseConnUrl(db.url, opts.side ?? "source"), { stage: "prepare" });
  try {
    await installCaptureSchema(c, TEST_OWNER, opts.side ?? "source");
    for (const t of tables) {
      const schema = t.schema ?? "public";
      const { rows } = await c.query<{ name: string; oid: string }>(
        `select c.relname as name, c.oid::int8::text as oid from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and c.relname = any ($2::text[]) order by c.relname`,
        [schema, t.leaves ?? []],
      );
      const leaves = rows.map((r) => ({ schema, name: r.name, oid: Number(r.oid) }));
      await installTableCapture(
        c,
        { tableId: t.tableId, schema, name: t.name, keyColumns: t.keyColumns, leaves },
        opts.install,
      );
    }
  } finally {
    await c.end();
  }
}
