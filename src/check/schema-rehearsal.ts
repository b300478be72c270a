import type pg from "pg";
import { type ConnInfo, connect, SQLSTATE } from "../db/index.js";
import { isPgferryError } from "../errors/index.js";
import {
  applyPreData,
  dumpSchema,
  type HintContext,
  type PgDumpBinary,
  type RelationName,
  rehearsePostData,
  type SchemaFailure,
  schemaErrorHint,
  schemaFixSql,
} from "../schema/index.js";
import { plural } from "./format.js";
import { type Findings, nameList } from "./types.js";

/** Prepare's lock (src/prepare/index.ts): held while a start applies the schema. */
const TRY_PREPARE_LOCK = "select pg_try_advisory_xact_lock(hashtext('pgferry:prepare')) as ok";

export interface RehearsalInput {
  source: ConnInfo;
  target: ConnInfo;
  pgDump: PgDumpBinary;
  /** What start leaves out of pg_dump: unmatched tables, their partitions, unmatched foreign tables. */
  excluded: RelationName[];
  /**
   * Refusals another finding already explains, as "TYPE schema.name" prefixes of the refused
   * entry (a function using an excluded table's row type: EXCLUDED_TABLE_DEPENDENTS).
   */
  explained?: readonly string[];
  /** Runs on the target with the pre-data applied (what the copy meets), before the post-data. */
  afterPreData?: (target: pg.ClientBase) => Promise<void>;
}

/**
 * Applies the schema `start` would apply (pre-data, then every post-data item on the empty
 * tables) to the target inside one transaction that is always rolled back, each statement in
 * a savepoint so one refusal does not hide the next, and reports every refusal grouped by its
 * cause with the fix (issue 12: check said ready and start then failed on the schema). DDL in
 * an open transaction is invisible to every other session; prepare's advisory lock keeps a
 * start from applying the schema beside it.
 */
export async function rehearseSchema(input: RehearsalInput, findings: Findings): Promise<void> {
  let dump: Awaited<ReturnType<typeof dumpSchema>>;
  try {
    dump = await dumpSchema(input.source, {
      excludeTables: input.excluded,
      pgDump: input.pgDump.path,
      lockWaitTimeoutMs: 5_000,
    });
  } catch (err) {
    if (!isPgferryError(err) || err.code !== "PG_DUMP_FAILED") throw err;
    findings.blocker({
      code: "SCHEMA_DUMP_FAILED",
      side: "source",
      message: err.message,
      fix: "pg_dump must read the whole schema for start to work: fix what it reports (a lock held by a long transaction, a privilege), then run check again.",
    });
    return;
  }
  const target = await connect(input.target, {
    stage: "check",
    statementTimeoutMs: 120_000,
    lockTimeoutMs: 5_000,
  });
  const failures: SchemaFailure[] = [];
  const existing: string[] = [];
  let hints: HintContext = { pgDumpMajor: input.pgDump.major };
  try {
    await target.query("begin");
    if (!(await target.query<{ ok: boolean }>(TRY_PREPARE_LOCK)).rows[0]?.ok) {
      findings.warning({
        code: "SCHEMA_NOT_REHEARSED",
        side: "target",
        message: "A pgferry start is applying the schema on the target right now, so check did not try it.",
        fix: "Run check again once that start has prepared the migration.",
      });
      return;
    }
    hints = { ...hints, ...(await whoIs(target)) };
    await applyPreData(target, dump, {
      onFailure: (f) => failures.push(f),
      onExisting: (w) => existing.push(w),
    });
    await input.afterPreData?.(target);
    await rehearsePostData(target, dump.postData, (f) => failures.push(f));
  } finally {
    await target.query("rollback").catch(() => {});
    await target.end().catch(() => {});
  }
  const explained = input.explained ?? [];
  reportRefusals(
    failures.filter((f) => !explained.some((e) => f.what.startsWith(e))),
    hints,
    findings,
  );
  if (existing.length > 0) {
    findings.note({
      code: "SCHEMA_OBJECTS_EXIST",
      side: "target",
      message: `The target already has, exactly as the source defines them: ${nameList(existing)}. start keeps them and does not create them again.`,
      fix: "Nothing to do.",
    });
  }
}

async function whoIs(target: pg.ClientBase): Promise<HintContext> {
  const r = (
    await target.query<{ role: string; num: number }>(
      "select current_user as role, current_setting('server_version_num')::int as num",
    )
  ).rows[0]!;
  return { role: r.role, targetMajor: Math.floor(r.num / 10000) };
}

/** The finding code of a refusal, by SQLSTATE class. */
type RefusalCode =
  | "SCHEMA_NEEDS_PRIVILEGE"
  | "SCHEMA_SYNTAX_REJECTED"
  | "SCHEMA_MISSING_DEPENDENCY"
  | "SCHEMA_REJECTED";

function codeOf(sqlstate: string | undefined): RefusalCode {
  if (sqlstate === SQLSTATE.insufficientPrivilege) return "SCHEMA_NEEDS_PRIVILEGE";
  if (sqlstate === SQLSTATE.syntaxError) return "SCHEMA_SYNTAX_REJECTED";
  if (
    sqlstate === SQLSTATE.undefinedObject ||
    sqlstate === SQLSTATE.undefinedFunction ||
    sqlstate === SQLSTATE.undefinedTable ||
    sqlstate === SQLSTATE.invalidSchemaName
  )
    return "SCHEMA_MISSING_DEPENDENCY";
  return "SCHEMA_REJECTED";
}

const GROUP_TITLE: Record<RefusalCode, string> = {
  SCHEMA_NEEDS_PRIVILEGE: "needs a privilege the target role lacks",
  SCHEMA_SYNTAX_REJECTED: "is a syntax error for the target's PostgreSQL as pg_dump printed it",
  SCHEMA_MISSING_DEPENDENCY: "refers to something the target lacks",
  SCHEMA_REJECTED: "is refused by the target",
};

/** One blocker per cause (same code and same fix), naming each statement and the server's reason. */
function reportRefusals(failures: readonly SchemaFailure[], hints: HintContext, findings: Findings): void {
  const groups = new Map<
    string,
    { code: RefusalCode; fix: string; sql: string | undefined; items: SchemaFailure[] }
  >();
  for (const f of failures) {
    // Extensions the target cannot create are EXTENSION_* findings of their own.
    if (f.type === "EXTENSION") continue;
    const code = codeOf(f.sqlstate);
    const fix =
      schemaErrorHint(f.sqlstate, f.message, hints, f.object) ??
      "Run the statement shown on the target to see why it is refused, change the object on the source or create it on the target as an administrator, then run check again.";
    const key = `${code}\n${fix}`;
    const g = groups.get(key) ?? { code, fix, sql: schemaFixSql(f.sqlstate, f.message, hints), items: [] };
    g.items.push(f);
    groups.set(key, g);
  }
  const cascade = groups.size > 1 ? " (some may only follow from another refusal listed)" : "";
  for (const g of groups.values()) {
    const list = g.items.map((f) => `${f.what}: ${f.message}`);
    // Only functions: start keeps one the target has identically; any other object it creates again.
    const adminCreates =
      g.code === "SCHEMA_NEEDS_PRIVILEGE" &&
      /administrator create/.test(g.fix) &&
      g.items.every((f) => f.type === "FUNCTION" || f.type === "PROCEDURE");
    const created = adminCreates ? g.items.map((f) => f.sql).join("\n") : undefined;
    const statements = created ? ` Statements:\n${created}` : "";
    const sql = g.sql ?? created;
    findings.blocker({
      code: g.code,
      side: "target",
      message: `${plural(g.items.length, "statement")} of the source schema ${GROUP_TITLE[g.code]}${g.code === "SCHEMA_MISSING_DEPENDENCY" ? cascade : ""}: ${nameList(list, 20)}.`,
      fix: `${g.fix}${statements}`,
      ...(sql ? { sql: { side: "target" as const, by: "administrator" as const, statements: sql } } : {}),
    });
  }
}
