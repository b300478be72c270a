import type pg from "pg";
import { SQLSTATE } from "../db/index.js";
import { ident, literal } from "../db/quote.js";
import { PgferryError } from "../errors/index.js";
import { onSide, sqlState } from "./sessions.js";
import { applySql, presentColumn, regclassOf, replaceInOneSql, stagingName } from "./sql.js";
import { tableName } from "./table-state.js";
import type { StreamTable } from "./types.js";

/**
 * Moving one reverse round's staged rows into the source, inside the round's transaction.
 * `sorted` is parents first: upserts go parents first and deletes children first, because the
 * source keeps its foreign keys (and an upsert never deletes a row a child still needs).
 *
 * One statement per table is the fast path. It fails when a non-key unique value moved between
 * rows of the round: row A takes the email row C gave up (or freed by deleting C), and A comes
 * first. The source then still holds C's old value, which the target no longer has. The slow
 * path applies such rows one at a time, retrying those that conflict after the others, until
 * all are in; rows that exchanged values (a cycle no order resolves) are replaced in one
 * statement. Every pass moves at least one row or ends, so it cannot loop forever.
 */

/** What another row of the same round can be in the way of: unique, exclusion, foreign key. */
const CONFLICTS = new Set<string>([
  SQLSTATE.uniqueViolation,
  SQLSTATE.exclusionViolation,
  SQLSTATE.foreignKeyViolation,
]);

/** Staged rows not applied yet, by their ctid in the staging table. */
interface Pending {
  upserts: string[];
  deletes: string[];
}

export async function applyRound(app: pg.Client, sorted: StreamTable[]): Promise<void> {
  try {
    await inSavepoint(app, async () => {
      for (const t of sorted) await onSide("source", () => app.query(applySql(t, "upsert")[0]!));
      for (const t of [...sorted].reverse())
        await onSide("source", () => app.query(applySql(t, "upsert")[1]!));
    });
  } catch (err) {
    if (!CONFLICTS.has(sqlState(err) ?? "")) throw err;
    await applyRowByRow(app, sorted, err);
  }
}

async function applyRowByRow(app: pg.Client, sorted: StreamTable[], first: unknown): Promise<void> {
  const pending = new Map<number, Pending>();
  for (const t of sorted) pending.set(t.id, await stagedRows(app, t));
  const conflicts = new Map<number, unknown>();
  for (;;) {
    await passes(app, sorted, pending, conflicts);
    const left = sorted.filter(
      (t) => pending.get(t.id)!.upserts.length + pending.get(t.id)!.deletes.length > 0,
    );
    if (left.length === 0) return;
    // Rows still in each other's way (values swapped): one table's are replaced at once, parents
    // first; a table that cannot be yet (a child still points at a row it deletes) waits.
    let refusal: PgferryError | undefined;
    for (const t of left) {
      refusal = await replaceRows(app, t, pending.get(t.id)!, conflicts.get(t.id) ?? first);
      if (refusal === undefined) break;
    }
    if (refusal !== undefined) throw refusal;
  }
}

/** Row by row, upserts parents first and deletes children first, while any row goes in. */
async function passes(
  app: pg.Client,
  sorted: StreamTable[],
  pending: Map<number, Pending>,
  conflicts: Map<number, unknown>,
): Promise<void> {
  for (let progress = 1; progress > 0; ) {
    progress = 0;
    const steps = [
      ...sorted.map((t) => ({ t, rows: pending.get(t.id)!.upserts, which: 0 as const })),
      ...[...sorted].reverse().map((t) => ({ t, rows: pending.get(t.id)!.deletes, which: 1 as const })),
    ];
    for (const { t, rows, which } of steps) {
      const r = await tryRows(app, t, rows, which);
      progress += r.applied;
      if (r.conflict !== undefined) conflicts.set(t.id, r.conflict);
    }
  }
}

/** The ctids of the staged rows to upsert (present) and to delete (absent). */
async function stagedRows(app: pg.Client, t: StreamTable): Promise<Pending> {
  const { rows } = await onSide("source", () =>
    app.query<{ ctid: string; present: boolean }>(
      `select ctid::text as ctid, ${ident(presentColumn(t))} as present from pg_temp.${ident(stagingName(t))}`,
    ),
  );
  return {
    upserts: rows.filter((r) => r.present).map((r) => r.ctid),
    deletes: rows.filter((r) => !r.present).map((r) => r.ctid),
  };
}

function ctidIn(ctids: string[]): string {
  return `s.ctid = any (${literal(`{${ctids.map((c) => `"${c}"`).join(",")}}`)}::tid[])`;
}

/**
 * Applies what it can of `rows` (statement `which` of the upsert pair): all at once, else one
 * by one. Removes the rows applied from the list; returns how many, and a conflict met.
 */
async function tryRows(
  app: pg.Client,
  t: StreamTable,
  rows: string[],
  which: 0 | 1,
): Promise<{ applied: number; conflict?: unknown }> {
  if (rows.length === 0) return { applied: 0 };
  let conflict = await tryStatement(app, applySql(t, "upsert", ctidIn(rows))[which]!);
  if (conflict === undefined) return { applied: rows.splice(0).length };
  if (rows.length === 1) return { applied: 0, conflict };
  const kept: string[] = [];
  for (const ctid of rows) {
    const c = await tryStatement(app, applySql(t, "upsert", ctidIn([ctid]))[which]!);
    if (c !== undefined) {
      kept.push(ctid);
      conflict = c;
    }
  }
  const applied = rows.length - kept.length;
  rows.splice(0, rows.length, ...kept);
  return { applied, conflict };
}

/** Runs sql in a savepoint; a conflict is rolled back and returned, anything else thrown. */
async function tryStatement(app: pg.Client, sql: string): Promise<unknown> {
  try {
    await inSavepoint(app, () => onSide("source", () => app.query(sql)));
    return undefined;
  } catch (err) {
    if (!CONFLICTS.has(sqlState(err) ?? "")) throw err;
    return err;
  }
}

async function inSavepoint<T>(app: pg.Client, fn: () => Promise<T>): Promise<T> {
  await onSide("source", () => app.query("savepoint pgferry_apply"));
  try {
    const out = await fn();
    await onSide("source", () => app.query("release savepoint pgferry_apply"));
    return out;
  } catch (err) {
    await onSide("source", () =>
      app.query("rollback to savepoint pgferry_apply; release savepoint pgferry_apply"),
    );
    throw err;
  }
}

/**
 * Deletes and re-inserts the rows left in one statement; returns why it could not (the
 * statement rolled back), or undefined once they are in. A foreign key whose ON DELETE action
 * cascades, sets null or a default would act on the children of the deleted rows, even though
 * they come back at once: such a table is refused with what to do instead.
 */
async function replaceRows(
  app: pg.Client,
  t: StreamTable,
  left: Pending,
  conflict: unknown,
): Promise<PgferryError | undefined> {
  const { rows: acting } = await onSide("source", () =>
    app.query<{ name: string; child: string }>(
      `select k.conname as name, k.conrelid::regclass::text as child from pg_constraint k
        where k.contype = 'f' and k.confrelid = ${regclassOf(t)} and k.confdeltype not in ('a', 'r')
        order by 1`,
    ),
  );
  const what = (conflict as Error)?.message ?? String(conflict);
  if (acting.length > 0) {
    return new PgferryError(
      "STREAM_FAILED",
      `Rows of ${tableName(t)} exchanged unique values on the target (${what}); applying that to the source means replacing them, and foreign key ${acting[0]!.name} of ${acting[0]!.child} would then delete or change their children (ON DELETE action).`,
      {
        side: "source",
        cause: conflict,
        hint: "On the source, in a session that first runs `select set_config('pgferry.apply', value, false) from pgferry.meta where key = 'migration'` (the fence then lets it write), give one of the rows named a temporary unique value in that column (the target's value overwrites it), then run again.",
      },
    );
  }
  const ctids = [...left.upserts, ...left.deletes];
  const err = await tryStatement(app, replaceInOneSql(t, ctidIn(ctids)));
  if (err !== undefined) {
    return new PgferryError(
      "STREAM_FAILED",
      `The source refused the target's rows of ${tableName(t)}: ${(err as Error).message}. Does the source table have a constraint the target lacks?`,
      { side: "source", cause: err },
    );
  }
  left.upserts.length = 0;
  left.deletes.length = 0;
  return undefined;
}
