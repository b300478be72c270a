import type pg from "pg";
import { driverFields, ident, SQLSTATE, sqlState } from "../db/index.js";
import { PgferryError, redact } from "../errors/index.js";
import { type DumpEntry, splitDump } from "./dump-text.js";
import { FUNCTION_DEFS_SQL, functionKey } from "./functions.js";
import { type HintContext, type RefusedObject, schemaErrorHint } from "./hints.js";
import { splitStatements } from "./sql-lexer.js";
import { type PostDataItem, relationKey, type SchemaDump } from "./types.js";

/** One statement of the schema the target refused, as a rehearsal reports it. */
export interface SchemaFailure {
  /** "FUNCTION public.f()", "EXTENSION pgcrypto", "FK CONSTRAINT public.orders orders_fk", … */
  what: string;
  /** pg_dump's entry type (FUNCTION, TABLE, …; EXTENSION for an extension). */
  type: string;
  /** SQLSTATE of the refusal (undefined when the driver gave none). */
  sqlstate: string | undefined;
  /** The server's message, passwords scrubbed. */
  message: string;
  /** The entry it came from, for a hint that depends on it. */
  object?: RefusedObject | undefined;
  /** The statement(s), without pg_dump's session SETs. */
  sql: string;
}

export interface ApplyOptions {
  /**
   * Rehearsal: each entry runs inside a savepoint and a refusal is passed here instead of
   * thrown, so one refusal does not hide the next. The caller rolls the transaction back.
   */
  onFailure?: (failure: SchemaFailure) => void;
  /** An entry left out because the target already has the identical object (an administrator created it). */
  onExisting?: (what: string) => void;
}

/**
 * Applies extensions, then the pre-data DDL, inside the caller's open transaction (so a
 * failure leaves nothing behind once the caller rolls back). Each dump entry runs as its own
 * query so an error can name the object. Afterwards every setting the dump changed (the
 * empty search_path above all) is reset to the session's own value.
 *
 * A function the target already has with the definition the source has is not created again:
 * the fix for a function only an administrator may create (C language, a SET of a superuser
 * parameter) is that the administrator creates it first (issue 12).
 */
export async function applyPreData(
  target: pg.ClientBase,
  dump: SchemaDump,
  opts: ApplyOptions = {},
): Promise<void> {
  const who = (
    await target.query<{ role: string; num: number }>(
      "select current_user as role, current_setting('server_version_num')::int as num",
    )
  ).rows[0]!;
  const hints: HintContext = {
    role: who.role,
    targetMajor: Math.floor(who.num / 10000),
    ...(dump.pgDump ? { pgDumpMajor: Number.parseInt(dump.pgDump.version, 10) } : {}),
  };
  const run = runner(target, opts, hints);
  for (const ext of dump.extensions)
    await run(`EXTENSION ${ext.name}`, "EXTENSION", "", () => createExtension(target, ext));
  const { preamble, entries } = splitDump(dump.preData);
  const changed = new Set(await runPreamble(target, preamble));
  const existing = await existingFunctions(target, dump);
  const leftOut = new Set<string>();
  for (const entry of entries) {
    const statements = splitStatements(entry.sql);
    if (statements.length === 0) continue;
    // pg_dump also sets default_tablespace / default_table_access_method between entries.
    for (const s of statements) {
      const set = /^SET\s+(\w+)/i.exec(s);
      if (set) changed.add(set[1]!.toLowerCase());
    }
    const what = `${entry.type} ${entry.schema ? `${entry.schema}.` : ""}${entry.tag}`;
    if (isFunction(entry) && existing.size > 0) {
      const key = functionKey(entry.schema, entry.tag);
      const theirs = existing.get(key);
      if (theirs !== undefined && theirs === dump.functions?.[key]) {
        leftOut.add(`${entry.type} ${entry.tag}`);
        opts.onExisting?.(what);
        continue;
      }
    }
    // COMMENT ON FUNCTION of a function the administrator created: only its owner may comment it.
    if (entry.type === "COMMENT" && leftOut.has(entry.tag)) continue;
    await run(what, entry.type, entry.sql, () => target.query(entry.sql), {
      type: entry.type,
      name: entry.schema ? `${entry.schema}.${entry.tag}` : entry.tag,
    });
  }
  for (const name of changed) await target.query(`reset ${ident(name)}`);
}

/**
 * Rehearsal of the post-data on the (still empty) tables, after applyPreData in the same
 * transaction, in the order pgferry builds it: the index stage's builds (keys of plain tables
 * as CREATE UNIQUE INDEX, plain indexes), then its finishing statements (USING INDEX attaches,
 * keys of partitioned tables as dumped, index attaches, …), then what the cutover builds; each
 * in a savepoint. Mirrors index-build's planBuild: only plain tables take the USING INDEX route
 * (PostgreSQL refuses it on partitioned tables).
 */
export async function rehearsePostData(
  target: pg.ClientBase,
  items: readonly PostDataItem[],
  onFailure: (failure: SchemaFailure) => void,
): Promise<void> {
  const run = runner(target, { onFailure }, {});
  const kinds = await relationKinds(target, items);
  const builds: { item: PostDataItem; sql: string }[] = [];
  const finish: { item: PostDataItem; sql: string }[] = [];
  for (const item of items.filter((i) => i.stage === "index")) {
    const plain = item.relation ? kinds.get(relationKey(item.relation)) === "r" : false;
    const key = item.kind === "primary_key" || item.kind === "unique";
    if (plain && key && item.indexStatement && item.constraintStatement) {
      builds.push({ item, sql: item.indexStatement });
      finish.push({ item, sql: item.constraintStatement });
    } else if (plain && item.dumpType === "INDEX") builds.push({ item, sql: item.statement });
    else finish.push({ item, sql: item.statement });
  }
  const cutover = items.filter((i) => i.stage === "cutover").map((item) => ({ item, sql: item.statement }));
  for (const { item, sql } of [...builds, ...finish, ...cutover]) {
    const where = item.relation ? ` on ${item.relation.schema}.${item.relation.name}` : "";
    const what = `${item.dumpType ?? item.kind} ${item.schema ? `${item.schema}.` : ""}${item.name}${where}`;
    await run(what, item.dumpType ?? item.kind, sql, () => target.query(sql));
  }
}

/** relkind of each relation the items act on, by "schema.name". */
async function relationKinds(
  target: pg.ClientBase,
  items: readonly PostDataItem[],
): Promise<Map<string, string>> {
  const rels = [
    ...new Map(items.flatMap((i) => (i.relation ? [[relationKey(i.relation), i.relation]] : []))).values(),
  ];
  if (rels.length === 0) return new Map();
  const { rows } = await target.query<{ key: string; relkind: string }>(
    // By catalog names, not to_regclass: that raises on a schema the role may not use, and a
    // rehearsal reports such refusals rather than failing on them.
    `select u.key, c.relkind from unnest($1::text[], $2::text[], $3::text[]) as u(key, schema, name)
       join pg_catalog.pg_namespace n on n.nspname = u.schema
       join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = u.name`,
    [rels.map(relationKey), rels.map((r) => r.schema), rels.map((r) => r.name)],
  );
  return new Map(rows.map((r) => [r.key, r.relkind]));
}

function isFunction(entry: DumpEntry): boolean {
  return entry.type === "FUNCTION" || entry.type === "PROCEDURE";
}

/** The target's functions that the dump also defines, by pg_dump's tag, with their definitions. */
async function existingFunctions(target: pg.ClientBase, dump: SchemaDump): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!dump.functions || Object.keys(dump.functions).length === 0) return out;
  // The preamble has set search_path to '' (pg_dump's own): names come out qualified, as on the source.
  for (const r of (await target.query<{ key: string; def: string }>(FUNCTION_DEFS_SQL)).rows) {
    if (r.key in dump.functions) out.set(r.key, r.def);
  }
  return out;
}

/** Runs one step: throws a SCHEMA_APPLY_FAILED at the first refusal, or, rehearsing, reports it and goes on. */
function runner(target: pg.ClientBase, opts: ApplyOptions, hints: HintContext) {
  let n = 0;
  return async (
    what: string,
    type: string,
    sql: string,
    step: () => Promise<unknown>,
    object?: RefusedObject,
  ): Promise<void> => {
    if (!opts.onFailure) {
      try {
        await step();
      } catch (err) {
        throw type === "EXTENSION" ? err : applyError(err, what, sql, hints, object);
      }
      return;
    }
    const savepoint = `pgferry_rehearse_${++n}`;
    await target.query(`savepoint ${savepoint}`);
    try {
      await step();
      await target.query(`release savepoint ${savepoint}`);
    } catch (err) {
      await target.query(`rollback to savepoint ${savepoint}`);
      // An extension's refusal comes wrapped; the server's own error is its cause.
      const e = err instanceof PgferryError && err.cause ? err.cause : err;
      opts.onFailure({
        what,
        type,
        sqlstate: sqlState(e),
        message: redact(driverFields(e).message ?? String(err)),
        sql: withoutSessionSets(sql),
        object,
      });
    }
  };
}

/** The statement as a person would run it: pg_dump's interleaved SET default_… lines left out. */
function withoutSessionSets(sql: string): string {
  return splitStatements(sql)
    .filter((s) => !/^SET\s/i.test(s))
    .map((s) => `${s};`)
    .join("\n");
}

function excerpt(sql: string): string {
  return sql.length > 400 ? `${sql.slice(0, 400)}…` : sql;
}

/**
 * The SETs at the top of the dump. A setting the target does not know (pg_dump 17 sets
 * transaction_timeout, which a 16 target lacks) is skipped rather than fatal.
 */
async function runPreamble(target: pg.ClientBase, preamble: string): Promise<string[]> {
  const changed: string[] = [];
  for (const stmt of splitStatements(preamble)) {
    const set = /^SET\s+(\w+)\s*=/i.exec(stmt) ?? /set_config\('(\w+)'/i.exec(stmt);
    if (set) {
      const name = set[1]!.toLowerCase();
      const known = await target.query("select 1 from pg_catalog.pg_settings where name = $1", [name]);
      if (known.rowCount === 0) continue;
      changed.push(name);
    }
    await target.query(stmt);
  }
  return changed;
}

async function createExtension(target: pg.ClientBase, ext: { name: string; schema: string }): Promise<void> {
  const { rows } = await target.query<{ schema: string }>(
    "select n.nspname as schema from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace where e.extname = $1",
    [ext.name],
  );
  if (rows[0]) {
    if (rows[0].schema === ext.schema) return;
    throw new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `Extension "${ext.name}" is installed on the target in schema "${rows[0].schema}", but the source has it in "${ext.schema}" and the schema refers to it there.`,
      {
        side: "target",
        hint: `Move it on the target: ALTER EXTENSION ${ident(ext.name)} SET SCHEMA ${ident(ext.schema)} (create the schema first), then run start again.`,
      },
    );
  }
  try {
    if (ext.schema !== "pg_catalog") await target.query(`create schema if not exists ${ident(ext.schema)}`);
    await target.query(`create extension if not exists ${ident(ext.name)} with schema ${ident(ext.schema)}`);
  } catch (err) {
    throw extensionError(err, ext);
  }
}

function extensionError(err: unknown, ext: { name: string; schema: string }): PgferryError {
  const e = driverFields(err);
  const create = `CREATE EXTENSION IF NOT EXISTS ${ident(ext.name)} WITH SCHEMA ${ident(ext.schema)}`;
  const detail = redact(e.message ?? String(err));
  if (e.code === SQLSTATE.insufficientPrivilege) {
    return new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `The target role may not create extension "${ext.name}" (${detail}).`,
      {
        side: "target",
        cause: err,
        hint: `Have an administrator run \`${create};\` on the target database (on RDS/Aurora as a member of rds_superuser, with the extension in rds.allowed_extensions), then run start again.`,
      },
    );
  }
  if (
    e.code === SQLSTATE.undefinedFile ||
    e.code === SQLSTATE.featureNotSupported ||
    e.code === SQLSTATE.invalidParameterValue
  ) {
    return new PgferryError(
      "SCHEMA_APPLY_FAILED",
      `Extension "${ext.name}" is not available on the target server (${detail}).`,
      {
        side: "target",
        cause: err,
        hint: `Install or allow the extension on the target server (a managed service lists the extensions it supports), then run \`${create};\` and start again.`,
      },
    );
  }
  return new PgferryError(
    "SCHEMA_APPLY_FAILED",
    `Creating extension "${ext.name}" on the target failed: ${detail}`,
    {
      side: "target",
      cause: err,
      hint: `Run \`${create};\` on the target as an administrator to see why, fix it, then run start again.`,
    },
  );
}

function applyError(
  err: unknown,
  what: string,
  sql: string,
  hints: HintContext,
  object: RefusedObject | undefined,
): PgferryError {
  const e = driverFields(err);
  const detail = redact(e.message ?? String(err));
  const hint = schemaErrorHint(e.code, detail, hints, object);
  return new PgferryError("SCHEMA_APPLY_FAILED", `The target rejected ${what}: ${detail}\n${excerpt(sql)}`, {
    side: "target",
    cause: err,
    ...(hint ? { hint } : {}),
  });
}
