import type pg from "pg";
import { assertCaptureOwner } from "../capture/index.js";
import { exactPattern, parseExactName } from "../catalog/index.js";
import type { MigrationContext } from "../context.js";
import { connect } from "../db/index.js";
import { PgferryError } from "../errors/index.js";
import {
  assertSameSource,
  ensureControlSchema,
  hasMigration,
  mergeMigrationOptions,
  readMigration,
} from "../state/index.js";

/** Migration phases during which tables may join or leave: after prepare, before the cutover. */
export const OPEN_PHASES = ["copying", "indexing", "streaming"];

/** `pgferry tables` commands exclude each other: held as long as the target session lives. */
const TABLES_LOCK = "select pg_advisory_lock(hashtext('pgferry:tables'))";

export interface TablesSessions {
  target: pg.Client;
  source: pg.Client;
  token: string;
  phase: string;
  options: Record<string, unknown>;
}

export function assertOpenPhase(phase: string): void {
  if (OPEN_PHASES.includes(phase)) return;
  const why =
    phase === "preparing"
      ? "it is still being prepared: run `pgferry start` until it copies"
      : phase === "cutover"
        ? "a cutover is under way"
        : `it is ${phase}`;
  throw new PgferryError(
    "TABLES_FROZEN",
    `Tables cannot be added to or removed from this migration: ${why}.`,
    {
      side: "target",
    },
  );
}

/**
 * Both sessions, after the checks every `tables` command needs: a migration in an open phase,
 * the source it copies, and a capture that is this migration's.
 */
export async function openTables(ctx: MigrationContext): Promise<TablesSessions> {
  const target = await connect(ctx.target, { stage: "tables" });
  let source: pg.Client | undefined;
  try {
    if (!(await hasMigration(target))) {
      throw new PgferryError("NOT_PREPARED", "There is no migration on this target.", { side: "target" });
    }
    await ensureControlSchema(target);
    await target.query(TABLES_LOCK);
    const m = (await readMigration(target))!;
    assertOpenPhase(m.phase);
    source = await connect(ctx.source, { stage: "tables", statementTimeoutMs: 5 * 60_000 });
    await assertSameSource(source, ctx.source, m.source_identity);
    await assertCaptureOwner(source, m.token, "source");
    return { target, source, token: m.token, phase: m.phase, options: m.options ?? {} };
  } catch (err) {
    await Promise.all([target.end().catch(() => {}), source?.end().catch(() => {})]);
    throw err;
  }
}

export async function closeTables(s: TablesSessions): Promise<void> {
  await Promise.all([s.target.end().catch(() => {}), s.source.end().catch(() => {})]);
}

/**
 * "schema.table" as given on the command line, double quotes around a part that holds a dot
 * or a quote (`public."has.dot"`, as `--exclude` patterns and the printed fixes write it); a bare name or a
 * wildcard is refused (exit 2).
 */
export function parseTableName(
  name: string,
  code: "TABLE_NOT_MIGRATED" | "TABLE_NOT_FOUND",
): { schema: string; name: string } {
  const parsed = parseExactName(name);
  if (parsed) return parsed;
  throw new PgferryError(code, `Not a schema.table name: ${JSON.stringify(name)}.`, {
    side: "local",
    hint: 'Name one table as schema.table, e.g. public.orders; double-quote a part that holds a dot or a quote: public."has.dot".',
  });
}

/** A table's one spelling in the maps and the stored exclude list of the `tables` commands. */
export function tableKey(t: { schema: string; name: string }): string {
  return exactPattern(t.schema, t.name);
}

/** The tableKey of the one table a stored pattern names exactly; null for a wildcard pattern. */
export function exactKey(pattern: string): string | null {
  const t = parseExactName(pattern);
  return t ? tableKey(t) : null;
}

/** Locks the migration row in the caller's transaction and checks the phase again under it. */
export async function lockOpenMigration(target: pg.ClientBase): Promise<Record<string, unknown>> {
  const m = await readMigration(target, { lock: true });
  assertOpenPhase(m?.phase ?? "cleaned");
  return m?.options ?? {};
}

/**
 * migration.options with its exclude list changed: `tables remove` adds, `tables add` takes
 * out. Both name tables by `tableKey`, which is a pattern matching exactly that table.
 */
export async function storeExclude(
  target: pg.ClientBase,
  options: Record<string, unknown>,
  change: { add?: readonly string[]; drop?: readonly string[] },
): Promise<void> {
  const current = Array.isArray(options["exclude"]) ? (options["exclude"] as unknown[]).map(String) : [];
  // Compared as the table each pattern names exactly: `public.t` and `"public"."t"` are one.
  const drop = new Set(change.drop ?? []);
  const next = current.filter((p) => !drop.has(exactKey(p) ?? ""));
  const have = new Set(next.map(exactKey));
  for (const key of change.add ?? []) {
    if (have.has(key)) continue;
    next.push(key);
    have.add(key);
  }
  await mergeMigrationOptions(target, { exclude: next.length > 0 ? next : null });
}
