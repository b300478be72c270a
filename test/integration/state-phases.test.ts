import { describe, expect, it } from "vitest";
import { connect, parseConnUrl } from "../../src/db/index.js";
import { isPgferryError } from "../../src/errors/index.js";
import {
  ensureControlSchema,
  insertMigration,
  insertTableRows,
  MIGRATION_PHASES,
  moveMigration,
  moveTable,
  readMigration,
  readTable,
  TABLE_PHASES,
} from "../../src/state/index.js";
import { testPairs } from "../harness/pairs.js";
import { targetDb } from "../harness/servers.js";

// Issue 10, item 1: phases are a closed set the server holds the columns to, and a phase move
// names where it may start from: anything else changes nothing and fails loudly.

const targets = [...new Set(testPairs().map((p) => p.target))];

const newTable = (id: number) => ({
  id,
  schema_name: "public",
  table_name: `t${id}`,
  kind: "table" as const,
  key_columns: ["id"],
  identity: "key" as const,
  columns: [{ name: "id", type: "integer", generated: false }],
  shape: "s",
  rows_estimate: 0,
  bytes_estimate: 0,
});

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return isPgferryError(err) ? err.code : ((err as { code?: string }).code ?? "no code");
  }
}

describe.each(targets)("control schema phases (PostgreSQL %i target)", (major) => {
  it("moves only from the named phases, skips where told, refuses the rest", async () => {
    const db = await targetDb(major);
    const c = await connect(parseConnUrl(db.url, "target"), { stage: "prepare" });
    try {
      await ensureControlSchema(c);
      await insertMigration(c, { sourceDisplay: "src", sourceIdentity: "{}", options: "{}", token: "t" });
      await insertTableRows(c, [newTable(1)]);

      expect(await moveTable(c, 1, { from: ["pending"], to: "copying" })).toBe(true);
      expect((await readTable(c, 1))?.phase).toBe("copying");
      // A rerun of the same move finds it done: a skip, not an error.
      expect(await moveTable(c, 1, { from: ["pending"], to: "copying", skip: ["copying"] })).toBe(false);
      // An illegal move changes nothing and says so.
      expect(await errorCode(moveTable(c, 1, { from: ["indexed"], to: "streaming" }))).toBe(
        "ILLEGAL_PHASE_MOVE",
      );
      expect((await readTable(c, 1))?.phase).toBe("copying");
      // A table removed meanwhile is no error either (its removal won).
      expect(await moveTable(c, 99, { from: ["pending"], to: "copying" })).toBe(false);

      expect(
        await moveMigration(c, { from: ["preparing"], to: "copying" }, { copy_started_at: "keep-or-now" }),
      ).toBe(true);
      const m = await readMigration(c);
      expect(m?.phase).toBe("copying");
      expect(m?.copy_started_at).toBeInstanceOf(Date);
      expect(await errorCode(moveMigration(c, { from: ["cutover"], to: "switched" }))).toBe(
        "ILLEGAL_PHASE_MOVE",
      );
      expect(await moveMigration(c, { from: ["cutover"], to: "switched", skip: ["copying"] })).toBe(false);
      expect((await readMigration(c))?.phase).toBe("copying");

      // The server refuses a phase outside the lists.
      expect(await errorCode(c.query("update pgferry.tables set phase = 'copyed' where id = 1"))).toBe(
        "23514",
      );
      expect(await errorCode(c.query("update pgferry.migration set phase = 'done'"))).toBe("23514");
    } finally {
      await c.end();
    }
  });

  it("takes the constraints onto an existing control schema whose rows are in every phase", async () => {
    const db = await targetDb(major);
    const c = await connect(parseConnUrl(db.url, "target"), { stage: "prepare" });
    try {
      await ensureControlSchema(c);
      // The control schema of a migration started before 012_phase_checks.sql.
      await c.query(`alter table pgferry.migration drop constraint migration_phase_check;
                     alter table pgferry.tables drop constraint tables_phase_check;
                     delete from pgferry.schema_version where version = 12;`);
      await insertMigration(c, { sourceDisplay: "src", sourceIdentity: "{}", options: "{}", token: "t" });
      await insertTableRows(
        c,
        TABLE_PHASES.map((_, i) => newTable(i + 1)),
      );
      for (const [i, phase] of TABLE_PHASES.entries())
        await c.query("update pgferry.tables set phase = $2 where id = $1", [i + 1, phase]);
      for (const phase of MIGRATION_PHASES) {
        await c.query("update pgferry.migration set phase = $1", [phase]);
      }
      await ensureControlSchema(c);
      const { rows } = await c.query<{ version: number }>(
        "select version from pgferry.schema_version where version = 12",
      );
      expect(rows).toHaveLength(1);
      const phases = await c.query<{ phase: string }>("select phase from pgferry.tables order by id");
      expect(phases.rows.map((r) => r.phase)).toEqual([...TABLE_PHASES]);
      expect(await errorCode(c.query("update pgferry.tables set phase = 'copyed' where id = 1"))).toBe(
        "23514",
      );
      // Every phase the code names is one the server takes.
      for (const phase of MIGRATION_PHASES)
        expect(await errorCode(c.query("update pgferry.migration set phase = $1", [phase]))).toBeUndefined();
    } finally {
      await c.end();
    }
  });
});
