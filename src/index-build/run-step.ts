import type pg from "pg";
import {
  driverFields,
  fromDriverError,
  isTransient,
  qualified,
  SQLSTATE,
  sqlState,
  withTransaction,
} from "../db/index.js";
import { PgferryError, redact } from "../errors/index.js";
import { splitStatements as splitSql } from "../schema/sql-lexer.js";
import { deferToCutover, markPostDataDone } from "../state/index.js";
import { type BuildItem, type BuildStep, relationOf } from "./items.js";

export type StepOutcome = "built" | "reused" | "deferred";

const FIND_INDEX = `
select x.indisvalid as valid, x.indrelid = to_regclass($3) as same_table, pg_catalog.pg_get_indexdef(c.oid) as def,
       exists (select 1 from pg_catalog.pg_constraint k
                where k.conindid = c.oid and k.conrelid = x.indrelid and k.contype in ('p', 'u', 'x')) as constrained
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  join pg_catalog.pg_index x on x.indexrelid = c.oid
 where n.nspname = $1 and c.relname = $2`;

/** A row of FIND_INDEX (same_table: null when the relation does not exist). */
interface FoundIndexRow {
  valid: boolean;
  same_table: boolean | null;
  def: string;
  constrained: boolean;
}

const HAS_CONSTRAINT =
  "select 1 from pg_catalog.pg_constraint where conrelid = to_regclass($1) and conname = $2";

const IS_ATTACHED = `
select 1 from pg_catalog.pg_inherits i
  join pg_catalog.pg_class c on c.oid = i.inhrelid join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where n.nspname = $1 and c.relname = $2`;

/** Whitespace-insensitive form of one statement, for comparing a definition with pg_get_indexdef. */
export function normalizeDef(sql: string): string {
  return sql.replace(/;\s*$/, "").replace(/\s+/g, " ").trim();
}

/** What a build step should do about an index of the same name left by an earlier, crashed run. */
export type Leftover = "none" | "reuse" | "drop";

/**
 * A transactional CREATE INDEX never leaves half an index, but a key's index is committed
 * before its constraint is attached, and someone may have built things by hand. An index of
 * the same name, valid, on the same table and with the same definition is kept; anything
 * else by that name is dropped and rebuilt.
 */
export async function findLeftover(client: pg.ClientBase, step: BuildStep): Promise<Leftover> {
  const { item } = step;
  const { rows } = await client.query<FoundIndexRow>(FIND_INDEX, [
    item.relationSchema,
    item.name,
    relationOf(item),
  ]);
  const found = rows[0];
  if (!found) return "none";
  const expected = step.mode === "key-index" ? item.indexStatement! : splitSql(item.statement)[0]!;
  if (found.valid && found.same_table && normalizeDef(found.def) === normalizeDef(expected)) return "reuse";
  if (found.constrained) {
    throw new PgferryError(
      "INDEX_BUILD_FAILED",
      `The target already has an index ${item.relationSchema}.${item.name} backing a constraint, and it differs from the source's: ${found.def}`,
      { side: "target", hint: "Drop that constraint on the target, then run start again." },
    );
  }
  return "drop";
}

export async function dropLeftover(client: pg.ClientBase, item: BuildItem): Promise<void> {
  await client.query(`drop index if exists ${qualified(item.relationSchema ?? "", item.name)}`);
}

/** Marks an index whose leftover was kept as done (running the entry's follow-ups, e.g. CLUSTER ON). */
export async function reuseIndex(client: pg.ClientBase, step: BuildStep): Promise<void> {
  await withTransaction(client, async () => {
    if (step.mode === "index") for (const s of splitSql(step.item.statement).slice(1)) await client.query(s);
    if (step.mode === "index") await markPostDataDone(client, step.item.id);
  });
}

/** One index build: the index and its done-mark in one transaction. */
export async function runBuild(client: pg.ClientBase, step: BuildStep, table: string): Promise<StepOutcome> {
  const { item } = step;
  try {
    await withTransaction(client, async () => {
      await client.query(step.mode === "key-index" ? item.indexStatement! : item.statement);
      if (step.mode === "index") await markPostDataDone(client, item.id);
    });
    return "built";
  } catch (err) {
    // The server names the index being built; a name clash in the catalog names another.
    const e = driverFields(err);
    if (e.code === SQLSTATE.uniqueViolation && e.constraint === item.name && deferrable(item)) {
      await withTransaction(client, () => deferToCutover(client, item.id));
      return "deferred";
    }
    throw buildError(err, item, table);
  }
}

/**
 * A unique index other than the primary key may fail on duplicates that are real on the
 * target only for now: chunks are copied at different moments, so a value can move between
 * two rows that were copied at different times. The stream resolves that, so the item waits
 * for cutover. A primary key cannot (each key lies in exactly one chunk): that is an error.
 */
function deferrable(item: BuildItem): boolean {
  return item.kind === "unique" || (item.kind === "index" && /^CREATE UNIQUE INDEX\b/i.test(item.statement));
}

/** A finishing step: the catalog change and its done-mark in one transaction. */
export async function runFinish(
  client: pg.ClientBase,
  step: BuildStep,
  table: string,
  deferred: ReadonlySet<string>,
): Promise<StepOutcome> {
  const { item } = step;
  if (deferred.has(item.name) && (step.mode === "key-attach" || item.dumpType === "INDEX ATTACH")) {
    if (step.mode === "statement") await withTransaction(client, () => deferToCutover(client, item.id));
    return "deferred";
  }
  try {
    let outcome: StepOutcome = "built";
    await withTransaction(client, async () => {
      if (await alreadyThere(client, step)) outcome = "reused";
      else await client.query(step.mode === "key-attach" ? item.constraintStatement! : item.statement);
      await markPostDataDone(client, item.id);
    });
    return outcome;
  } catch (err) {
    throw buildError(err, item, table);
  }
}

async function alreadyThere(client: pg.ClientBase, step: BuildStep): Promise<boolean> {
  const { item } = step;
  if (step.mode === "key-attach" || item.dumpType === "CONSTRAINT") {
    return ((await client.query(HAS_CONSTRAINT, [relationOf(item), item.name])).rowCount ?? 0) > 0;
  }
  if (item.dumpType === "INDEX ATTACH") {
    return ((await client.query(IS_ATTACHED, [item.relationSchema, item.name])).rowCount ?? 0) > 0;
  }
  if (item.dumpType === "INDEX") {
    return (
      ((await client.query(FIND_INDEX, [item.relationSchema, item.name, relationOf(item)])).rowCount ?? 0) > 0
    );
  }
  return false;
}

function buildError(err: unknown, item: BuildItem, table: string): unknown {
  if (isTransient(err) || err instanceof PgferryError) return err;
  const code = sqlState(err);
  if (code === SQLSTATE.lockNotAvailable) {
    return fromDriverError(err, {
      side: "target",
      what: `Could not lock ${table} on the target to build ${item.name}`,
      hints: {
        LOCK_TIMEOUT:
          "Another session holds a lock on the table on the target; end it, then run start again.",
      },
    });
  }
  const detail = redact(driverFields(err).message ?? String(err));
  const excerpt = item.statement.length > 300 ? `${item.statement.slice(0, 300)}…` : item.statement;
  const hint =
    code === SQLSTATE.uniqueViolation && item.kind === "primary_key"
      ? "The copied rows hold duplicate primary keys, which a correct copy never produces: run `pgferry verify` and report it."
      : undefined;
  return new PgferryError(
    "INDEX_BUILD_FAILED",
    `Building ${item.kind.replace("_", " ")} ${item.name} on ${table} failed: ${detail}\n${excerpt}`,
    { side: "target", cause: err, ...(hint ? { hint } : {}) },
  );
}
